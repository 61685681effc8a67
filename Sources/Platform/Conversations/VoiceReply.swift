import AmigoWire
import Engine
import Foundation
import Synchronization

/// Speaks the agent's reply: the text pieces of `new-message` events become audio pieces, a sentence at
/// a time, so the first sentence plays while the rest is still being written.
///
/// Rules:
/// - Text is collected until a sentence ends (`.`, `!`, `?` or `…` followed by white space — not the
///   period of an abbreviation such as "Dr." — or a line break); each finished sentence is synthesized at once and sent as one `new-message` whose `message`
///   is base64 PCM16 mono 16 kHz, with the engine's `transcript_alignment` when it gives one. With an
///   `encoder` (MP3 asked for) each sentence is encoded as one MP3 stream and sent as pieces of whole
///   frames, so the pieces of a reply joined in order play as one stream; timing and what was heard then
///   follow the frames' durations. The stored recording stays PCM (WAV) either way.
/// - The last text piece (`stop: true`) flushes what is left; the last audio piece carries `stop: true`
///   (an empty one when nothing was left). Sequence numbers count the audio pieces from 0.
/// - An `action-too-long` filler is sent as base64 WAV (PCM16 mono 16 kHz) in the agent's voice when
///   ``SpokenFillers`` has it ready, else as its text.
/// - Every other event passes through in order, after the audio of the text before it.
/// - A synthesis that fails fails the write, so the interaction fails and stores nothing.
/// - **Paced** (the realtime socket, ``VoicePacing``): audio goes out in pieces of at most `chunk`, each
///   when the listener's playback (which starts with the first piece) is within `lead` of it, so what
///   was played is known within `lead`, and an interruption stops the audio at once: no piece is sent
///   after it, and nothing left is synthesized. Unpaced (REST), everything is sent as soon as it is ready.
/// - What the listener **heard** (``heardText()``): the sentences played whole, and of the one cut off
///   the characters the engine's alignment places before the playback position (else the same share of
///   its characters as of its audio, cut back to a word) — the stored text of an interrupted reply.
///   Unpaced, everything sent counts as heard.
final class VoiceReplySink<Base: ConversationEventSink>: ConversationEventSink, SpokenReply {
    /// A sentence as it was spoken: where its audio starts in the reply, how long it is, and when each
    /// character is said (when the engine says).
    private struct Segment {
        var text: String
        var start: Duration
        var duration: Duration
        var alignment: [TranscriptAlignment]?
    }

    private struct State {
        var text = ""
        var sequence = 0
        /// Everything sent so far, stored as the agent message's source.
        var pcm = Data()
        var segments: [Segment] = []
        /// When the first piece went out (paced), and how much audio has gone out.
        var playbackStart: AnyClock.Instant?
        var sent = Duration.zero
        /// When the interruption came (paced): the playback position is taken there.
        var interruptedAt: AnyClock.Instant?
        var stopSent = false
        /// The wait for the next piece's time, which an interruption ends at once.
        var pause: Task<Void, any Error>?
    }

    private let base: Base
    private let speech: any TextToSpeech
    private let voice: String?
    private let encoder: (any AudioEncoder)?
    private let fillers: SpokenFillers?
    private let pacing: VoicePacing?
    private let interruption: Interruption?
    private let state = Mutex(State())

    init(
        base: Base, speech: any TextToSpeech, voice: String?, encoder: (any AudioEncoder)? = nil, fillers: SpokenFillers? = nil,
        pacing: VoicePacing? = nil, interruption: Interruption? = nil
    ) {
        self.base = base
        self.speech = speech
        self.voice = voice
        self.encoder = encoder
        self.fillers = fillers
        self.pacing = pacing
        self.interruption = interruption
        if let pacing {
            interruption?.onInterrupt { [weak self] in
                let pause = self?.state.withLock { state in
                    if state.interruptedAt == nil { state.interruptedAt = pacing.clock.now }
                    return state.pause
                }
                pause?.cancel()
            }
        }
    }

    private var isInterrupted: Bool { interruption?.isInterrupted == true }

