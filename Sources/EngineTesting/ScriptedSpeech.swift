import AmigoWire
import Engine
import Foundation
import Synchronization

/// Speech engines for tests: transcription answers a scripted text (and records what it was given);
/// synthesis answers 10 ms of audio per character, each sample holding the character's position, so a
/// test can tell which text an audio piece speaks; voice activity is loudness: a 512-sample frame whose
/// mean amplitude passes 1,000 is speech (0.9), any other silence (0.05); MP3 encoding makes one
/// 144-byte MPEG-2 Layer III frame (16 kHz, 32 kbps, 36 ms) per started 576 samples, its payload the
/// frame's number.
public final class ScriptedSpeech: SpeechToText, TextToSpeech, VoiceActivityDetector, AudioEncoder {
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
        /// Languages transcription takes (nil: any); others are refused as an English-only engine does.
        var languages: Set<String>?
    }

    private let state = Mutex(State())

    public init(transcript: String = "") {
        state.withLock { $0.transcript = transcript }
    }

    /// What the next transcriptions answer.
    public func willTranscribe(_ text: String) { state.withLock { $0.transcript = text } }
    /// Makes transcription refuse every language but `languages` (as the embedded Whisper refuses all but English).
    public func transcribeOnly(_ languages: Set<String>) { state.withLock { $0.languages = languages } }
    /// Makes every later synthesis fail.
    public func failSynthesis() { state.withLock { $0.failSynthesis = true } }

    public var transcriptions: [Transcription] { state.withLock { $0.transcriptions } }
    public var spoken: [(text: String, voice: String?)] { state.withLock { $0.spoken } }

    public func transcribe(_ audio: AudioClip, language: String?, keyterms: [String]) async throws -> String {
        try state.withLock { state in
            if let languages = state.languages, let language, !languages.contains(language) {
                throw SpeechError(.unsupportedLanguage, "language '\(language)' is not supported")
            }
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

    public func stream() -> any VoiceActivityStream { LoudnessStream() }

    public func mp3(_ pcm16: Data) async throws -> Data {
        Self.mp3(frames: (pcm16.count / 2 + 575) / 576)
    }

    /// `count` frames as ``mp3(_:)`` makes them.
    public static func mp3(frames count: Int) -> Data {
        var data = Data()
        for index in 0..<count {
            data.append(contentsOf: [0xFF, 0xF3, 0x48, 0xC4])
            data.append(contentsOf: [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 140))
        }
        return data
    }

    /// Speech probabilities by loudness, with the remainder of a frame kept for the next call.
    final class LoudnessStream: VoiceActivityStream {
        private let pending = Mutex(Data())

        func probabilities(_ pcm16: Data) async throws -> [Float] {
            pending.withLock { pending in
                pending.append(pcm16)
                var result: [Float] = []
                let frameBytes = VoiceActivity.frameSamples * 2
                while pending.count >= frameBytes {
                    let frame = pending.prefix(frameBytes)
                    pending = Data(pending.dropFirst(frameBytes))
                    var total = 0
                    frame.withUnsafeBytes { raw in
                        for sample in raw.bindMemory(to: Int16.self) { total += abs(Int(Int16(littleEndian: sample))) }
                    }
                    result.append(total / VoiceActivity.frameSamples > 1_000 ? 0.9 : 0.05)
                }
                return result
            }
        }

        func close() async {}
    }
}
