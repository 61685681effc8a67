import AmigoWire
import Foundation

/// Audio as a client sent it: the bytes and how to read them.
public struct AudioClip: Sendable, Hashable {
    public enum Encoding: Sendable, Hashable {
        /// A RIFF/WAVE file (its header says the rest).
        case wav
        case mp3
        /// Raw little-endian PCM, interleaved; `sampleWidth` 2 (16-bit) or 4 (32-bit) bytes.
        case pcm(sampleRate: Int, channels: Int, sampleWidth: Int)
    }

    public var data: Data
    public var encoding: Encoding

    public init(data: Data, encoding: Encoding) {
        self.data = data
        self.encoding = encoding
    }

    /// The MIME type a speech service is told.
    public var contentType: String {
        switch encoding {
        case .wav, .pcm: "audio/wav"
        case .mp3: "audio/mpeg"
        }
    }

    /// The clip as a file a speech service takes: WAV and MP3 as they are, raw PCM wrapped in a WAV header.
    public var file: (data: Data, fileName: String) {
        switch encoding {
        case .wav: (data, "audio.wav")
        case .mp3: (data, "audio.mp3")
        case .pcm(let rate, let channels, let width):
            (WAV.file(pcm: data, sampleRate: rate, channels: channels, bitsPerSample: width * 8), "audio.wav")
        }
    }
}

/// Speech synthesized for one piece of text: PCM16 little-endian, mono, 16 kHz — the format of
/// `new-message` audio and of audio fillers.
public struct SpeechAudio: Sendable, Hashable {
    public static let sampleRate = 16_000

    public var pcm16: Data
    /// When each character is spoken (milliseconds from the start of this audio), when the engine says.
    public var alignment: [TranscriptAlignment]?

    public init(pcm16: Data, alignment: [TranscriptAlignment]? = nil) {
        self.pcm16 = pcm16
        self.alignment = alignment
    }

    /// How long the audio plays.
    public var duration: Duration { .milliseconds(pcm16.count / 2 * 1000 / Self.sampleRate) }
}

/// Turns a user's speech into text.
public protocol SpeechToText: Sendable {
    /// The words of `audio`. `language` is an ISO 639 code when known; `keyterms` are words the speaker
    /// is likely to say (names, products), used to bias the transcription where the engine can.
    func transcribe(_ audio: AudioClip, language: String?, keyterms: [String]) async throws -> String
}

/// Speaks text in a voice.
public protocol TextToSpeech: Sendable {
    /// `text` spoken by `voice` (the engine's name for it; nil for the engine's default voice).
    func synthesize(_ text: String, voice: String?) async throws -> SpeechAudio
}

/// The audio formats a spoken reply can take: PCM16 mono 16 kHz, or MP3 made from it.
public enum SpokenAudioFormat: String, Sendable, Hashable {
    case pcm, mp3
}

/// Encodes speech for listeners who asked for MP3.
public protocol AudioEncoder: Sendable {
    /// `pcm16` (PCM16 mono 16 kHz) as an MP3 stream of whole frames (``MP3/frames(in:)`` reads them).
    func mp3(_ pcm16: Data) async throws -> Data
}

/// A speech engine failed; the message says why, for the user and the log.
public struct SpeechError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case unavailable, unreadableAudio, failed
        /// The engine does not handle the speaker's language.
        case unsupportedLanguage
    }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// The speech engines a server runs with. Either may be absent: text keeps working, and voice requests
/// are refused with a message that says what to configure.
public struct SpeechEngines: Sendable {
    public var speechToText: (any SpeechToText)?
    public var textToSpeech: (any TextToSpeech)?
    /// Turn detection on the realtime socket (VAD mode); nil: manual mode only.
    public var voiceActivity: (any VoiceActivityDetector)?
    /// The end-of-turn model of `semantic_vad` turn detection; nil: turns end on silence only.
    public var endOfTurn: (any EndOfTurnDetector)?
    /// Makes MP3 of spoken replies; nil: replies are PCM only.
    public var encoder: (any AudioEncoder)?
    /// The server's turn-taking knobs.
    public var turnDetection = VoiceActivity.Settings()
    /// The engine's voice for an agent version's `voice_config.voice_id`; ids not listed are passed on as
    /// they are (a provider's own voice names).
    public var voices: [String: String]

    public init(
        speechToText: (any SpeechToText)? = nil, textToSpeech: (any TextToSpeech)? = nil,
        voiceActivity: (any VoiceActivityDetector)? = nil, endOfTurn: (any EndOfTurnDetector)? = nil,
        encoder: (any AudioEncoder)? = nil, voices: [String: String] = [:]
    ) {
        self.encoder = encoder
        self.speechToText = speechToText
        self.textToSpeech = textToSpeech
        self.voiceActivity = voiceActivity
        self.endOfTurn = endOfTurn
        self.voices = voices
    }

    public static let none = SpeechEngines()

    /// The engine voice for an agent's voice id.
    public func voice(for voiceID: String?) -> String? {
        guard let voiceID else { return nil }
        return voices[voiceID] ?? voiceID
    }
}