    func write(_ event: ConversationEvent) async throws {
        if case .currentAgentAction(.actionTooLong(let filler, let started)) = event, let wav = fillers?.wav(filler, voice: voice) {
            return try await base.write(.currentAgentAction(.actionTooLong(filler: wav.base64EncodedString(), previouslyStartedEvent: started)))
        }
        guard case .newMessage(let piece) = event else { return try await base.write(event) }
        let sentences = state.withLock { state -> [String] in
            state.text += piece.message
            var sentences = Self.completeSentences(in: &state.text)
            if piece.stop {
                let rest = state.text.trimmingCharacters(in: .whitespacesAndNewlines)
                if !rest.isEmpty { sentences.append(rest) }
                state.text = ""
            }
            return sentences
        }
        // After an interruption nothing more is said.
        if !isInterrupted {
            for (index, sentence) in sentences.enumerated() {
                try await speak(sentence, messageID: piece.messageID, stop: piece.stop && index == sentences.count - 1)
            }
        }
        // The reply ends with a `stop` piece, an empty one when its last audio did not carry it.
        if piece.stop, !state.withLock({ $0.stopSent }) {
            try await base.write(.newMessage(NewMessage(message: "", stop: true, sequenceNumber: nextSequence(), messageID: piece.messageID)))
        }
    }

    func fail(_ error: PlatformError) async throws {
        try await base.fail(error)
    }

    /// One piece of a sentence's audio as sent (PCM or MP3 frames), the PCM it stands for, how long it plays.
    private struct Piece {
        var payload: Data
        var pcm: Data
        var duration: Duration
    }

    private func speak(_ sentence: String, messageID: String, stop: Bool) async throws {
        guard !isInterrupted else { return }
        let audio = try await speech.synthesize(sentence, voice: voice)
        let pieces = try await self.pieces(of: audio)
        state.withLock { state in
            let duration = pieces.reduce(Duration.zero) { $0 + $1.duration }
            state.segments.append(Segment(text: sentence, start: state.sent, duration: duration, alignment: audio.alignment))
        }
        for (index, piece) in pieces.enumerated() {
            if let pacing {
                let due = state.withLock { state -> AnyClock.Instant in
                    let start = state.playbackStart ?? pacing.clock.now
                    state.playbackStart = start
                    return start.advanced(by: state.sent - pacing.lead)
                }
                if pacing.clock.now < due { try await wait(until: due, on: pacing.clock) }
            }
            guard !isInterrupted else { return }
            let isLast = stop && index == pieces.count - 1
            state.withLock { state in
                state.pcm.append(piece.pcm)
                state.sent += piece.duration
                if isLast { state.stopSent = true }
            }
            try await base.write(.newMessage(NewMessage(
                message: piece.payload.base64EncodedString(), transcriptAlignment: index == 0 ? audio.alignment : nil,
                stop: isLast, sequenceNumber: nextSequence(), messageID: messageID
            )))
        }
    }

    /// A sentence's audio cut into pieces of at most the pacing's `chunk` (one piece unpaced): PCM as it
    /// is, or with an encoder MP3 frames grouped by their duration (at least one frame a piece), each
    /// standing for the same share of the PCM.
    private func pieces(of audio: SpeechAudio) async throws -> [Piece] {
        let pcm = audio.pcm16
        guard let encoder else {
            let chunkBytes = pacing.map { max(2, Int($0.chunk / .milliseconds(1)) * SpeechAudio.sampleRate / 1000 * 2) } ?? max(2, pcm.count)
            return stride(from: 0, to: max(pcm.count, 1), by: chunkBytes).map { offset in
                let chunk = pcm.subdata(in: offset..<min(pcm.count, offset + chunkBytes))
                return Piece(payload: chunk, pcm: chunk, duration: .milliseconds(chunk.count / 2 * 1000 / SpeechAudio.sampleRate))
            }
        }
        let mp3 = try await encoder.mp3(pcm)
        guard let frames = MP3.frames(in: mp3), !frames.isEmpty else { throw SpeechError(.failed, "The MP3 encoder gave no frames.") }
        let total = frames.reduce(Duration.zero) { $0 + $1.duration }
        var pieces: [Piece] = []
        var group: [MP3.Frame] = []
        var elapsed = Duration.zero
        func close() {
            guard let first = group.first, let last = group.last else { return }
            let duration = group.reduce(Duration.zero) { $0 + $1.duration }
            // The PCM this piece plays, by share of the whole (whole samples).
            let from = min(pcm.count, Int(Double(pcm.count / 2) * (elapsed / total)) * 2)
            let to = min(pcm.count, Int(Double(pcm.count / 2) * ((elapsed + duration) / total)) * 2)
            pieces.append(Piece(payload: mp3.subdata(in: first.range.lowerBound..<last.range.upperBound), pcm: pcm.subdata(in: from..<to), duration: duration))
            elapsed += duration
            group = []
        }
        for frame in frames {
            let grouped = group.reduce(Duration.zero) { $0 + $1.duration }
            if let pacing, !group.isEmpty, grouped + frame.duration > pacing.chunk { close() }
            group.append(frame)
        }
        close()
        return pieces
    }

