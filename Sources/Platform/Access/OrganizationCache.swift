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
/// - An entry is used at most `lifetime` after it was loaded (1 s by default), so a change made by
///   another replica takes effect within that time.
/// - Loads are not coalesced: two requests that miss at once both read the database. A load that fails
///   stores nothing.
/// - Past `capacity` entries the cache starts over empty (entries are cheap to reload).
public final class OrganizationCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var generation: UInt64
        var expiresAt: AnyClock.Instant
    }

    private let entries = Mutex<[Key: Entry]>([:])
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
    public func value(_ key: Key, orgID: String, load: () async throws -> Value) async throws -> Value {
        guard lifetime > .zero else { return try await load() }
        let generation = generations.current(orgID)
        let now = clock.now
        if let entry = entries.withLock({ $0[key] }), entry.generation == generation, now < entry.expiresAt {
            return entry.value
        }
        let value = try await load()
        let entry = Entry(value: value, generation: generation, expiresAt: now.advanced(by: lifetime))
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = entry
        }
        return value
    }
}
