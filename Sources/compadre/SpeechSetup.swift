import AsyncHTTPClient
import Configuration
import Engine
import Foundation
import Logging
import Models

/// The speech engines `serve` uses, from the `stt.*`, `tts.*` and `voice.*` settings (`COMPADRE_STT_…`;
/// see ``Settings``). Each direction is configured on its own: a server may transcribe with one provider
/// and speak with another, or do only one of them. A direction without a provider uses the embedded
/// speech server that `scripts/setup-voice` installs, when it is installed (`voice.engines` `automatic`,
/// the default); `embedded` makes a missing install an error at start-up, `off` turns the embedded
/// server off. Without engines text works and voice requests are refused with a message that says
/// what to set.
struct SpeechSetup {
    enum EmbeddedMode: String {
        case automatic, embedded, off
    }

    struct Endpoint {
        var baseURL: String
        var apiKey: String?
        var model: String
    }

    var speechToText: Endpoint?
    var textToSpeech: Endpoint?
    /// Sentence embeddings (dynamic behaviors' triggers); without it the embedded server's.
    var embeddings: Endpoint?
    var defaultVoice: String?
    var voices: [String: String] = [:]
    var embeddedMode = EmbeddedMode.automatic
    /// The embedded server's Python, script and models (`voice.python`, `voice.server`, `voice.models`).
    var embeddedPaths: (python: String, script: String?, models: String)

