import Foundation

/// Speech probabilities of a stream of audio, from a voice activity detection model (Silero VAD).
public protocol VoiceActivityDetector: Sendable {
    /// A new stream: its state carries from one call to the next.
    func stream() -> any VoiceActivityStream
}

public protocol VoiceActivityStream: Sendable {
    /// The speech probability of every 512-sample frame (32 ms at 16 kHz) that `pcm16` (16 kHz mono
    /// PCM16, any length) completes, in order; the rest of a frame waits for the next call.
    func probabilities(_ pcm16: Data) async throws -> [Float]
    /// Frees the stream's state.
    func close() async
}

/// Turn-taking over a stream of audio, as a state machine without I/O: the caller appends the audio it
/// receives and feeds the detector's probabilities, one per 512-sample frame, in order; it gets back when
/// speech started and ended, with the utterance.
///
/// Rules (the knobs are OpenAI Realtime's `turn_detection` names):
/// - Speech starts at the first frame whose probability reaches `threshold`; `speechStarted` carries its
///   time (ms into the stream).
/// - While speaking, a frame below `threshold - 0.15` counts as silence and any other resets the count;
///   after `silenceDuration` of silence speech ends where the silence began. An utterance shorter than
///   `minimumSpeech` is discarded (`discarded`, the seed's `vad-speech-reset-zero`); otherwise `speechEnded`
///   carries its end time and its audio, from `prefixPadding` before the start to the end.
/// - Audio older than `prefixPadding` is dropped while nobody speaks, so memory stays bounded.
public struct VoiceActivity: Sendable {
    public struct Settings: Sendable, Hashable {
        public var threshold: Float
        public var prefixPadding: Duration
        public var silenceDuration: Duration
        public var minimumSpeech: Duration

        public init(
            threshold: Float = 0.5, prefixPadding: Duration = .milliseconds(300), silenceDuration: Duration = .milliseconds(500),
            minimumSpeech: Duration = .milliseconds(200)
        ) {
            self.threshold = threshold
            self.prefixPadding = prefixPadding
            self.silenceDuration = silenceDuration
            self.minimumSpeech = minimumSpeech
        }
    }

    public enum Event: Sendable, Hashable {
        case speechStarted(ms: Int)
        /// The utterance as PCM16 mono 16 kHz.
        case speechEnded(ms: Int, audio: Data)
        case discarded
    }

    public static let frameSamples = 512
    static let samplesPerMillisecond = 16

    /// The knobs; a change applies from the next frame judged.
    public var settings: Settings
    /// Audio kept: samples from `bufferStart` on (as bytes, 2 per sample).
    private var buffer = Data()
    private var bufferStart = 0
    /// Samples received so far, and frames judged so far.
    private var received = 0
    private var judged = 0
    /// The sample where the current speech started, and the run of silent frames in it.
    private var speechStart: Int?
    private var silentFrames = 0

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    public var isSpeaking: Bool { speechStart != nil }

    /// Audio as it arrives (PCM16 mono 16 kHz).
    public mutating func append(_ pcm16: Data) {
        buffer.append(pcm16)
        received += pcm16.count / 2
    }

    /// The detector's probabilities for the next frames.
    public mutating func consume(_ probabilities: [Float]) -> [Event] {
        var events: [Event] = []
        for probability in probabilities {
            let frameStart = judged * Self.frameSamples
            judged += 1
            if let start = speechStart {
                silentFrames = probability < settings.threshold - 0.15 ? silentFrames + 1 : 0
                guard Self.samples(silentFrames * Self.frameSamples) >= settings.silenceDuration else { continue }
                let end = judged * Self.frameSamples - silentFrames * Self.frameSamples
                speechStart = nil
                silentFrames = 0
                if Self.samples(end - start) < settings.minimumSpeech {
                    events.append(.discarded)
                } else {
                    let from = max(bufferStart, start - Self.sampleCount(settings.prefixPadding))
                    events.append(.speechEnded(ms: end / Self.samplesPerMillisecond, audio: slice(from: from, to: end)))
                }
            } else if probability >= settings.threshold {
                speechStart = frameStart
                silentFrames = 0
                events.append(.speechStarted(ms: frameStart / Self.samplesPerMillisecond))
            }
        }
        if speechStart == nil { trim(keepingFrom: judged * Self.frameSamples - Self.sampleCount(settings.prefixPadding)) }
        return events
    }

    private func slice(from: Int, to end: Int) -> Data {
        let lower = (from - bufferStart) * 2, upper = min(buffer.count, (end - bufferStart) * 2)
        guard lower < upper else { return Data() }
        return buffer.subdata(in: buffer.startIndex + lower..<buffer.startIndex + upper)
    }

    private mutating func trim(keepingFrom sample: Int) {
        let drop = min(buffer.count / 2, sample - bufferStart)
        guard drop > 0 else { return }
        buffer = buffer.subdata(in: buffer.startIndex + drop * 2..<buffer.endIndex)
        bufferStart += drop
    }

    static func samples(_ count: Int) -> Duration { .milliseconds(count / samplesPerMillisecond) }
    static func sampleCount(_ duration: Duration) -> Int {
        Int(duration.components.seconds) * 16_000 + Int(duration.components.attoseconds / 62_500_000_000_000)
    }
}
