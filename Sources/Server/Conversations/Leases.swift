import Foundation
import Storage
import Synchronization

/// Leases in the database, so that "one operation at a time per conversation" and "one realtime
/// connection per user and service" hold across every `compadre serve` process sharing it.
///
/// A held `Lease` renews itself every `duration / 3`, so a long operation (a slow model reply) keeps it
/// for as long as it runs; a crashed process stops renewing, and its leases expire `duration` after their
/// last renewal at the latest. Every acquired lease has its own holder name (`holder`, then a unique
/// suffix), so two operations in one process exclude each other as two processes do.
struct DatabaseLeases: Sendable {
    let store: Store
    /// Who this process is in the `leases` table (the prefix of each of its leases' holder names).
    let holder: String
    /// How long a lease outlives its holder's last renewal.
    let duration: Duration
    let now: @Sendable () -> Date

    init(
        store: Store, holder: String = UUID().uuidString, duration: Duration = .seconds(30),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.holder = holder
        self.duration = duration
        self.now = now
    }

    /// Takes `key`, or returns nil when another holder has it. The lease renews itself until released.
    func acquire(_ key: String) async throws -> Lease? {
        let now = self.now()
        let expiresAt = now + duration.timeInterval
        let holder = "\(self.holder)/\(UUID().uuidString)"
        let acquired = try await store.write { try await $0.leases.acquire(key, holder: holder, until: expiresAt, now: now) }
        return acquired ? Lease(key: key, holder: holder, leases: self, expiresAt: expiresAt) : nil
    }

    /// Renews `holder`'s lease on `key` until `duration` from now; false when it was taken over or released.
    fileprivate func renew(_ key: String, holder: String) async throws -> (held: Bool, expiresAt: Date) {
        let expiresAt = now() + duration.timeInterval
        let held = try await store.write { try await $0.leases.renew(key, holder: holder, until: expiresAt) }
        return (held, expiresAt)
    }

    fileprivate func release(_ key: String, holder: String) async throws {
        try await store.write { try await $0.leases.release(key, holder: holder) }
    }
}

/// A held database lease. Release it when the operation ends, whichever way; a lease that is dropped
/// without release stops renewing and expires after its duration.
///
/// `isLost` turns true when a renewal finds the lease taken over, or when renewals fail (the database is
/// unreachable) until it has expired: another process may hold the key now, so the operation should not
/// commit as if it still had it alone.
final class Lease: Sendable {
    let key: String
    /// This lease's holder name in the `leases` table.
    let holder: String
    private let leases: DatabaseLeases
    private let state = Mutex(State())

    private struct State {
        var renewal: Task<Void, Never>?
        var isLost = false
    }

    fileprivate init(key: String, holder: String, leases: DatabaseLeases, expiresAt: Date) {
        self.key = key
        self.holder = holder
        self.leases = leases
        let renewal = Task { [weak self] in
            var expiresAt = expiresAt
            while true {
                do {
                    try await Task.sleep(for: leases.duration / 3)
                } catch {
                    return  // released
                }
                do {
                    let renewal = try await leases.renew(key, holder: holder)
                    if renewal.held {
                        expiresAt = renewal.expiresAt
                        continue
                    }
                } catch {
                    if Task.isCancelled { return }
                    // The database did not answer: keep trying while the lease may still be ours.
                    if leases.now() < expiresAt { continue }
                }
                self?.state.withLock { $0.isLost = true }
                return
            }
        }
        state.withLock { $0.renewal = renewal }
    }

    deinit {
        state.withLock { $0.renewal?.cancel() }
    }

    /// Whether the lease was lost while held: taken over by another holder, or expired unrenewed.
    var isLost: Bool { state.withLock { $0.isLost } }

    /// Stops renewing and frees the key for other holders. Idempotent; never throws (an unreleased
    /// lease simply expires).
    func release() async {
        let renewal = state.withLock { state in
            defer { state.renewal = nil }
            return state.renewal
        }
        guard let renewal else { return }
        renewal.cancel()
        await renewal.value
        try? await leases.release(key, holder: holder)
    }
}

extension Duration {
    fileprivate var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