    init(_ reader: ConfigReader) throws {
        if let url = reader.text("stt.baseUrl") {
            speechToText = Endpoint(baseURL: url, apiKey: reader.string(forKey: "stt.apiKey", isSecret: true), model: reader.text("stt.model") ?? "whisper-1")
        }
        if let url = reader.text("tts.baseUrl") {
            textToSpeech = Endpoint(baseURL: url, apiKey: reader.string(forKey: "tts.apiKey", isSecret: true), model: reader.text("tts.model") ?? "tts-1")
        }
        if let url = reader.text("embeddings.baseUrl") {
            embeddings = Endpoint(
                baseURL: url, apiKey: reader.string(forKey: "embeddings.apiKey", isSecret: true),
                model: reader.text("embeddings.model") ?? "text-embedding-3-small"
            )
        }
        defaultVoice = reader.text("tts.voice")
        if let raw = reader.text("voice.voices") {
            guard let map = try? JSONDecoder().decode([String: String].self, from: Data(raw.utf8)) else {
                throw SettingError(key: "voice.voices", message: #"must be JSON like {"<voice_id>": "<engine voice>"}"#)
            }
            voices = map
        }
        if let raw = reader.text("voice.engines") {
            guard let mode = EmbeddedMode(rawValue: raw) else {
                throw SettingError(key: "voice.engines", message: "must be automatic, embedded or off, not `\(raw)`")
            }
            embeddedMode = mode
        }
        if let raw = reader.text("voice.vadThreshold") {
            guard let value = Float(raw), value > 0, value < 1 else { throw SettingError(key: "voice.vadThreshold", message: "must be between 0 and 1, not `\(raw)`") }
            turnDetection.threshold = value
        }
        func milliseconds(_ key: String) throws -> Duration? {
            guard let raw = reader.text(key) else { return nil }
            guard let value = Int(raw), value >= 0, value <= 10_000 else { throw SettingError(key: key, message: "must be 0…10000 milliseconds, not `\(raw)`") }
            return .milliseconds(value)
        }
        if let value = try milliseconds("voice.prefixPaddingMs") { turnDetection.prefixPadding = value }
        if let value = try milliseconds("voice.silenceDurationMs") { turnDetection.silenceDuration = value }
        if let value = try milliseconds("voice.minimumSpeechMs") { turnDetection.minimumSpeech = value }
        if let value = try milliseconds("voice.endOfTurnCheckMs") { turnDetection.modelCheckSilence = value }
        if let value = try milliseconds("voice.maximumSilenceMs") { turnDetection.maximumSilence = value }
        if let raw = reader.text("voice.turnDetection") {
            guard let turnEnd = VoiceActivity.TurnEnd(rawValue: raw) else {
                throw SettingError(key: "voice.turnDetection", message: "must be server_vad or semantic_vad, not `\(raw)`")
            }
            turnDetection.turnEnd = turnEnd
        }
        let environment = ProcessInfo.processInfo.environment
        let home = reader.text("home") ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache/compadre")
        embeddedPaths = (
            reader.text("voice.python") ?? home + "/voice-venv/bin/python",
            reader.text("voice.server"),
            reader.text("voice.models") ?? home + "/voice-models"
        )
    }

    /// What the embedded server runs: the directions without a provider, and always turn detection
    /// (no OpenAI-compatible provider offers it).
    var embeddedEngines: [String] {
        // An install from before the VAD model still serves speech in and out.
        let hasVAD = FileManager.default.fileExists(atPath: embeddedPaths.models + "/silero-vad/silero_vad.onnx")
        let hasEmbeddings = embeddings == nil && FileManager.default.fileExists(atPath: embeddedPaths.models + "/all-minilm-l6-v2-int8/model.onnx")
        let hasTurnModel = FileManager.default.fileExists(atPath: embeddedPaths.models + "/smart-turn/smart-turn-v3.2-cpu.onnx")
        return (speechToText == nil ? ["stt"] : []) + (textToSpeech == nil ? ["tts"] : []) + (hasVAD ? ["vad"] : [])
            + (hasVAD && hasTurnModel ? ["turn"] : []) + (hasEmbeddings ? ["embed"] : [])
    }

    /// The server's turn-taking knobs (`voice.vadThreshold`, …).
    var turnDetection = VoiceActivity.Settings()

    /// The embedded speech server, when it is wanted and installed; throws when `voice.engines` is
    /// `embedded` and the install is missing.
    func embeddedServer(port: Int, httpClient: HTTPClient, logger: Logger) throws -> LocalModelServer? {
        guard embeddedMode != .off, !embeddedEngines.isEmpty else { return nil }
        let (python, script, models) = embeddedPaths
        let files = FileManager.default
        guard let script, files.isExecutableFile(atPath: python), files.fileExists(atPath: script),
              files.fileExists(atPath: models + "/.complete")
        else {
            let missing = "the embedded speech server is not installed (looked for voice.python \(python), voice.server \(script ?? "unset"), voice.models \(models)): run `eval \"$(scripts/setup-voice)\"`, or set COMPADRE_STT_BASE_URL / COMPADRE_TTS_BASE_URL"
            if embeddedMode == .embedded { throw SettingError(key: "voice.engines", message: missing) }
            logger.info("voice is off: \(missing)")
            return nil
        }
        return LocalModelServer(
            configuration: .speechServer(python: python, script: script, models: models, engines: embeddedEngines, port: port),
            httpClient: httpClient, logger: logger
        )
    }

    /// The configured engines over `httpClient`; a direction without a provider goes to `embedded`. Throws
    /// when `voice.turnDetection` is `semantic_vad` and there is no end-of-turn model to run it.
    func makeEngines(httpClient: HTTPClient, logger: Logger, embedded: LocalModelServer? = nil) throws -> SpeechEngines {
        func engine(_ endpoint: Endpoint, voice: String? = nil) -> OpenAICompatibleSpeech {
            OpenAICompatibleSpeech(
                configuration: .init(baseURL: endpoint.baseURL, apiKey: endpoint.apiKey, model: endpoint.model, defaultVoice: voice ?? defaultVoice),
                httpClient: httpClient, logger: logger
            )
        }
        let local = embedded.map { Endpoint(baseURL: $0.baseURL, apiKey: nil, model: "embedded") }
        var engines = SpeechEngines(
            speechToText: (speechToText ?? local).map { engine($0) },
            textToSpeech: textToSpeech.map { engine($0) } ?? local.map { engine($0, voice: "joe") },
            voiceActivity: embeddedEngines.contains("vad") ? local.map { engine($0) } : nil,
            endOfTurn: embeddedEngines.contains("turn") ? local.map { engine($0) } : nil,
            encoder: local.map { engine($0) },
            voices: voices
        )
        if turnDetection.turnEnd == .model, engines.endOfTurn == nil {
            throw SettingError(
                key: "voice.turnDetection",
                message: "semantic_vad needs the embedded end-of-turn model (Smart Turn): run `eval \"$(scripts/setup-voice)\"`, or use server_vad"
            )
        }
        engines.turnDetection = turnDetection
        return engines
    }

    /// The embedder of dynamic behaviors' triggers: the configured endpoint, else the embedded server's.
    func makeEmbedder(httpClient: HTTPClient, logger: Logger, embedded: LocalModelServer? = nil) -> (any Embedder)? {
        if let embeddings {
            return OpenAICompatibleEmbedder(
                configuration: .init(baseURL: embeddings.baseURL, apiKey: embeddings.apiKey, model: embeddings.model),
                httpClient: httpClient, logger: logger
            )
        }
        guard let embedded, embeddedEngines.contains("embed") else { return nil }
        return OpenAICompatibleEmbedder(
            configuration: .init(baseURL: embedded.baseURL, model: "all-MiniLM-L6-v2"), httpClient: httpClient, logger: logger
        )
    }

    /// What the log says each direction uses.
    func describe(embedded: LocalModelServer?) -> (speechToText: String, textToSpeech: String) {
        let local = embedded == nil ? "none" : "embedded"
        return (speechToText?.baseURL ?? local, textToSpeech?.baseURL ?? local)
    }
}
