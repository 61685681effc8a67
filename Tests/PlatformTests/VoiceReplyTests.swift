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
}
