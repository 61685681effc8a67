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
}
