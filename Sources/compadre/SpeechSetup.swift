import AsyncHTTPClient
import Configuration
import Engine
import Foundation
import Logging
import Models

/// The speech engines `serve` uses, from the `stt.*`, `tts.*` and `voice.*` settings (`COMPADRE_STT_…`;
/// see ``Settings``). Each direction is configured on its own: a server may transcribe with one provider
/// and speak with another, or do only one of them; without either, text works and voice requests are
/// refused with a message that says what to set.
struct SpeechSetup {
    struct Endpoint {
        var baseURL: String
        var apiKey: String?
        var model: String
    }

    var speechToText: Endpoint?
    var textToSpeech: Endpoint?
    var defaultVoice: String?
    var voices: [String: String] = [:]

    init(_ reader: ConfigReader) throws {
        if let url = reader.text("stt.baseUrl") {
            speechToText = Endpoint(baseURL: url, apiKey: reader.string(forKey: "stt.apiKey", isSecret: true), model: reader.text("stt.model") ?? "whisper-1")
        }
        if let url = reader.text("tts.baseUrl") {
            textToSpeech = Endpoint(baseURL: url, apiKey: reader.string(forKey: "tts.apiKey", isSecret: true), model: reader.text("tts.model") ?? "tts-1")
        }
        defaultVoice = reader.text("tts.voice")
        if let raw = reader.text("voice.voices") {
            guard let map = try? JSONDecoder().decode([String: String].self, from: Data(raw.utf8)) else {
                throw SettingError(key: "voice.voices", message: #"must be JSON like {"<voice_id>": "<engine voice>"}"#)
            }
            voices = map
        }
    }

    /// The configured engines over `httpClient`.
    func makeEngines(httpClient: HTTPClient, logger: Logger) -> SpeechEngines {
        func engine(_ endpoint: Endpoint) -> OpenAICompatibleSpeech {
            OpenAICompatibleSpeech(
                configuration: .init(baseURL: endpoint.baseURL, apiKey: endpoint.apiKey, model: endpoint.model, defaultVoice: defaultVoice),
                httpClient: httpClient, logger: logger
            )
        }
        return SpeechEngines(
            speechToText: speechToText.map(engine), textToSpeech: textToSpeech.map(engine), voices: voices
        )
    }
}
