import EngineTesting
import Platform
import Synchronization
import Testing

/// A gate a test opens to let work go on.
private final class Gate: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (stream, continuation) = AsyncStream<Void>.makeStream() }

    func open() { continuation.finish() }
    func wait() async { for await _ in stream {} }
}

@Suite("Workload (graceful shutdown)")
struct WorkloadTests {
    @Test func aDrainWaitsForRunningWorkAndAdmitsNothingNew() async throws {
        let workload = Workload()
        let clock = ManualClock()
        let gate = Gate()
        let ticket = try workload.admit()
        let work = Task { await ticket.run { await gate.wait(); return "finished" } }
        let drain = Task { await workload.drain(grace: .seconds(10), clock: clock) }
        await clock.sleepers(atLeast: 1)  // the drain's grace timer is armed
        #expect(workload.isDraining)
        #expect(throws: PlatformError.self) { try workload.admit() }
        gate.open()
        #expect(await work.value == "finished")
        await drain.value
        #expect(workload.count == 0)
    }

    @Test func workStillRunningWhenTheGracePeriodEndsIsCancelled() async throws {
        let workload = Workload()
        let clock = ManualClock()
        let ticket = try workload.admit()
        let work = Task {
            await ticket.run { () -> String in
                do {
                    try await clock.sleep(for: .seconds(60))
                    return "finished"
                } catch {
                    return "cancelled"
                }
            }
        }
        await clock.sleepers(atLeast: 1)
        let drain = Task { await workload.drain(grace: .seconds(1), clock: clock) }
        await clock.sleepers(atLeast: 2)
        clock.advance(by: .seconds(1))
        #expect(await work.value == "cancelled")
        await drain.value
        #expect(workload.count == 0)
    }

    @Test func aDrainAsksLongLivedWorkToWindDownOnce() async throws {
        let workload = Workload()
        let clock = ManualClock()
        let asked = Atomic<Int>(0)
        let gate = Gate()
        let ticket = try workload.admit(windDown: {
            asked.add(1, ordering: .relaxed)
            gate.open()
        })
        let session = Task {
            await gate.wait()  // a socket that closes when asked to
            ticket.end()
        }
        await workload.drain(grace: .seconds(10), clock: clock)
        await session.value
        #expect(asked.load(ordering: .relaxed) == 1)
    }

    @Test func aDrainWithNothingRunningEndsAtOnce() async {
        let workload = Workload()
        await workload.drain(grace: .seconds(10), clock: ManualClock())
        #expect(workload.isDraining)
    }

    @Test func aDroppedTicketEndsItsWork() async throws {
        let workload = Workload()
        do {
            _ = try workload.admit()
        }
        #expect(workload.count == 0)
    }
}
