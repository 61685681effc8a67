import Engine
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Storage
import Synchronization

/// Runs durable jobs (``JobRecord``) from the database: a `Service` of the group.
///
/// Rules:
/// - `concurrency` workers claim jobs (``JobRepository/claim(owner:until:now:)``) and run the handler of
///   the job's kind; a worker that finds nothing waits `pollInterval` on the clock, or until ``wake()``
///   (called after a job is enqueued in this process).
/// - A running job's lease is extended every third of `lease`; a runner that dies stops extending, and
///   any runner claims the job again once the lease has expired (counting an attempt).
/// - A handler that throws fails the attempt: the job is queued again after `backoff` doubled per
///   earlier attempt (at most `maxBackoff`), or fails for good with its error once `maxAttempts` are used.
///   Only kinds with a handler are claimed.
/// - On graceful shutdown the workers stop claiming and finish the jobs they run.
/// - Outcomes count in `compadre_jobs_total{kind,outcome}`; `compadre_jobs_queued` is the queue's depth,
///   read when a worker finds nothing to do.
public final class JobRunner: Service, Sendable {
    public typealias Handler = @Sendable (JobRecord) async throws -> Void

    public struct Configuration: Sendable {
        public var concurrency = 2
        public var lease: Duration = .seconds(300)
        public var pollInterval: Duration = .seconds(1)
        public var backoff: Duration = .seconds(2)
        public var maxBackoff: Duration = .seconds(300)
        public init() {}
    }

    let store: Store
    public let owner: String
    let configuration: Configuration
    let handlers: [String: Handler]
    let clock: AnyClock
    let now: @Sendable () -> Date
    let logger: Logger
    /// Where the model calls of jobs are logged (nil: nowhere).
    public let promptLogs: PromptLogRecorder?
    private let doorbells = Mutex<[UUID: WakeSignal]>([:])
    private let queued = Gauge(label: "compadre_jobs_queued")

    public init(
        store: Store, handlers: [String: Handler], configuration: Configuration = Configuration(), owner: String = UUID().uuidString,
        clock: AnyClock = .continuous, now: @escaping @Sendable () -> Date = { Date() }, logger: Logger, promptLogs: PromptLogRecorder? = nil
    ) {
        self.promptLogs = promptLogs
        self.store = store
        self.handlers = handlers
        self.configuration = configuration
        self.owner = owner
        self.clock = clock
        self.now = now
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<max(1, self.configuration.concurrency) {
                    group.addTask { await self.work() }
                }
            }
        }
    }

    /// Makes idle workers look for jobs now.
    public func wake() {
        for doorbell in doorbells.withLock({ Array($0.values) }) { doorbell.ring() }
    }

    private func work() async {
        let doorbell = WakeSignal()
        let id = UUID()
        doorbells.withLock { $0[id] = doorbell }
        defer { _ = doorbells.withLock { $0.removeValue(forKey: id) } }
        while !Task.isCancelled {
            if await runNext() { continue }
            await updateDepth()
            // Whichever comes first: the poll interval or a wake-up.
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await self.clock.sleep(for: self.configuration.pollInterval) }
                group.addTask { await doorbell.wait() }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// Claims one job and runs it; false when there was none (or the database did not answer).
    @discardableResult
    public func runNext() async -> Bool {
        let claimed: JobRecord?
        do {
            let now = self.now()
            let until = now.addingTimeInterval(configuration.lease.timeInterval)
            let kinds = handlers.keys.sorted()
            claimed = try await store.write { [owner] in try await $0.jobs.claim(owner: owner, kinds: kinds, until: until, now: now) }
        } catch {
            logger.warning("claiming a job failed", metadata: ["error": "\(error)"])
            return false
        }
        guard let job = claimed else { return false }
        await perform(job)
        return true
    }

    private func perform(_ job: JobRecord) async {
        let metadata: Logger.Metadata = ["job_id": "\(job.id)", "job_kind": "\(job.kind)", "attempt": "\(job.attempts)"]
        guard job.attempts <= job.maxAttempts else {
            await finish(job, error: "its runner stopped \(job.attempts - 1) times before it finished", retry: false, metadata: metadata)
            return
        }
        guard let handler = handlers[job.kind] else { return }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    if let promptLogs = self.promptLogs {
                        try await PromptLogScope(recorder: promptLogs, orgID: job.orgID, key: "job/\(job.kind)/\(job.subject)").run { try await handler(job) }
                    } else {
                        try await handler(job)
                    }
                }
                group.addTask {
                    // Keeps the lease while the handler runs.
                    while true {
                        try await self.clock.sleep(for: self.configuration.lease / 3)
                        let until = self.now().addingTimeInterval(self.configuration.lease.timeInterval)
                        let owner = self.owner
                        _ = try? await self.store.write { try await $0.jobs.extend(job.id, owner: owner, until: until) }
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            await finish(job, error: "\(error)", retry: job.attempts < job.maxAttempts, metadata: metadata)
            return
        }
        let done = try? await store.write { [owner, now] in try await $0.jobs.complete(job.id, owner: owner, now: now()) }
        Counter(label: "compadre_jobs_total", dimensions: [("kind", job.kind), ("outcome", "succeeded")]).increment()
        if done != true {
            logger.warning("a job finished after its lease passed to another runner", metadata: metadata)
        } else {
            logger.debug("job succeeded", metadata: metadata)
        }
    }

    private func finish(_ job: JobRecord, error: String, retry: Bool, metadata: Logger.Metadata) async {
        let now = self.now()
        var retryAt: Date?
        if retry {
            let factor = Double(1 << min(20, max(0, job.attempts - 1)))
            let delay = min(configuration.backoff.timeInterval * factor, configuration.maxBackoff.timeInterval)
            retryAt = now.addingTimeInterval(delay)
        }
        _ = try? await store.write { [owner, retryAt] in try await $0.jobs.fail(job.id, owner: owner, error: error, retryAt: retryAt, now: now) }
        Counter(label: "compadre_jobs_total", dimensions: [("kind", job.kind), ("outcome", retry ? "retried" : "failed")]).increment()
        var metadata = metadata
        metadata["error"] = "\(error)"
        if retry {
            logger.info("job attempt failed; it runs again later", metadata: metadata)
        } else {
            logger.error("job failed", metadata: metadata)
        }
    }

    private func updateDepth() async {
        guard let counts = try? await store.read({ try await $0.jobs.counts() }) else { return }
        queued.record(counts[.queued] ?? 0)
    }
}
