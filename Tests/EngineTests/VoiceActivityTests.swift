import Engine
import Foundation
import Testing

@Suite("Voice activity")
struct VoiceActivityTests {
    /// One 512-sample frame whose samples all hold `value`.
    func frame(_ value: Int16) -> Data {
        var data = Data()
        for _ in 0..<512 { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// Feeds `probabilities`, one frame each (frame k holds the value k), and collects the events.
    func run(_ probabilities: [Float], _ vad: inout VoiceActivity) -> [VoiceActivity.Event] {
        var events: [VoiceActivity.Event] = []
        for (index, probability) in probabilities.enumerated() {
            vad.append(frame(Int16(index)))
            events += vad.consume([probability])
        }
        return events
    }

    @Test func anUtteranceStartsAtItsFirstSpeechFrameAndEndsAfterTheSilenceWithItsPrefixPadding() throws {
        var vad = VoiceActivity()
        let probabilities = [Float](repeating: 0.1, count: 20) + [Float](repeating: 0.9, count: 20) + [Float](repeating: 0.1, count: 20)
        let events = run(probabilities, &vad)
        #expect(events.count == 2)
        #expect(events.first == .speechStarted(ms: 640))
        guard case .speechEnded(let ms, let audio)? = events.last else { Issue.record("no end"); return }
        #expect(ms == 1280)
        // 300 ms of padding (4,800 samples: frames 10.6…19) before the speech (frames 20…39).
        #expect(audio.count == (4_800 + 20 * 512) * 2)
        let first = audio.prefix(2).withUnsafeBytes { $0.load(as: Int16.self) }
        let last = audio.suffix(2).withUnsafeBytes { $0.load(as: Int16.self) }
        #expect(first == 10)
        #expect(last == 39)
        #expect(!vad.isSpeaking)
    }

    @Test func aPauseShorterThanTheSilenceDurationDoesNotEndTheUtterance() {
        var vad = VoiceActivity()
        let probabilities = [Float](repeating: 0.9, count: 10) + [Float](repeating: 0.1, count: 10) + [Float](repeating: 0.9, count: 10)
            + [Float](repeating: 0.1, count: 16)
        let events = run(probabilities, &vad)
        #expect(events.count == 2)
        guard case .speechEnded(let ms, _)? = events.last else { Issue.record("no end"); return }
        #expect(ms == 30 * 32)
    }

    @Test func aBlipShorterThanTheMinimumSpeechIsDiscarded() {
        var vad = VoiceActivity()
        let events = run([Float](repeating: 0.9, count: 3) + [Float](repeating: 0.1, count: 16), &vad)
        #expect(events == [.speechStarted(ms: 0), .discarded])
    }

    @Test func probabilitiesBetweenTheThresholdAndItsHysteresisKeepSpeechGoing() {
        var vad = VoiceActivity()
        let events = run([Float](repeating: 0.9, count: 10) + [Float](repeating: 0.4, count: 40), &vad)
        #expect(events == [.speechStarted(ms: 0)])
        #expect(vad.isSpeaking)
    }

    // MARK: End-of-turn model (semantic_vad)

    /// Defaults with the model: asked after 200 ms (7 frames), the turn ends after 3 s (94 frames) without it.
    func semantic() -> VoiceActivity { VoiceActivity(settings: .init(turnEnd: .model)) }

    /// Where an event list asks the model, the check's number and the audio it is asked about.
    func check(in events: [VoiceActivity.Event]) -> (Int, Data)? {
        for case .judgeTurn(let check, let audio) in events { return (check, audio) }
        return nil
    }

    @Test func theModelIsAskedOnceAfterAShortSilenceAndAFinishedTurnEndsWhereTheSilenceBegan() throws {
        var vad = semantic()
        let events = run([Float](repeating: 0.9, count: 20) + [Float](repeating: 0.1, count: 10), &vad)
        let (id, audio) = try #require(check(in: events))
        #expect(events.filter { if case .judgeTurn = $0 { true } else { false } }.count == 1)
        // Asked at the 7th silent frame (224 ms ≥ 200 ms), about the speech and the silence so far.
        #expect(audio.count == 27 * 512 * 2)
        #expect(vad.isSpeaking)
        let ended = vad.turnJudged(check: id, complete: true)
        guard case .speechEnded(let ms, let utterance)? = ended.first else { Issue.record("no end: \(ended)"); return }
        #expect(ms == 20 * 32)
        #expect(utterance.count == 20 * 512 * 2)
        #expect(!vad.isSpeaking)
    }

    @Test func aTurnTheModelJudgesUnfinishedWaitsForTheMaximumSilence() throws {
        var vad = semantic()
        let events = run([Float](repeating: 0.9, count: 20) + [Float](repeating: 0.1, count: 10), &vad)
        let (id, _) = try #require(check(in: events))
        #expect(vad.turnJudged(check: id, complete: false).isEmpty)
        // 2 s more of silence: still the user's turn (a server_vad turn would have ended at 500 ms).
        var later = run([Float](repeating: 0.1, count: 62), &vad)
        #expect(later.isEmpty)
        later = run([Float](repeating: 0.1, count: 22), &vad)
        guard case .speechEnded(let ms, _)? = later.last else { Issue.record("no end: \(later)"); return }
        #expect(ms == 20 * 32)
    }

    @Test func aVerdictOnASilenceThatSpeechBrokeIsIgnoredAndTheNextSilenceIsAskedAgain() throws {
        var vad = semantic()
        let first = try #require(check(in: run([Float](repeating: 0.9, count: 20) + [Float](repeating: 0.1, count: 8), &vad)))
        // The user goes on speaking before the model answers.
        #expect(run([Float](repeating: 0.9, count: 5), &vad).isEmpty)
        #expect(vad.turnJudged(check: first.0, complete: true).isEmpty)
        #expect(vad.isSpeaking)
        let second = try #require(check(in: run([Float](repeating: 0.1, count: 8), &vad)))
        #expect(second.0 != first.0)
        guard case .speechEnded(let ms, _)? = vad.turnJudged(check: second.0, complete: true).first else {
            Issue.record("no end"); return
        }
        #expect(ms == 33 * 32)
    }

    @Test func withoutAVerdictTheTurnEndsOnTheServerVADSilence() throws {
        var vad = semantic()
        let (id, _) = try #require(check(in: run([Float](repeating: 0.9, count: 20) + [Float](repeating: 0.1, count: 10), &vad)))
        #expect(vad.turnJudged(check: id, complete: nil).isEmpty)
        // 500 ms of silence in all (16 frames): 6 more.
        #expect(run([Float](repeating: 0.1, count: 5), &vad).isEmpty)
        guard case .speechEnded(let ms, _)? = run([Float](repeating: 0.1, count: 1), &vad).first else { Issue.record("no end"); return }
        #expect(ms == 20 * 32)
    }

    @Test func withSilenceOnlyTheModelIsNeverAsked() {
        var vad = VoiceActivity()
        let events = run([Float](repeating: 0.9, count: 20) + [Float](repeating: 0.1, count: 20), &vad)
        #expect(check(in: events) == nil)
        #expect(events.count == 2)
    }
}
