import AmigoWire
import Engine
import EngineTesting
import Foundation
@testable import Platform
import Synchronization
import Testing

/// Collects what a sink was given.
private final class RecordingSink: ConversationEventSink {
    private let log = Mutex<[ConversationEvent]>([])
    var events: [ConversationEvent] { log.withLock { $0 } }
    func write(_ event: ConversationEvent) async throws { log.withLock { $0.append(event) } }
    func fail(_ error: PlatformError) async throws {}
}

@Suite("Spoken replies")
struct VoiceReplyTests {
    @Test func sentencesEndAtTheirPunctuationFollowedBySpaceOrAtALineBreak() {
        var text = "Dr. Lee is in. Is 9.30 fine? Yes!\nThe rest"
        #expect(VoiceReplySink<RecordingSink>.completeSentences(in: &text) == ["Dr. Lee is in.", "Is 9.30 fine?", "Yes!"])
        #expect(text == "The rest")
        var unfinished = "Wait…"
        #expect(VoiceReplySink<RecordingSink>.completeSentences(in: &unfinished).isEmpty)
        #expect(unfinished == "Wait…")
    }

    @Test func aFillerIsSpokenInTheAgentsVoiceOnceItIsReadyAndSentAsTextBefore() async throws {
        let speech = ScriptedSpeech()
        let fillers = SpokenFillers()
        let base = RecordingSink()
        let sink = VoiceReplySink(base: base, speech: speech, voice: "joe", fillers: fillers)
        let tooLong = ConversationEvent.currentAgentAction(.actionTooLong(filler: "One moment.", previouslyStartedEvent: .null))

        try await sink.write(tooLong)
        await fillers.prepare(["One moment.", "Let me check."], voice: "joe", speech: speech)?.value
        try await sink.write(tooLong)
        // Ready fillers are not synthesized again.
        #expect(fillers.prepare(["One moment."], voice: "joe", speech: speech) == nil)

        let sent = base.events.compactMap { event -> String? in
            guard case .currentAgentAction(.actionTooLong(let filler, _)) = event else { return nil }
            return filler
        }
        #expect(sent.first == "One moment.")
        let wav = try #require(Data(base64Encoded: sent.last ?? ""))
        let contents = try #require(WAV.read(wav))
        #expect(contents.sampleRate == 16_000)
        #expect(contents.samples == ScriptedSpeech.audio(for: "One moment."))
        #expect(Set(speech.spoken.map(\.text)) == ["One moment.", "Let me check."])
        #expect(speech.spoken.allSatisfy { $0.voice == "joe" })
    }

    @Test func aPacedReplyInterruptedMidSentenceStopsAtOnceAndKeepsOnlyWhatWasHeard() async throws {
        let speech = ScriptedSpeech()
        let clock = ManualClock()
        let interruption = Interruption()
        let base = RecordingSink()
        // 10 ms of audio per character; pieces of at most 100 ms, each sent 50 ms before it plays.
        let sink = VoiceReplySink(
            base: base, speech: speech, voice: nil,
            pacing: VoicePacing(clock: AnyClock(clock), lead: .milliseconds(50), chunk: .milliseconds(100)), interruption: interruption
        )
        let reply = Task {
            try await sink.write(.newMessage(NewMessage(message: "Good morning to you. Shall we book", stop: false, sequenceNumber: 0, messageID: "m")))
            try await sink.write(.newMessage(NewMessage(message: " a visit?", stop: true, sequenceNumber: 1, messageID: "m")))
        }
        // "Good morning to you." is 200 ms: its first piece goes at once, the second waits for 50 ms.
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .milliseconds(50))
        // The second sentence's first piece waits for 150 ms; the user speaks up at 120 ms.
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .milliseconds(70))
        interruption.interrupt()
        clock.advance(by: .milliseconds(100))
        try await reply.value

        let pieces = base.events.compactMap { event -> NewMessage? in
            if case .newMessage(let piece) = event { piece } else { nil }
        }
        // Two pieces of the first sentence, none of the second, then the reply's end.
        #expect(pieces.map(\.message.isEmpty) == [false, false, true])
        #expect(pieces.last?.stop == true)
        // The second sentence was ready, but none of it was sent.
        #expect(speech.spoken.map(\.text) == ["Good morning to you.", "Shall we book a visit?"])
        // At 120 ms the listener had heard 12 of its 20 characters: "Good morning".
        #expect(sink.heardText() == "Good morning")
        #expect(sink.recording().flatMap(WAV.read)?.samples == ScriptedSpeech.audio(for: "Good morning to you."))
    }

    @Test func anMP3ReplyGoesOutAsWholeFramesThatJoinIntoTheEncodersStream() async throws {
        let speech = ScriptedSpeech()
        let clock = ManualClock()
        let base = RecordingSink()
        let sink = VoiceReplySink(
            base: base, speech: speech, voice: nil, encoder: speech,
            pacing: VoicePacing(clock: AnyClock(clock), lead: .seconds(10), chunk: .milliseconds(100))
        )
        // 20 characters: 200 ms, 3,200 samples: 6 frames of 36 ms; at most 2 frames (72 ms) a piece.
        try await sink.write(.newMessage(NewMessage(message: "Good morning to you.", stop: true, sequenceNumber: 0, messageID: "m")))
        let pieces = base.events.compactMap { event -> NewMessage? in
            if case .newMessage(let piece) = event { piece } else { nil }
        }
        let payloads = try pieces.map { try #require(Data(base64Encoded: $0.message)) }
        #expect(payloads.map(\.count) == [288, 288, 288])
        #expect(payloads.reduce(Data(), +) == ScriptedSpeech.mp3(frames: 6))
        #expect(payloads.allSatisfy { MP3.frames(in: $0)?.count == 2 })
        #expect(pieces.map(\.stop) == [false, false, true])
        // The stored recording is the PCM, whatever went out.
        #expect(sink.recording().flatMap(WAV.read)?.samples == ScriptedSpeech.audio(for: "Good morning to you."))
        // Playback follows the frames: 130 ms into the 216 ms of MP3 the listener has heard 12 of 20 characters.
        clock.advance(by: .milliseconds(130))
        #expect(sink.heardText() == "Good morning")
        clock.advance(by: .milliseconds(86))
        #expect(sink.heardText() == "Good morning to you.")
    }

    @Test func mp3FramesAreReadFromTheirHeadersAndBrokenStreamsAreRefused() {
        let stream = ScriptedSpeech.mp3(frames: 3)
        let frames = MP3.frames(in: stream)
        #expect(frames?.map(\.range) == [0..<144, 144..<288, 288..<432])
        #expect(frames?.first?.duration == .milliseconds(36))
        // After an ID3v2 tag of 5 bytes.
        #expect(MP3.frames(in: Data([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5]) + stream)?.count == 3)
        #expect(MP3.frames(in: stream.dropLast(1)) == nil)
        #expect(MP3.frames(in: Data("not audio".utf8)) == nil)
        // MPEG-1 at 44.1 kHz, 128 kbps: 417 bytes, 1,152 samples.
        let v1 = Data([0xFF, 0xFB, 0x90, 0x00]) + Data(count: 413)
        #expect(MP3.frames(in: v1)?.first?.samples == 1152)
    }
}
