import Foundation
import Storage
import Testing
import StorageTesting

/// The lease repository on every engine (SQLite always; PostgreSQL when configured). Time is passed in,
/// so expiry is driven by the tests without sleeping.
@Suite("Lease store conformance")
struct LeaseStoreTests {
    static let engines = TestDatabase.available

    /// Seconds after a fixed instant.
    func at(_ seconds: Double) -> Date {
        Date(timeIntervalSince1970: 1_800_000_000 + seconds)
    }

    /// A key no other test (or earlier run on a shared PostgreSQL) uses.
    func uniqueKey() -> String {
        "conversation/\(uniqueOrgID("lease"))"
    }

    @Test(arguments: engines)
    func aFreeLeaseIsHeldUntilItExpires(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let key = uniqueKey()
            let acquired = try await store.write { try await $0.leases.acquire(key, holder: "a", until: at(30), now: at(0)) }
            #expect(acquired)
            let during = try await store.read { try await $0.leases.holder(of: key, now: at(29.9)) }
            #expect(during == "a")
            let atExpiry = try await store.read { try await $0.leases.holder(of: key, now: at(30)) }
            #expect(atExpiry == nil)
            let unknown = try await store.read { try await $0.leases.holder(of: uniqueKey(), now: at(0)) }
            #expect(unknown == nil)
        }
    }

    @Test(arguments: engines)
    func aLiveLeaseHeldElsewhereCannotBeTaken(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let key = uniqueKey()
            _ = try await store.write { try await $0.leases.acquire(key, holder: "a", until: at(30), now: at(0)) }
            let contended = try await store.write { try await $0.leases.acquire(key, holder: "b", until: at(60), now: at(29)) }
            #expect(!contended)
            let holder = try await store.read { try await $0.leases.holder(of: key, now: at(29)) }
            #expect(holder == "a")
            // The failed attempt did not move the expiry either.
            let after = try await store.read { try await $0.leases.holder(of: key, now: at(30)) }
            #expect(after == nil)
        }
    }

    @Test(arguments: engines)
    func reacquiringYourOwnLeaseExtendsIt(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let key = uniqueKey()
            _ = try await store.write { try await $0.leases.acquire(key, holder: "a", until: at(30), now: at(0)) }
            let again = try await store.write { try await $0.leases.acquire(key, holder: "a", until: at(40), now: at(10)) }
            #expect(again)
            let contended = try await store.write { try await $0.leases.acquire(key, holder: "b", until: at(60), now: at(35)) }
            #expect(!contended)
            let holder = try await store.read { try await $0.leases.holder(of: key, now: at(39)) }
            #expect(holder == "a")
        }
    }

    @Test(arguments: engines)
    func anExpiredLeaseIsTakenOverAndItsFormerHolderCanNoLongerRenewOrReleaseIt(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let key = uniqueKey()
            _ = try await store.write { try await $0.leases.acquire(key, holder: "crashed", until: at(30), now: at(0)) }
            let takeover = try await store.write { try await $0.leases.acquire(key, holder: "b", until: at(60), now: at(30)) }
            #expect(takeover)
            let renewed = try await store.write { try await $0.leases.renew(key, holder: "crashed", until: at(90)) }
            #expect(!renewed)
            try await store.write { try await $0.leases.release(key, holder: "crashed") }
            let holder = try await store.read { try await $0.leases.holder(of: key, now: at(59)) }
            #expect(holder == "b")
        }
    }

    @Test(arguments: engines)
    func releaseFreesTheLeaseOnlyForItsHolder(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let key = uniqueKey()
            _ = try await store.write { try await $0.leases.acquire(key, holder: "a", until: at(30), now: at(0)) }
            try await store.write { try await $0.leases.release(key, holder: "b") }
            let stillHeld = try await store.read { try await $0.leases.holder(of: key, now: at(1)) }
            #expect(stillHeld == "a")
            try await store.write { try await $0.leases.release(key, holder: "a") }
            let released = try await store.read { try await $0.leases.holder(of: key, now: at(1)) }
            #expect(released == nil)
            let next = try await store.write { try await $0.leases.acquire(key, holder: "b", until: at(31), now: at(1)) }
            #expect(next)
        }
    }

    @Test(arguments: engines)
    func renewingKeepsTheLeaseAliveOnlyWhileHeld(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let key = uniqueKey()
            _ = try await store.write { try await $0.leases.acquire(key, holder: "a", until: at(30), now: at(0)) }
            let renewed = try await store.write { try await $0.leases.renew(key, holder: "a", until: at(60)) }
            #expect(renewed)
            let contended = try await store.write { try await $0.leases.acquire(key, holder: "b", until: at(90), now: at(45)) }
            #expect(!contended)
            let holder = try await store.read { try await $0.leases.holder(of: key, now: at(59)) }
            #expect(holder == "a")
            let byOther = try await store.write { try await $0.leases.renew(key, holder: "b", until: at(90)) }
            #expect(!byOther)
            try await store.write { try await $0.leases.release(key, holder: "a") }
            let afterRelease = try await store.write { try await $0.leases.renew(key, holder: "a", until: at(90)) }
            #expect(!afterRelease)
        }
    }

    /// Acquires `key` from `count` concurrent transactions (separate sessions on PostgreSQL); returns the winners.
    func race(_ store: Store, key: String, count: Int, until expiresAt: Date, now: Date) async throws -> [String] {
        try await withThrowingTaskGroup(of: String?.self) { group in
            for index in 0..<count {
                group.addTask {
                    let holder = "racer-\(index)"
                    let won = try await store.write { try await $0.leases.acquire(key, holder: holder, until: expiresAt, now: now) }
                    return won ? holder : nil
                }
            }
            var winners: [String] = []
            for try await winner in group {
                if let winner { winners.append(winner) }
            }
            return winners
        }
    }

    @Test(arguments: engines)
    func exactlyOneOfManyConcurrentAcquirersWins(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let key = uniqueKey()
            let winners = try await race(store, key: key, count: 20, until: at(30), now: at(0))
            #expect(winners.count == 1)
            let holder = try await store.read { try await $0.leases.holder(of: key, now: at(1)) }
            #expect(holder != nil)
            #expect(holder == winners.first)
        }
    }

    @Test(arguments: engines)
    func exactlyOneOfManyConcurrentAcquirersTakesOverAnExpiredLease(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let key = uniqueKey()
            _ = try await store.write { try await $0.leases.acquire(key, holder: "crashed", until: at(30), now: at(0)) }
            let winners = try await race(store, key: key, count: 20, until: at(90), now: at(60))
            #expect(winners.count == 1)
            let holder = try await store.read { try await $0.leases.holder(of: key, now: at(61)) }
            #expect(holder != nil)
            #expect(holder == winners.first)
        }
    }
}
