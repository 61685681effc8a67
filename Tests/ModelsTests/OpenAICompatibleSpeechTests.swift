import AsyncHTTPClient
import CompadreTesting
import Engine
import Foundation
import Logging
import Models
import Synchronization
import Testing

@Suite("OpenAI-compatible speech")
struct OpenAICompatibleSpeechTests {
    static let logger = Logger(label: "test")

    func speech(_ server: FakeSpeechServer, model: String = "whisper-1", maxRetries: Int = 2) -> OpenAICompatibleSpeech {
        OpenAICompatibleSpeech(
            configuration: .init(baseURL: server.baseURL, apiKey: "sk-test", model: model, defaultVoice: "alloy", maxRetries: maxRetries, initialBackoff: .zero),
            httpClient: .shared, logger: Self.logger
        )
    }

    @Test func transcriptionSendsTheAudioFileWithTheLanguageAndKeyTerms() async throws {
        try await FakeSpeechServer.withServer({ _ in .json(#"{"text": " Book me for Tuesday. "}"#) }) { server in
            let pcm = Data(repeating: 0, count: 3200)
            let clip = AudioClip(data: pcm, encoding: .pcm(sampleRate: 8000, channels: 1, sampleWidth: 2))
            let text = try await speech(server).transcribe(clip, language: "eng", keyterms: ["Tuesday", "Dr. Lee"])
            #expect(text == "Book me for Tuesday.")
            let request = try #require(server.requests.first)
            #expect(request.path == "/v1/audio/transcriptions")
            #expect(request.headers["authorization"] == "Bearer sk-test")
            #expect(request.headers["content-type"]?.hasPrefix("multipart/form-data; boundary=") == true)
            #expect(request.text.contains("name=\"model\"\r\n\r\nwhisper-1"))
            #expect(request.text.contains("name=\"language\"\r\n\r\nen\r\n"))
            #expect(request.text.contains("name=\"prompt\"\r\n\r\nTuesday, Dr. Lee\r\n"))
            // Raw PCM goes out as a WAV file that says its rate.
            #expect(request.text.contains("filename=\"audio.wav\""))
            let wavStart = try #require(request.body.range(of: Data("RIFF".utf8)))
            let contents = try #require(WAV.read(request.body[wavStart.lowerBound...]))
            #expect(contents.sampleRate == 8000)
            #expect(contents.samples.count >= 3200)
        }
    }

    @Test func synthesisAnswersSixteenKilohertzMonoWhateverTheServerSends() async throws {
        // One second of 24 kHz stereo 16-bit: 16,000 mono samples at 16 kHz.
        let stereo = Data(repeating: 0x10, count: 24_000 * 2 * 2)
        let wav = WAV.file(pcm: stereo, sampleRate: 24_000, channels: 2, bitsPerSample: 16)
        let alignment = #"[[0, "H"], [120, "i"]]"#
        try await FakeSpeechServer.withServer({ _ in
            FakeSpeechServer.Reply(contentType: "audio/wav", body: wav, headers: ["x-compadre-alignment": alignment])
        }) { server in
            let audio = try await speech(server, model: "tts-1").synthesize("Hi", voice: nil)
            #expect(audio.pcm16.count == 16_000 * 2)
            #expect(audio.duration == .seconds(1))
            #expect(audio.alignment?.map(\.character) == ["H", "i"])
            let request = try #require(server.requests.first)
            #expect(request.path == "/v1/audio/speech")
            let body = try JSONDecoder().decode([String: String].self, from: request.body)
            #expect(body == ["model": "tts-1", "input": "Hi", "voice": "alloy", "response_format": "wav"])
        }
    }

    @Test func serverErrorsAreRetriedAndClientErrorsReportTheServersMessage() async throws {
        let calls = Counter()
        try await FakeSpeechServer.withServer({ _ in
            calls.next() == 0 ? .json(#"{"error": {"message": "overloaded"}}"#, status: 503) : .json(#"{"text": "ok"}"#)
        }) { server in
            let clip = AudioClip(data: WAV.file(pcm: Data(count: 320), sampleRate: 16_000), encoding: .wav)
            let text = try await speech(server).transcribe(clip, language: nil, keyterms: [])
            #expect(text == "ok")
            #expect(server.requests.count == 2)
        }
        try await FakeSpeechServer.withServer({ _ in .json(#"{"error": {"message": "Invalid file format."}}"#, status: 400) }) { server in
            let clip = AudioClip(data: Data("not audio".utf8), encoding: .mp3)
            let error = await #expect(throws: SpeechError.self) { try await speech(server).transcribe(clip, language: nil, keyterms: []) }
            #expect(error?.message.contains("answered 400: Invalid file format.") == true)
            #expect(server.requests.count == 1)
        }
    }

    @Test func aLanguageTheEngineRefusesIsReportedAsAnUnsupportedLanguage() async throws {
        let refusal = #"{"error": {"message": "language 'es' is not supported", "type": "invalid_request_error", "param": "language"}}"#
        try await FakeSpeechServer.withServer({ _ in .json(refusal, status: 400) }) { server in
            let clip = AudioClip(data: WAV.file(pcm: Data(count: 320), sampleRate: 16_000), encoding: .wav)
            let error = await #expect(throws: SpeechError.self) { try await speech(server).transcribe(clip, language: "spa", keyterms: []) }
            #expect(error?.kind == .unsupportedLanguage)
            #expect(server.requests.first?.text.contains("name=\"language\"\r\n\r\nes\r\n") == true)
        }
    }

    @Test func theEndOfTurnModelIsAskedWithTheRawAudioAndItsProbabilityChecked() async throws {
        try await FakeSpeechServer.withServer({ _ in .json(#"{"probability": 0.93, "complete": true}"#) }) { server in
            let pcm = Data(repeating: 7, count: 6400)
            #expect(try await speech(server).completion(of: pcm) == 0.93)
            let request = try #require(server.requests.first)
            #expect(request.path == "/v1/audio/turn")
            #expect(request.body == pcm)
        }
        try await FakeSpeechServer.withServer({ _ in .json(#"{"probability": 7}"#) }) { server in
            await #expect(throws: SpeechError.self) { try await speech(server).completion(of: Data(count: 320)) }
        }
    }

    @Test func anUnreachableServerFailsAsUnavailable() async throws {
        let unreachable = OpenAICompatibleSpeech(
            configuration: .init(baseURL: "http://127.0.0.1:9/v1", model: "tts-1", timeout: .milliseconds(500), maxRetries: 1, initialBackoff: .zero),
            httpClient: .shared, logger: Self.logger
        )
        let error = await #expect(throws: SpeechError.self) { try await unreachable.synthesize("Hello", voice: "joe") }
        #expect(error?.kind == .unavailable)
    }
}

final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int {
        value.withLock { value in
            defer { value += 1 }
            return value
        }
    }
}
