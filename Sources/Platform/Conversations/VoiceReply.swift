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
///   is base64 PCM16 mono 16 kHz, with the engine's `transcript_alignment` when it gives one.
/// - The last text piece (`stop: true`) flushes what is left; the last audio piece carries `stop: true`
///   (an empty one when nothing was left). Sequence numbers count the audio pieces from 0.
/// - An `action-too-long` filler is sent as base64 WAV (PCM16 mono 16 kHz) in the agent's voice when
///   ``SpokenFillers`` has it ready, else as its text.
/// - Every other event passes through in order, after the audio of the text before it.
/// - A synthesis that fails fails the write, so the interaction fails and stores nothing.
final class VoiceReplySink<Base: ConversationEventSink>: ConversationEventSink, SpokenReply {
    private struct State {
        var text = ""
        var sequence = 0
        /// Everything sent so far, stored as the agent message's source.
        var pcm = Data()
    }

    private let base: Base
    private let speech: any TextToSpeech
    private let voice: String?
    private let fillers: SpokenFillers?
    private let state = Mutex(State())

    init(base: Base, speech: any TextToSpeech, voice: String?, fillers: SpokenFillers? = nil) {
        self.base = base
        self.speech = speech
        self.voice = voice
        self.fillers = fillers
    }

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
        for (index, sentence) in sentences.enumerated() {
            try await speak(sentence, messageID: piece.messageID, stop: piece.stop && index == sentences.count - 1)
        }
        if piece.stop && sentences.isEmpty {
            try await base.write(.newMessage(NewMessage(message: "", stop: true, sequenceNumber: nextSequence(), messageID: piece.messageID)))
        }
    }

    func fail(_ error: PlatformError) async throws {
        try await base.fail(error)
    }

    private func speak(_ sentence: String, messageID: String, stop: Bool) async throws {
        let audio = try await speech.synthesize(sentence, voice: voice)
        state.withLock { $0.pcm.append(audio.pcm16) }
        try await base.write(.newMessage(NewMessage(
            message: audio.pcm16.base64EncodedString(), transcriptAlignment: audio.alignment, stop: stop,
            sequenceNumber: nextSequence(), messageID: messageID
        )))
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

/// What a spoken reply sounded like, as a WAV file (nil when nothing was spoken).
protocol SpokenReply: Sendable {
    func recording() -> Data?
}
