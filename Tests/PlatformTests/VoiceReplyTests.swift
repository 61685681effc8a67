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
}
