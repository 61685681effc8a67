import AmigoWire
import Engine
import Foundation
import Synchronization

/// Speech engines for tests: transcription answers a scripted text (and records what it was given);
/// synthesis answers 10 ms of audio per character, each sample holding the character's position, so a
/// test can tell which text an audio piece speaks.
public final class ScriptedSpeech: SpeechToText, TextToSpeech {
    public struct Transcription: Sendable {
        public var audio: AudioClip
        public var language: String?
        public var keyterms: [String]
    }

    private struct State {
        var transcript = ""
        var transcriptions: [Transcription] = []
        var spoken: [(text: String, voice: String?)] = []
        var failSynthesis = false
    }

    private let state = Mutex(State())

    public init(transcript: String = "") {
        state.withLock { $0.transcript = transcript }
    }

    /// What the next transcriptions answer.
    public func willTranscribe(_ text: String) { state.withLock { $0.transcript = text } }
    /// Makes every later synthesis fail.
    public func failSynthesis() { state.withLock { $0.failSynthesis = true } }

    public var transcriptions: [Transcription] { state.withLock { $0.transcriptions } }
    public var spoken: [(text: String, voice: String?)] { state.withLock { $0.spoken } }

    public func transcribe(_ audio: AudioClip, language: String?, keyterms: [String]) async throws -> String {
        state.withLock { state in
            state.transcriptions.append(Transcription(audio: audio, language: language, keyterms: keyterms))
            return state.transcript
        }
    }

    public func synthesize(_ text: String, voice: String?) async throws -> SpeechAudio {
        let fails = state.withLock { state in
            state.spoken.append((text, voice))
            return state.failSynthesis
        }
        if fails { throw SpeechError(.unavailable, "the scripted speech engine is failing") }
        return SpeechAudio(pcm16: Self.audio(for: text))
    }

    /// The audio `synthesize` answers for `text`: 160 samples (10 ms at 16 kHz) per character.
    public static func audio(for text: String) -> Data {
        var data = Data()
        for (index, _) in text.enumerated() {
            let sample = UInt16(truncatingIfNeeded: index + 1)
            for _ in 0..<160 { data.append(UInt8(sample & 0xFF)); data.append(UInt8(sample >> 8)) }
        }
        return data
    }
}
