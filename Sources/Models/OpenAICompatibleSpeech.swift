import AmigoWire
import AsyncHTTPClient
import Engine
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Speech through an OpenAI-compatible audio API: `POST {baseURL}/audio/transcriptions` (multipart, the
/// audio file) and `POST {baseURL}/audio/speech` (JSON, answered with a WAV file). The embedded speech
/// server (`scripts/speech-server.py`) speaks the same API, so one client serves both.
///
/// Connection failures, 429 and 5xx are retried (``OpenAICompatibleHTTP``); anything else fails at once
/// with the server's message.
public struct OpenAICompatibleSpeech: SpeechToText, TextToSpeech, VoiceActivityDetector, EndOfTurnDetector, AudioEncoder {
    public struct Configuration: Sendable {
        /// The API root, for example `http://127.0.0.1:8082/v1`.
        public var baseURL: String
        /// Sent as `Authorization: Bearer …` when set. Never logged.
        public var apiKey: String?
        /// The `model` field (`whisper-1`, `tts-1`, or what the server names its engines).
        public var model: String
        /// The voice when the agent names none.
        public var defaultVoice: String?
        /// The longest one call may take, retries included.
        public var timeout: Duration
        public var maxRetries: Int
        /// The wait before the first retry; it doubles with each retry.
        public var initialBackoff: Duration

        public init(
            baseURL: String, apiKey: String? = nil, model: String, defaultVoice: String? = nil,
            timeout: Duration = .seconds(60), maxRetries: Int = 2, initialBackoff: Duration = .milliseconds(250)
        ) {
            self.baseURL = baseURL
            self.apiKey = apiKey
            self.model = model
            self.defaultVoice = defaultVoice
            self.timeout = timeout
            self.maxRetries = maxRetries
            self.initialBackoff = initialBackoff
        }
    }

    public let configuration: Configuration
    private let client: HTTPClient
    private let logger: Logger

    public init(configuration: Configuration, httpClient: HTTPClient, logger: Logger) {
        self.configuration = configuration
        self.client = httpClient
        self.logger = logger
    }

    // MARK: - Speech to text

    public func transcribe(_ audio: AudioClip, language: String?, keyterms: [String]) async throws -> String {
        let file = audio.file
        var form = MultipartForm()
        form.addFile("file", filename: file.fileName, contentType: audio.contentType, bytes: file.data)
        form.add("model", configuration.model)
        form.add("response_format", "json")
        if let language = language.flatMap(Self.isoLanguage) { form.add("language", language) }
        // Whisper-style engines take words to expect as the prompt.
        if !keyterms.isEmpty { form.add("prompt", keyterms.joined(separator: ", ")) }
        let body: Data
        do {
            (body, _) = try await send(path: "/audio/transcriptions", contentType: form.contentType, body: Data(form.encoded()))
        } catch let failure as OpenAICompatibleHTTP.Failure where failure.kind == .rejected && failure.param == "language" {
            // The engine does not transcribe this language (the embedded Whisper is English-only).
            throw SpeechError(.unsupportedLanguage, failure.message)
        }
        struct Transcription: Decodable { var text: String }
        do {
            return try JSONDecoder().decode(Transcription.self, from: body).text.trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            // `response_format=text` servers answer the words alone.
            guard let text = String(data: body, encoding: .utf8), !text.hasPrefix("{") else {
                throw SpeechError(.failed, "\(target("/audio/transcriptions")) answered without a transcript.")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    // MARK: - Text to speech

    public func synthesize(_ text: String, voice: String?) async throws -> SpeechAudio {
        var request: [String: String] = ["model": configuration.model, "input": text, "response_format": "wav"]
        if let voice = voice ?? configuration.defaultVoice { request["voice"] = voice }
        let (body, headers) = try await send(
            path: "/audio/speech", contentType: "application/json", body: try JSONEncoder().encode(request)
        )
        let pcm: Data
        if let contents = WAV.read(body) {
            guard let converted = WAV.pcm16Mono16k(contents) else {
                throw SpeechError(.failed, "\(target("/audio/speech")) answered a WAV format this server cannot read.")
            }
            pcm = converted
        } else {
            // A server that ignores `response_format` and sends OpenAI's raw `pcm` (24 kHz, 16-bit, mono).
            guard body.count % 2 == 0, !body.isEmpty else {
                throw SpeechError(.failed, "\(target("/audio/speech")) answered neither WAV nor PCM audio.")
            }
            let contents = WAV.Contents(sampleRate: 24_000, channels: 1, bitsPerSample: 16, format: 1, samples: body)
            pcm = WAV.pcm16Mono16k(contents) ?? Data()
        }
        let alignment = headers.first(name: "x-compadre-alignment").flatMap { raw in
            try? JSONDecoder().decode([TranscriptAlignment].self, from: Data(raw.utf8))
        }
        return SpeechAudio(pcm16: pcm, alignment: alignment)
    }

    // MARK: - Voice activity

    /// Compadre's speech server extension: `POST {baseURL}/audio/vad?stream=ID` with PCM16 16 kHz bytes
    /// answers `{"probabilities": [...]}`, one per 512-sample frame; `DELETE` forgets the stream.
    public func stream() -> any VoiceActivityStream {
        HTTPVoiceActivityStream(speech: self, id: UUID().uuidString.lowercased())
    }

    struct HTTPVoiceActivityStream: VoiceActivityStream {
        let speech: OpenAICompatibleSpeech
        let id: String

        func probabilities(_ pcm16: Data) async throws -> [Float] {
            struct Answer: Decodable { var probabilities: [Float] }
            let (body, _) = try await speech.send(path: "/audio/vad?stream=\(id)", contentType: "application/octet-stream", body: pcm16)
            do {
                return try JSONDecoder().decode(Answer.self, from: body).probabilities
            } catch {
                throw SpeechError(.failed, "\(speech.target("/audio/vad")) answered without probabilities.")
            }
        }

        func close() async {
            _ = try? await speech.send(path: "/audio/vad?stream=\(id)", method: .DELETE, contentType: "application/octet-stream", body: Data())
        }
    }

    // MARK: - End of turn

    /// Compadre's speech server extension: `POST {baseURL}/audio/turn` with PCM16 16 kHz bytes answers
    /// `{"probability": p}`, the chance that the speaker has finished.
    public func completion(of pcm16: Data) async throws -> Float {
        struct Answer: Decodable { var probability: Float }
        let (body, _) = try await send(path: "/audio/turn", contentType: "application/octet-stream", body: pcm16)
        guard let answer = try? JSONDecoder().decode(Answer.self, from: body), (0...1).contains(answer.probability) else {
            throw SpeechError(.failed, "\(target("/audio/turn")) answered without a probability.")
        }
        return answer.probability
    }

    // MARK: - MP3

    /// Compadre's speech server extension: `POST {baseURL}/audio/encode?format=mp3` with PCM16 16 kHz bytes
    /// answers the MP3 frames.
    public func mp3(_ pcm16: Data) async throws -> Data {
        let (body, _) = try await send(path: "/audio/encode?format=mp3", contentType: "application/octet-stream", body: pcm16)
        guard MP3.frames(in: body) != nil else { throw SpeechError(.failed, "\(target("/audio/encode")) answered something other than MP3 frames.") }
        return body
    }

    // MARK: - HTTP

    private var http: OpenAICompatibleHTTP {
        OpenAICompatibleHTTP(
            baseURL: configuration.baseURL, apiKey: configuration.apiKey, model: configuration.model, timeout: configuration.timeout,
            maxRetries: configuration.maxRetries, initialBackoff: configuration.initialBackoff, client: client, logger: logger
        )
    }

    private func target(_ path: String) -> String { http.target(path) }

    private func send(path: String, method: HTTPMethod = .POST, contentType: String, body: Data) async throws -> (Data, HTTPHeaders) {
        do {
            return try await http.send(path: path, method: method, contentType: contentType, body: body)
        } catch let failure as OpenAICompatibleHTTP.Failure where !(failure.kind == .rejected && failure.param == "language") {
            throw SpeechError(failure.kind == .rejected ? .failed : .unavailable, failure.message)
        }
    }

    /// ISO 639-1 for the common ISO 639-3 codes agents use (`eng` → `en`); two-letter codes pass through.
    static func isoLanguage(_ code: String) -> String? {
        let code = code.lowercased()
        if code.count == 2 { return code }
        let map = [
            "eng": "en", "spa": "es", "fra": "fr", "deu": "de", "ita": "it", "por": "pt", "nld": "nl", "jpn": "ja",
            "zho": "zh", "kor": "ko", "rus": "ru", "ara": "ar", "hin": "hi", "pol": "pl", "tur": "tr", "swe": "sv",
        ]
        return map[code]
    }
}
