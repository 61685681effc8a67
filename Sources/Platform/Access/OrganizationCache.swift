import Engine
import Storage
import Synchronization

/// A bounded in-memory cache of values read from one organization's users, roles, API keys or services,
/// for the reads every request makes (who the caller is, the service listing).
///
/// Rules:
/// - An entry is used only while the organization's generation (``OrganizationGenerations``, advanced
///   by every committed write to those tables in this process) is the one read before the entry was
///   loaded, so a change takes effect on the next request of the process that made it.
/// - An entry is used at most `lifetime` after its load started (1 s by default), so a change made by
///   another replica takes effect within that time.
/// - One load per key at a time: requests that miss together wait for the same load. An entry past
///   half its lifetime is reloaded in the background while requests keep using it, so a busy key never
///   makes its requests wait. A load that fails stores nothing, and its waiters get its error.
/// - Past `capacity` entries the cache starts over empty (entries are cheap to reload).
public final class OrganizationCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry: Sendable {
        var value: Value
        var generation: UInt64
        var loadedAt: AnyClock.Instant
    }

    private struct Slot {
        var entry: Entry?
        /// The load in flight, and the generation it was started under.
        var loading: (task: Task<Entry, any Error>, generation: UInt64)?
    }

    private enum Step {
        case use(Value)
        case wait(Task<Entry, any Error>)
    }

    private let slots = Mutex<[Key: Slot]>([:])
    private let generations: OrganizationGenerations
    private let lifetime: Duration
    private let capacity: Int
    private let clock: AnyClock

    public init(generations: OrganizationGenerations, lifetime: Duration = .seconds(1), capacity: Int = 10_000, clock: AnyClock = .continuous) {
        self.generations = generations
        self.lifetime = lifetime
        self.capacity = capacity
        self.clock = clock
    }

    /// The cached value of `key` (which belongs to `orgID`), or the one `load` reads, then cached.
    public func value(_ key: Key, orgID: String, load: @escaping @Sendable () async throws -> Value) async throws -> Value {
        guard lifetime > .zero else { return try await load() }
        let generation = generations.current(orgID)
        let now = clock.now
        let step = slots.withLock { slots -> Step in
            var slot = slots[key] ?? Slot()
            if let entry = slot.entry, entry.generation == generation {
                let age = entry.loadedAt.duration(to: now)
                if age < lifetime {
                    if age >= lifetime / 2, slot.loading == nil {
                        slot.loading = (startLoad(key, generation: generation, at: now, load), generation)
                        slots[key] = slot
                    }
                    return .use(entry.value)
                }
            }
            if let loading = slot.loading, loading.generation == generation {
                return .wait(loading.task)
            }
            let task = startLoad(key, generation: generation, at: now, load)
            slot.loading = (task, generation)
            if slots[key] == nil, slots.count >= capacity { slots.removeAll(keepingCapacity: true) }
            slots[key] = slot
            return .wait(task)
        }
        switch step {
        case .use(let value): return value
        case .wait(let task): return try await task.value.value
        }
    }

    /// Starts loading `key`; the task stores its entry (unless a newer one arrived) and clears itself.
    private func startLoad(_ key: Key, generation: UInt64, at now: AnyClock.Instant, _ load: @escaping @Sendable () async throws -> Value) -> Task<Entry, any Error> {
        Task {
            let result: Result<Entry, any Error>
            do {
                result = .success(Entry(value: try await load(), generation: generation, loadedAt: now))
            } catch {
                result = .failure(error)
            }
            slots.withLock { slots in
                guard var slot = slots[key] else { return }
                if slot.loading?.generation == generation { slot.loading = nil }
                if case .success(let entry) = result, entry.generation >= slot.entry?.generation ?? 0 { slot.entry = entry }
                slots[key] = slot
            }
            return try result.get()
        }
    }
}
