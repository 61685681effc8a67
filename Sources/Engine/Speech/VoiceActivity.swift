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

/// Judges whether a speaker has finished their turn from how their speech ends (Smart Turn): words
/// and prosody, not only silence.
public protocol EndOfTurnDetector: Sendable {
    /// The probability (0…1) that the speaker has finished, from the end of their speech so far
    /// (PCM16 mono 16 kHz, at most ``VoiceActivity/judgedAudio`` long, trailing silence included).
    func completion(of pcm16: Data) async throws -> Float
}

/// Turn-taking over a stream of audio, as a state machine without I/O: the caller appends the audio it
/// receives and feeds the detector's probabilities, one per 512-sample frame, in order; it gets back when
/// speech started and ended, with the utterance.
///
/// Rules (the knobs are OpenAI Realtime's `turn_detection` names):
/// - Speech starts at the first frame whose probability reaches `threshold`; `speechStarted` carries its
///   time (ms into the stream).
/// - While speaking, a frame below `threshold - 0.15` counts as silence and any other resets the count.
///   How the turn ends depends on `turnEnd`:
///   - `.silence` (`server_vad`): after `silenceDuration` of silence speech ends where the silence began.
///   - `.model` (`semantic_vad`): after `modelCheckSilence` of silence the end-of-turn model is asked once
///     per run of silence (`judgeTurn`, with the last ``judgedAudio`` of the utterance up to now, trailing
///     silence included); the caller answers `turnJudged`. "Complete" ends speech where the silence began,
///     if that run of silence still goes on (a verdict on a run that speech broke is stale and ignored).
///     "Not complete" waits: speech ends after `maximumSilence` of silence. No verdict (the model failed)
///     falls back to the silence rule: speech ends after `silenceDuration`.
/// - An utterance shorter than `minimumSpeech` is discarded (`discarded`, the seed's
///   `vad-speech-reset-zero`); otherwise `speechEnded` carries its end time and its audio, from
///   `prefixPadding` before the start to the end.
/// - Audio older than `prefixPadding` is dropped while nobody speaks, so memory stays bounded.
public struct VoiceActivity: Sendable {
    /// Who ends a turn.
    public enum TurnEnd: String, Sendable, Hashable {
        /// A fixed silence (OpenAI's `server_vad`).
        case silence = "server_vad"
        /// The end-of-turn model, asked after a short silence (OpenAI's `semantic_vad`).
        case model = "semantic_vad"
    }

    public struct Settings: Sendable, Hashable {
        public var threshold: Float
        public var prefixPadding: Duration
        public var silenceDuration: Duration
        public var minimumSpeech: Duration
        public var turnEnd: TurnEnd
        /// `.model`: the silence after which the model is asked (Pipecat's VAD `stop_secs` with Smart Turn).
        public var modelCheckSilence: Duration
        /// `.model`: the silence that ends a turn the model judged unfinished (Pipecat's Smart Turn `stop_secs`).
        public var maximumSilence: Duration

        public init(
            threshold: Float = 0.5, prefixPadding: Duration = .milliseconds(300), silenceDuration: Duration = .milliseconds(500),
            minimumSpeech: Duration = .milliseconds(200), turnEnd: TurnEnd = .silence,
            modelCheckSilence: Duration = .milliseconds(200), maximumSilence: Duration = .seconds(3)
        ) {
            self.threshold = threshold
            self.prefixPadding = prefixPadding
            self.silenceDuration = silenceDuration
            self.minimumSpeech = minimumSpeech
            self.turnEnd = turnEnd
            self.modelCheckSilence = modelCheckSilence
            self.maximumSilence = maximumSilence
        }
    }

    public enum Event: Sendable, Hashable {
        case speechStarted(ms: Int)
        /// The utterance as PCM16 mono 16 kHz.
        case speechEnded(ms: Int, audio: Data)
        case discarded
        /// Ask the end-of-turn model about this audio, then call `turnJudged(check:complete:)`.
        case judgeTurn(check: Int, audio: Data)
    }

    /// The most audio the end-of-turn model reads (Smart Turn v3: 8 s).
    public static let judgedAudio: Duration = .seconds(8)

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
    /// `.model`: the check awaiting its verdict, whether this run of silence was judged already, and
    /// whether the model failed to give a verdict (then the silence rule ends the turn).
    private var pendingCheck: Int?
    private var checks = 0
    private var judgedThisSilence = false
    private var noVerdict = false

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
                if probability < settings.threshold - 0.15 {
                    silentFrames += 1
                } else {
                    silentFrames = 0
                    pendingCheck = nil
                    judgedThisSilence = false
                    noVerdict = false
                }
                let silence = Self.samples(silentFrames * Self.frameSamples)
                switch settings.turnEnd {
                case .silence:
                    if silence >= settings.silenceDuration { events.append(endSpeech(start: start)) }
                case .model:
                    if silence >= (noVerdict ? settings.silenceDuration : settings.maximumSilence) {
                        events.append(endSpeech(start: start))
                    } else if !judgedThisSilence, silence >= settings.modelCheckSilence {
                        judgedThisSilence = true
                        checks += 1
                        pendingCheck = checks
                        let end = judged * Self.frameSamples
                        let from = max(bufferStart, start - Self.sampleCount(settings.prefixPadding), end - Self.sampleCount(Self.judgedAudio))
                        events.append(.judgeTurn(check: checks, audio: slice(from: from, to: end)))
                    }
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

    /// The end-of-turn model's verdict on check `check`: `true` finished, `false` not yet, nil no verdict.
    public mutating func turnJudged(check: Int, complete: Bool?) -> [Event] {
        guard let start = speechStart, pendingCheck == check else { return [] }
        pendingCheck = nil
        switch complete {
        case true?:
            return [endSpeech(start: start)]
        case false?:
            return []
        case nil:
            noVerdict = true
            guard Self.samples(silentFrames * Self.frameSamples) >= settings.silenceDuration else { return [] }
            return [endSpeech(start: start)]
        }
    }

    /// Speech that started at sample `start` ends where the current run of silence began.
    private mutating func endSpeech(start: Int) -> Event {
        let end = judged * Self.frameSamples - silentFrames * Self.frameSamples
        speechStart = nil
        silentFrames = 0
        pendingCheck = nil
        judgedThisSilence = false
        noVerdict = false
        guard Self.samples(end - start) >= settings.minimumSpeech else { return .discarded }
        let from = max(bufferStart, start - Self.sampleCount(settings.prefixPadding))
        return .speechEnded(ms: end / Self.samplesPerMillisecond, audio: slice(from: from, to: end))
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
