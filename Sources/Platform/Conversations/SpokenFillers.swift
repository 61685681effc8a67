import Engine
import Foundation
import Synchronization

/// Audio fillers in the agents' voices, synthesized ahead of need: a filler is said when a step is slow,
/// so it cannot wait for a synthesis of its own.
///
/// Rules:
/// - `prepare` is called when a voice interaction starts: every filler of the conversation's graphs not
///   yet spoken in that voice is synthesized in the background, one at a time, once (a failure is
///   tried again at the next `prepare`).
/// - `wav` answers a ready filler as a WAV file (PCM16 mono 16 kHz), nil when it is not ready or its
///   synthesis failed — the caller then sends the text.
/// - Past `capacity` fillers the cache starts over empty.
final class SpokenFillers: Sendable {
    private struct Key: Hashable {
        var voice: String?
        var text: String
    }

    private struct State {
        var ready: [Key: Data] = [:]
        var pending: Set<Key> = []
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int = 2000) {
        self.capacity = capacity
    }

    /// Starts synthesizing what is missing; the task ends when it is done (tests wait for it).
    @discardableResult
    func prepare(_ fillers: Set<String>, voice: String?, speech: any TextToSpeech) -> Task<Void, Never>? {
        let missing = state.withLock { state -> [Key] in
            let keys = fillers.map { Key(voice: voice, text: $0) }.filter { state.ready[$0] == nil && !state.pending.contains($0) }
            state.pending.formUnion(keys)
            return keys
        }
        guard !missing.isEmpty else { return nil }
        return Task {
            for key in missing {
                let wav = try? await WAV.file(pcm: speech.synthesize(key.text, voice: key.voice).pcm16, sampleRate: SpeechAudio.sampleRate)
                state.withLock { state in
                    state.pending.remove(key)
                    guard let wav else { return }
                    if state.ready.count >= capacity { state.ready.removeAll(keepingCapacity: true) }
                    state.ready[key] = wav
                }
            }
        }
    }

    func wav(_ text: String, voice: String?) -> Data? {
        state.withLock { $0.ready[Key(voice: voice, text: text)] }
    }
}
