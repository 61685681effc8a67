import EngineTesting
import Foundation
import Platform
import Storage
import StorageTesting
import Testing

@Suite("Lease keeper")
struct LeaseKeeperTests {
    /// A keeper whose database times follow a manual clock.
    static func keeper(_ store: Store, clock: ManualClock, holder: String = UUID().uuidString) -> LeaseKeeper {
        let start = Date()
        return LeaseKeeper(
            store: store, holder: holder, duration: .seconds(30), clock: clock,
            now: { start + Double(clock.elapsed.components.seconds) }
        )
    }

    @Test func inProcessLeasesFollowTheSameRulesWithoutTouchingTheDatabase() async throws {
        try await TestDatabase.sqlite.with { database in
            let store = Store(database: database)
            let keeper = LeaseKeeper(store: store, inProcess: true)
            let key = "conversation/\(UUID().uuidString)"
            let lease = try #require(try await keeper.acquire(key))
            #expect(try await keeper.acquire(key) == nil, "a held key excludes another operation")
            #expect(try await keeper.acquire("other/\(UUID().uuidString)") != nil)
            let rows = try await store.read { try await $0.leases.holder(of: key, now: Date()) }
            #expect(rows == nil, "nothing was written")
            await keeper.renewAll()
            #expect(!lease.isLost)
            await lease.release()
            #expect(try await keeper.acquire(key) != nil, "a released key is free")
        }
    }

    @Test(arguments: TestDatabase.available)
    func aHeldLeaseExcludesOthersUntilReleased(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let clock = ManualClock()
            let keeper = Self.keeper(store, clock: clock)
            let key = "conversation/\(UUID().uuidString)"
            let lease = try #require(try await keeper.acquire(key))
            #expect(try await keeper.acquire(key) == nil)
            await lease.release()
            #expect(try await keeper.acquire(key) != nil)
        }
    }

    @Test(arguments: TestDatabase.available)
    func oneLoopRenewsEveryLeaseSoTheyOutliveTheirFirstExpiry(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let clock = ManualClock()
            let mine = Self.keeper(store, clock: clock)
            let other = Self.keeper(store, clock: clock)
            let keys = (0..<3).map { "conversation/\($0)-\(UUID().uuidString)" }
            var leases: [Lease] = []
            for key in keys { leases.append(try #require(try await mine.acquire(key))) }
            let loop = Task { try await mine.run() }
            // Four renewal rounds (every 10 s) carry the leases past their first 30 s.
            for _ in 0..<4 {
                await clock.sleepers(atLeast: 1)
                clock.advance(by: .seconds(10))
                while clock.sleeperCount == 0 { await Task.yield() }  // the round has renewed
            }
            loop.cancel()
            for key in keys { #expect(try await other.acquire(key) == nil) }
            #expect(leases.allSatisfy { !$0.isLost })
        }
    }

    @Test(arguments: TestDatabase.available)
    func aLeaseTakenOverAfterItExpiredIsLost(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let clock = ManualClock()
            let crashed = Self.keeper(store, clock: clock)
            let key = "conversation/\(UUID().uuidString)"
            let lease = try #require(try await crashed.acquire(key))
            // The holder stops renewing (a stalled process); after 31 s another one takes the key.
            clock.advance(by: .seconds(31))
            let other = Self.keeper(store, clock: clock)
            #expect(try await other.acquire(key) != nil)
            await crashed.renewAll()
            #expect(lease.isLost)
        }
    }
}