    /// Sleeps until `due`, or until the interruption comes (the reply stops then, not at the next piece).
    private func wait(until due: AnyClock.Instant, on clock: AnyClock) async throws {
        let pause = Task { try await clock.sleep(until: due) }
        let interrupted = state.withLock { state in
            state.pause = pause
            return state.interruptedAt != nil
        }
        if interrupted { pause.cancel() }
        await withTaskCancellationHandler {
            _ = try? await pause.value
        } onCancel: {
            pause.cancel()
        }
        state.withLock { $0.pause = nil }
        try Task.checkCancellation()
    }

    func heardText() -> String {
        state.withLock { state in
            var position = state.sent
            if let pacing, let start = state.playbackStart {
                position = min(position, start.duration(to: state.interruptedAt ?? pacing.clock.now))
            }
            var heard: [String] = []
            for segment in state.segments where segment.start < position {
                let into = position - segment.start
                if into >= segment.duration {
                    heard.append(segment.text)
                } else {
                    let part = Self.prefix(of: segment, heardFor: into)
                    if !part.isEmpty { heard.append(part) }
                }
            }
            return heard.joined(separator: " ")
        }
    }

    /// The part of a sentence said in its first `duration`: by the alignment, else by share, cut back to
    /// a whole word.
    private static func prefix(of segment: Segment, heardFor duration: Duration) -> String {
        let milliseconds = Int(duration / .milliseconds(1))
        let count: Int
        if let alignment = segment.alignment, !alignment.isEmpty {
            count = min(segment.text.count, alignment.prefix { $0.ms < milliseconds }.count)
        } else {
            count = Int(Double(segment.text.count) * (duration / segment.duration))
        }
        var words = segment.text.prefix(count)
        if count < segment.text.count, let next = segment.text.dropFirst(count).first, !next.isWhitespace {
            if let space = words.lastIndex(where: \.isWhitespace) { words = words[..<space] } else { words = "" }
        }
        return words.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func recording() -> Data? {
        let pcm = state.withLock { $0.pcm }
        return pcm.isEmpty ? nil : WAV.file(pcm: pcm, sampleRate: SpeechAudio.sampleRate)
    }

    private func nextSequence() -> Int {
        state.withLock { state in
            defer { state.sequence += 1 }
            return state.sequence
        }
    }

    /// Words whose period does not end a sentence.
    static var abbreviations: Set<String> { ["dr", "mr", "mrs", "ms", "st", "vs", "e.g", "i.e", "etc", "no", "approx"] }

    /// The word that ends right before `index`.
    static func word(before index: String.Index, in text: String) -> Substring {
        var start = index
        while start > text.startIndex, !text[text.index(before: start)].isWhitespace { start = text.index(before: start) }
        return text[start..<index]
    }

    /// Removes the finished sentences from the front of `text` and returns them, trimmed.
    static func completeSentences(in text: inout String) -> [String] {
        var sentences: [String] = []
        var start = text.startIndex
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            let ends: Bool
            if character.isNewline {
                ends = true
            } else if ".!?…".contains(character) {
                ends = next < text.endIndex && text[next].isWhitespace
                    && !(character == "." && Self.abbreviations.contains(Self.word(before: index, in: text).lowercased()))
            } else {
                ends = false
            }
            if ends {
                let sentence = text[start..<next].trimmingCharacters(in: .whitespacesAndNewlines)
                if !sentence.isEmpty { sentences.append(sentence) }
                start = next
            }
            index = next
        }
        text = String(text[start...])
        return sentences
    }
}

/// What a spoken reply sounded like, as a WAV file (nil when nothing was spoken), and the text the
/// listener heard of it.
protocol SpokenReply: Sendable {
    func recording() -> Data?
    func heardText() -> String
}

/// How a spoken reply is paced for a listener who plays it as it arrives (the realtime socket): pieces
/// of at most `chunk`, each sent `lead` before it plays.
public struct VoicePacing: Sendable {
    public var clock: AnyClock
    public var lead: Duration
    public var chunk: Duration

    public init(clock: AnyClock = .continuous, lead: Duration = .milliseconds(500), chunk: Duration = .milliseconds(200)) {
        self.clock = clock
        self.lead = lead
        self.chunk = chunk
    }
}
