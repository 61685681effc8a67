import CompadreTesting
import Foundation
@testable import Server
import Storage
import Testing

@Suite("Database leases (scratch)")
struct DatabaseLeasesScratchTests {
    @Test(arguments: TestDatabase.available)
    func leasesExcludeRenewReleaseAndNoticeLoss(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let key = "conversation/\(uniqueOrgID("scratch"))"
            let one = DatabaseLeases(store: store, holder: "one", duration: .milliseconds(300))
            let two = DatabaseLeases(store: store, holder: "two", duration: .milliseconds(300))

            let lease = try #require(try await one.acquire(key))
            let sameProcess = try await one.acquire(key)
            #expect(sameProcess == nil)
            let otherProcess = try await two.acquire(key)
            #expect(otherProcess == nil)

            // Renewals keep it past its duration.
            try await Task.sleep(for: .seconds(1))
            let stillHeld = try await two.acquire(key)
            #expect(stillHeld == nil)
            #expect(!lease.isLost)
            let holderName = try await store.read { try await $0.leases.holder(of: key, now: Date()) }
            #expect(holderName == lease.holder)

            await lease.release()
            await lease.release()
            let afterRelease = try #require(try await two.acquire(key))
            #expect(!afterRelease.isLost)

            // A process whose clock runs ahead takes it over: the holder notices at its next renewal.
            let thief = DatabaseLeases(store: store, holder: "thief", duration: .seconds(30), now: { Date() + 60 })
            let stolen = try #require(try await thief.acquire(key))
            try await Task.sleep(for: .milliseconds(400))
            #expect(afterRelease.isLost)
            await afterRelease.release()
            let holderAfter = try await store.read { try await $0.leases.holder(of: key, now: Date()) }
            #expect(holderAfter == stolen.holder)
            await stolen.release()

            // A dropped lease (the process "crashed" mid-operation) stops renewing and expires.
            do {
                let dropped = try await one.acquire(key)
                #expect(dropped != nil)
            }
            let immediately = try await two.acquire(key)
            #expect(immediately == nil)
            try await Task.sleep(for: .milliseconds(500))
            let later = try await two.acquire(key)
            #expect(later != nil)
            await later?.release()
        }
    }
}
