import Foundation
import ServiceLifecycle
import Storage
import Synchronization

/// Leases in the database, so that "one operation at a time per conversation", "one realtime
/// connection per user and service" and "one publish per tool" hold across every `compadre serve`
/// process sharing it.
///
/// Rules:
/// - ``acquire(_:)`` takes a key for a holder name of its own (this keeper's `holder`, then a unique
///   suffix), so two operations in one process exclude each other as two processes do; it returns nil
///   when another holder has the key and its lease has not expired.
/// - The keeper is a `Service`: one loop renews every lease this process holds, in one transaction,
///   every `duration / 3` on its clock. A process that crashed stops renewing, and its leases expire
///   `duration` after their last renewal at the latest.
/// - A lease is lost when a renewal finds it taken over, or when renewals fail (the database does not
///   answer) until it has expired: another process may hold the key by then, so the operation must not
///   commit as if it still had it alone (``Lease/isLost``).
/// - ``Lease/release()`` frees the key at once; a lease dropped without release expires.
/// - A keeper made `inProcess` (the server on SQLite: one process owns the file) keeps its leases in
///   memory only — the same rules within the process, no database write to take or free a key.
public final class LeaseKeeper: Service, Sendable {
    let store: Store
    /// Who this process is in the `leases` table (the prefix of each of its leases' holder names).
    public let holder: String
    /// How long a lease outlives its holder's last renewal.
    public let duration: Duration
    private let sleep: @Sendable (Duration) async throws -> Void
    private let now: @Sendable () -> Date
    private let held = Mutex<[String: Held]>([:])
    /// Whether leases live only in this process (see the rules).
    public let inProcess: Bool

    private struct Held {
        var key: String
        var expiresAt: Date
        var isLost = false
    }

    public init<C: Clock>(
        store: Store, holder: String = UUID().uuidString, duration: Duration = .seconds(30), clock: C,
        now: @escaping @Sendable () -> Date = { Date() }, inProcess: Bool = false
    ) where C.Duration == Duration {
        self.inProcess = inProcess
        self.store = store
        self.holder = holder
        self.duration = duration
        self.sleep = { try await clock.sleep(for: $0) }
        self.now = now
    }

    public convenience init(store: Store, holder: String = UUID().uuidString, duration: Duration = .seconds(30), inProcess: Bool = false) {
        self.init(store: store, holder: holder, duration: duration, clock: ContinuousClock(), inProcess: inProcess)
    }

    /// Takes `key`, or returns nil when another holder has it. The lease is renewed until released.
    public func acquire(_ key: String) async throws -> Lease? {
        let now = self.now()
        let expiresAt = now + duration.timeInterval
        let holder = "\(self.holder)/\(UUID().uuidString)"
        if inProcess {
            let taken = held.withLock { held -> Bool in
                guard !held.values.contains(where: { $0.key == key }) else { return false }
                held[holder] = Held(key: key, expiresAt: .distantFuture)
                return true
            }
            return taken ? Lease(key: key, holder: holder, keeper: self) : nil
        }
        let acquired = try await store.write { try await $0.leases.acquire(key, holder: holder, until: expiresAt, now: now) }
        guard acquired else { return nil }
        held.withLock { $0[holder] = Held(key: key, expiresAt: expiresAt) }
        return Lease(key: key, holder: holder, keeper: self)
    }

    /// Renews every lease until graceful shutdown (by then the work that held leases has ended).
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while (try? await self.sleep(self.duration / 3)) != nil {
                await self.renewAll()
            }
        }
    }

    /// Renews every held lease once, in one transaction.
    public func renewAll() async {
        guard !inProcess else { return }
        let leases = held.withLock { held in held.filter { !$0.value.isLost }.map { (holder: $0.key, key: $0.value.key) } }
        guard !leases.isEmpty else { return }
        let expiresAt = now() + duration.timeInterval
        do {
            let kept = try await store.write { repositories in
                var kept: [String: Bool] = [:]
                for lease in leases {
                    kept[lease.holder] = try await repositories.leases.renew(lease.key, holder: lease.holder, until: expiresAt)
                }
                return kept
            }
            held.withLock { held in
                for (holder, isKept) in kept where held[holder] != nil {
                    if isKept { held[holder]?.expiresAt = expiresAt } else { held[holder]?.isLost = true }
                }
            }
        } catch {
            // The database did not answer: a lease stays ours while it has not expired.
            let now = self.now()
            held.withLock { held in
                for (holder, lease) in held where lease.expiresAt <= now { held[holder]?.isLost = true }
            }
        }
    }

    /// How many leases this process holds.
    public var count: Int { held.withLock { $0.count } }

    fileprivate func isLost(_ holder: String) -> Bool {
        held.withLock { $0[holder]?.isLost ?? false }
    }

    fileprivate func forget(_ holder: String) {
        held.withLock { _ = $0.removeValue(forKey: holder) }
    }

    fileprivate func release(_ key: String, holder: String) async {
        guard held.withLock({ $0.removeValue(forKey: holder) }) != nil, !inProcess else { return }
        // Not cancellable: an operation cut short (a realtime socket closing) still frees its key at once,
        // instead of leaving it to expire.
        let store = store
        await Task { try? await store.write { try await $0.leases.release(key, holder: holder) } }.value
    }
}

/// A held database lease (see ``LeaseKeeper``). Release it when the operation ends, whichever way.
public final class Lease: Sendable {
    public let key: String
    /// This lease's holder name in the `leases` table.
    public let holder: String
    private let keeper: LeaseKeeper

    fileprivate init(key: String, holder: String, keeper: LeaseKeeper) {
        self.key = key
        self.holder = holder
        self.keeper = keeper
    }

    /// A lease dropped without release is no longer renewed and expires.
    deinit { keeper.forget(holder) }

    /// Whether the lease was lost while held: taken over by another holder, or expired unrenewed.
    public var isLost: Bool { keeper.isLost(holder) }

    /// Frees the key for other holders. Idempotent; never throws (an unreleased lease simply expires).
    public func release() async {
        await keeper.release(key, holder: holder)
    }

    /// Runs `body` holding `key`; `conflict` with `message` when another holder has it. The lease is
    /// released however `body` ends.
    public static func with<Result: Sendable>(
        _ key: String, in keeper: LeaseKeeper, orConflict message: String, _ body: () async throws -> Result
    ) async throws -> Result {
        guard let lease = try await keeper.acquire(key) else {
            Telemetry.leaseConflict(key)
            throw PlatformError.conflict(message)
        }
        do {
            let result = try await body()
            await lease.release()
            return result
        } catch {
            await lease.release()
            throw error
        }
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
