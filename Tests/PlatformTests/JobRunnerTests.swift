import Engine
import EngineTesting
import Foundation
import Logging
import Platform
import Storage
import StorageTesting
import Synchronization
import Testing

@Suite("Job runner")
struct JobRunnerTests {
    /// Database times that follow a manual clock.
    final class Times: Sendable {
        let clock = ManualClock()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        func now() -> Date { start + Double(clock.elapsed.components.seconds) }
    }

    func job(kind: String = "work", maxAttempts: Int = 3, at date: Date) -> JobRecord {
        JobRecord(id: UUID().uuidString, orgID: "org", kind: kind, subject: "s", maxAttempts: maxAttempts, runAfter: date, createdAt: date)
    }

    func runner(_ store: Store, _ times: Times, handlers: [String: JobRunner.Handler]) -> JobRunner {
        var configuration = JobRunner.Configuration()
        configuration.backoff = .seconds(2)
        configuration.lease = .seconds(60)
        return JobRunner(
            store: store, handlers: handlers, configuration: configuration, clock: AnyClock(times.clock), now: { times.now() },
            logger: Logger(label: "test")
        )
    }

    @Test func aFailingJobIsRetriedWithGrowingBackOffThenFailsWithItsError() async throws {
        try await TestDatabase.sqlite.with { database in
            let store = Store(database: database)
            let times = Times()
            let calls = Mutex(0)
            let runner = runner(store, times, handlers: ["work": { _ in
                calls.withLock { $0 += 1 }
                throw TestError("the model is down")
            }])
            let queued = job(at: times.now())
            _ = try await store.write { try await $0.jobs.enqueue(queued) }

            #expect(await runner.runNext())
            #expect(await !runner.runNext(), "not before its back-off")
            times.clock.advance(by: .seconds(2))
            #expect(await runner.runNext())
            times.clock.advance(by: .seconds(2))
            #expect(await !runner.runNext(), "the second back-off is twice the first")
            times.clock.advance(by: .seconds(2))
            #expect(await runner.runNext())
            let failed = try await store.read { try await $0.jobs.get(queued.id) }
            #expect(failed?.state == .failed)
            #expect(failed?.lastError?.contains("the model is down") == true)
            #expect(calls.withLock { $0 } == 3)
        }
    }

    @Test func aJobOfAKindWithoutHandlerIsLeftForARunnerThatHasOne() async throws {
        try await TestDatabase.sqlite.with { database in
            let store = Store(database: database)
            let times = Times()
            let queued = job(kind: "newer", at: times.now())
            _ = try await store.write { try await $0.jobs.enqueue(queued) }
            #expect(await !runner(store, times, handlers: ["work": { _ in }]).runNext())
            #expect(try await store.read { try await $0.jobs.get(queued.id) }?.state == .queued)
            #expect(await runner(store, times, handlers: ["newer": { _ in }]).runNext())
            #expect(try await store.read { try await $0.jobs.get(queued.id) }?.state == .succeeded)
        }
    }

    @Test func aJobWhoseRunnerDiedRunsOnceMoreAfterItsLeaseExpires() async throws {
        try await TestDatabase.sqlite.with { database in
            let store = Store(database: database)
            let times = Times()
            let calls = Mutex(0)
            let runner = runner(store, times, handlers: ["work": { _ in calls.withLock { $0 += 1 } }])
            let queued = job(at: times.now())
            _ = try await store.write { try await $0.jobs.enqueue(queued) }
            let now = times.now()
            _ = try await store.write { try await $0.jobs.claim(owner: "crashed", kinds: ["work"], until: now.addingTimeInterval(60), now: now) }

            #expect(await !runner.runNext())
            times.clock.advance(by: .seconds(61))
            #expect(await runner.runNext())
            #expect(await !runner.runNext())
            #expect(calls.withLock { $0 } == 1)
            let done = try await store.read { try await $0.jobs.get(queued.id) }
            #expect(done?.state == .succeeded)
            #expect(done?.attempts == 2)
        }
    }

    @Test func aWokenRunnerRunsANewJobWithoutWaitingForItsPoll() async throws {
        try await TestDatabase.sqlite.with { database in
            let store = Store(database: database)
            let times = Times()
            let (ran, ranContinuation) = AsyncStream.makeStream(of: String.self)
            let runner = runner(store, times, handlers: ["work": { job in ranContinuation.yield(job.id) }])
            let loop = Task { try await runner.run() }
            defer { loop.cancel() }
            // Both workers found nothing and wait (the manual clock never reaches their poll).
            await times.clock.sleepers(atLeast: 2)
            let queued = job(at: times.now())
            _ = try await store.write { try await $0.jobs.enqueue(queued) }
            runner.wake()
            var iterator = ran.makeAsyncIterator()
            #expect(await iterator.next() == queued.id)
        }
    }
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite("Wake signal")
struct WakeSignalTests {
    @Test func aCancelledWaitLeavesTheSignalWaitingForItsNextRing() async {
        let signal = WakeSignal()
        let cancelled = Task { await signal.wait() }
        cancelled.cancel()
        await cancelled.value
        // The next wait waits (a finished stream would return at once, and an idle job runner would spin).
        let next = Task { await signal.wait() }
        while !signal.isWaiting { await Task.yield() }
        signal.ring()
        await next.value
        #expect(!signal.isWaiting)
    }

    @Test func aRingBeforeTheWaitIsKeptAndSeveralCountAsOne() async {
        let signal = WakeSignal()
        signal.ring()
        signal.ring()
        await signal.wait()
        let next = Task { await signal.wait() }
        while !signal.isWaiting { await Task.yield() }
        #expect(signal.isWaiting)
        next.cancel()
        await next.value
    }
}
