import Foundation
import Storage
import Testing
import StorageTesting

/// The job queue on every engine (SQLite always; PostgreSQL when configured).
@Suite("Job store conformance")
struct JobStoreTests {
    static let engines = TestDatabase.available
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// Each test runs its own kind: tests on one PostgreSQL database share the queue.
    func job(_ orgID: String, key: String? = nil, after seconds: Double = 0, maxAttempts: Int = 3) -> JobRecord {
        JobRecord(
            id: UUID().uuidString, orgID: orgID, kind: orgID, subject: orgID, payload: #"{"n": 1}"#,
            idempotencyKey: key, maxAttempts: maxAttempts, runAfter: Self.start.addingTimeInterval(seconds), createdAt: Self.start
        )
    }

    @Test(arguments: engines)
    func concurrentClaimersGetEachJobOnce(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("jobs")
            let jobs = (0..<5).map { _ in job(orgID) }
            try await store.write { repositories in for job in jobs { _ = try await repositories.jobs.enqueue(job) } }
            let until = Self.start.addingTimeInterval(60)
            let claimed = try await withThrowingTaskGroup(of: String?.self) { group in
                for index in 0..<10 {
                    group.addTask {
                        try await store.write { try await $0.jobs.claim(owner: "runner-\(index)", kinds: [orgID], until: until, now: Self.start)?.id }
                    }
                }
                return try await group.reduce(into: [String]()) { if let id = $1 { $0.append(id) } }
            }
            #expect(claimed.count == 5)
            #expect(Set(claimed) == Set(jobs.map(\.id)))
            // (Counts are of the whole queue, which other tests on a shared PostgreSQL database also use.)
            let states = try await store.read { try await $0.jobs.jobs(subject: orgID, orgID: orgID) }.map(\.state)
            #expect(states == Array(repeating: .running, count: 5))
        }
    }

    @Test(arguments: engines)
    func anIdempotencyKeyKeepsTheFirstJob(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("jobs")
            let key = "analysis/\(UUID().uuidString)/extract-memories"
            let first = job(orgID, key: key)
            let again = job(orgID, key: key)
            let stored = try await store.write { try await $0.jobs.enqueue(first) }
            let repeated = try await store.write { try await $0.jobs.enqueue(again) }
            #expect(stored == (first.id, true))
            #expect(repeated == (first.id, false))
            #expect(try await store.read { try await $0.jobs.jobs(subject: orgID, orgID: orgID) }.map(\.id) == [first.id])
        }
    }

    @Test(arguments: engines)
    func aJobWhoseLeaseExpiredIsClaimedAgainAndTheFirstOwnerCanNoLongerFinishIt(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("jobs")
            let queued = job(orgID)
            _ = try await store.write { try await $0.jobs.enqueue(queued) }
            let first = try await store.write { try await $0.jobs.claim(owner: "dead", kinds: [orgID], until: Self.start.addingTimeInterval(60), now: Self.start) }
            #expect(first?.attempts == 1)
            #expect(try await store.write { try await $0.jobs.claim(owner: "other", kinds: [orgID], until: Self.start.addingTimeInterval(90), now: Self.start.addingTimeInterval(30)) } == nil)
            let later = Self.start.addingTimeInterval(61)
            let second = try await store.write { try await $0.jobs.claim(owner: "alive", kinds: [orgID], until: later.addingTimeInterval(60), now: later) }
            #expect(second?.id == queued.id)
            #expect(second?.attempts == 2)
            #expect(second?.leaseOwner == "alive")
            #expect(try await store.write { try await $0.jobs.complete(queued.id, owner: "dead", now: later) } == false)
            #expect(try await store.write { try await $0.jobs.complete(queued.id, owner: "alive", now: later) })
            #expect(try await store.read { try await $0.jobs.get(queued.id) }?.state == .succeeded)
        }
    }

    @Test(arguments: engines)
    func aFailedAttemptWaitsForItsRetryTimeAndAFinalFailureKeepsItsError(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("jobs")
            let queued = job(orgID)
            let future = job(orgID, after: 100)
            _ = try await store.write { repositories in
                _ = try await repositories.jobs.enqueue(queued)
                _ = try await repositories.jobs.enqueue(future)
            }
            _ = try await store.write { try await $0.jobs.claim(owner: "r", kinds: [orgID], until: Self.start.addingTimeInterval(60), now: Self.start) }
            let retryAt = Self.start.addingTimeInterval(10)
            #expect(try await store.write { try await $0.jobs.fail(queued.id, owner: "r", error: "model down", retryAt: retryAt, now: Self.start) })
            #expect(try await store.write { try await $0.jobs.claim(owner: "r", kinds: [orgID], until: Self.start.addingTimeInterval(60), now: Self.start.addingTimeInterval(5)) } == nil)
            let retried = try await store.write { try await $0.jobs.claim(owner: "r", kinds: [orgID], until: retryAt.addingTimeInterval(60), now: retryAt) }
            #expect(retried?.id == queued.id)
            #expect(retried?.lastError == "model down")
            #expect(try await store.write { try await $0.jobs.fail(queued.id, owner: "r", error: "still down", retryAt: nil, now: retryAt) })
            let failed = try await store.read { try await $0.jobs.get(queued.id) }
            #expect(failed?.state == .failed)
            #expect(failed?.lastError == "still down")
            #expect(failed?.attempts == 2)

            try await store.write { try await $0.jobs.requeue(queued.id, now: retryAt) }
            let requeued = try await store.read { try await $0.jobs.get(queued.id) }
            #expect(requeued?.state == .queued)
            #expect(requeued?.attempts == 0)
            // The job not yet due is claimed only once its time has come.
            let due = try await store.write { try await $0.jobs.claim(owner: "r", kinds: [orgID], until: retryAt.addingTimeInterval(60), now: retryAt) }
            #expect(due?.id == queued.id)
            #expect(try await store.write { try await $0.jobs.claim(owner: "r", kinds: [orgID], until: retryAt.addingTimeInterval(60), now: retryAt) } == nil)
        }
    }

    /// Only on SQLite, where a restarting process owns the file (on a shared PostgreSQL database this
    /// would release other tests' jobs too).
    @Test(arguments: [TestDatabase.sqlite])
    func releasingRunningJobsQueuesThemAgainWithTheirAttempts(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("jobs")
            let queued = job(orgID)
            _ = try await store.write { try await $0.jobs.enqueue(queued) }
            _ = try await store.write { try await $0.jobs.claim(owner: "gone", kinds: [orgID], until: Self.start.addingTimeInterval(600), now: Self.start) }
            try await store.write { try await $0.jobs.releaseRunning(now: Self.start) }
            let again = try await store.write { try await $0.jobs.claim(owner: "new", kinds: [orgID], until: Self.start.addingTimeInterval(60), now: Self.start) }
            #expect(again?.id == queued.id)
            #expect(again?.attempts == 2)
        }
    }
}
