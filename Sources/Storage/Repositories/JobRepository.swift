import Foundation
import SQLKit

/// A durable job: work that outlives the request that asked for it (post-conversation analysis,
/// later metrics, webhooks and simulations).
public struct JobRecord: Sendable, Hashable {
    public enum State: String, Sendable, CaseIterable {
        /// Waiting for `runAfter`, or for a runner.
        case queued
        /// Claimed by `leaseOwner` until `leaseExpires`.
        case running
        case succeeded
        /// Out of attempts; `lastError` says why.
        case failed
    }

    public var id: String
    public var orgID: String
    /// What runs it, e.g. `extract-memories`.
    public var kind: String
    /// What it is about (a conversation id), to find a subject's jobs.
    public var subject: String
    /// The kind's input, as JSON.
    public var payload: String
    /// At most one job per key: enqueueing a key again returns the first job.
    public var idempotencyKey: String?
    public var state: State
    public var attempts: Int
    public var maxAttempts: Int
    public var runAfter: Date
    public var leaseOwner: String?
    public var leaseExpires: Date?
    public var lastError: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, orgID: String, kind: String, subject: String, payload: String = "{}", idempotencyKey: String? = nil,
        maxAttempts: Int = 5, runAfter: Date, createdAt: Date
    ) {
        self.id = id
        self.orgID = orgID
        self.kind = kind
        self.subject = subject
        self.payload = payload
        self.idempotencyKey = idempotencyKey
        self.state = .queued
        self.attempts = 0
        self.maxAttempts = maxAttempts
        self.runAfter = runAfter
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }
}

/// The job queue. One SQL text for both databases; on PostgreSQL a claim skips rows another
/// transaction has locked (`FOR UPDATE SKIP LOCKED`), so replicas claim different jobs without waiting.
///
/// Rules:
/// - A claim takes, among the kinds the claimer runs, the queued job whose `runAfter` passed longest
///   ago, or a running job whose lease expired (its runner died), counts an attempt, and leases it to
///   the claimer.
/// - Only the lease owner completes, fails or extends a job; after its lease passed to another runner
///   the first one's outcome is refused (false).
public struct JobRepository: Sendable {
    let sql: any SQLDatabase

    static let columns = """
        id, org_id, kind, subject, payload, idempotency_key, state, attempts, max_attempts, run_after, lease_owner, \
        lease_expires, last_error, created_at, updated_at
        """

    /// Stores `job` unless a job with its idempotency key exists; returns the stored job's id and
    /// whether it is the new one.
    public func enqueue(_ job: JobRecord) async throws -> (id: String, inserted: Bool) {
        let inserted = try await sql.raw("""
            INSERT INTO jobs (\(unsafeRaw: Self.columns)) VALUES (\(bind: job.id), \(bind: job.orgID), \(bind: job.kind), \
            \(bind: job.subject), \(bind: job.payload), \(bind: job.idempotencyKey), \(bind: job.state.rawValue), \(bind: job.attempts), \
            \(bind: job.maxAttempts), \(bind: job.runAfter.timeIntervalSince1970), NULL, NULL, NULL, \
            \(bind: job.createdAt.timeIntervalSince1970), \(bind: job.updatedAt.timeIntervalSince1970))
            ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
            """).first() != nil
        if inserted { return (job.id, true) }
        guard let key = job.idempotencyKey,
              let existing = try await sql.raw("SELECT id FROM jobs WHERE idempotency_key = \(bind: key)").first()
        else { return (job.id, false) }
        return (try existing.decode(column: "id", as: String.self), false)
    }

    /// Claims the next runnable job of one of `kinds` for `owner` until `until` (see the rules). A
    /// runner names the kinds it can run: a replica of an older version leaves newer kinds alone.
    public func claim(owner: String, kinds: [String], until: Date, now: Date) async throws -> JobRecord? {
        guard !kinds.isEmpty else { return nil }
        let skipLocked = sql.dialect.name == "postgresql" ? " FOR UPDATE SKIP LOCKED" : ""
        let nowSeconds = now.timeIntervalSince1970
        return try await sql.raw("""
            UPDATE jobs SET state = 'running', lease_owner = \(bind: owner), lease_expires = \(bind: until.timeIntervalSince1970), \
            attempts = attempts + 1, updated_at = \(bind: nowSeconds)
            WHERE id = (SELECT id FROM jobs WHERE kind IN \(SQLGroupExpression(kinds.map { SQLBind($0) })) \
            AND ((state = 'queued' AND run_after <= \(bind: nowSeconds)) OR (state = 'running' AND lease_expires < \(bind: nowSeconds))) \
            ORDER BY run_after, id LIMIT 1\(unsafeRaw: skipLocked))
            RETURNING \(unsafeRaw: Self.columns)
            """).first().map(Self.record)
    }

    /// Marks `owner`'s job done.
    public func complete(_ id: String, owner: String, now: Date) async throws -> Bool {
        try await sql.raw("""
            UPDATE jobs SET state = 'succeeded', lease_owner = NULL, lease_expires = NULL, last_error = NULL, \
            updated_at = \(bind: now.timeIntervalSince1970)
            WHERE id = \(bind: id) AND state = 'running' AND lease_owner = \(bind: owner) RETURNING id
            """).first() != nil
    }

    /// Records `owner`'s failed attempt: queued again at `retryAt`, or failed for good when nil.
    public func fail(_ id: String, owner: String, error: String, retryAt: Date?, now: Date) async throws -> Bool {
        try await sql.raw("""
            UPDATE jobs SET state = \(bind: retryAt == nil ? "failed" : "queued"), lease_owner = NULL, lease_expires = NULL, \
            last_error = \(bind: error), run_after = \(bind: (retryAt ?? now).timeIntervalSince1970), \
            updated_at = \(bind: now.timeIntervalSince1970)
            WHERE id = \(bind: id) AND state = 'running' AND lease_owner = \(bind: owner) RETURNING id
            """).first() != nil
    }

    /// Moves `owner`'s lease on a running job to `until`.
    public func extend(_ id: String, owner: String, until: Date) async throws -> Bool {
        try await sql.raw("""
            UPDATE jobs SET lease_expires = \(bind: until.timeIntervalSince1970)
            WHERE id = \(bind: id) AND state = 'running' AND lease_owner = \(bind: owner) RETURNING id
            """).first() != nil
    }

    /// Queues every running job again (their runner is gone: a process restarting on its own SQLite
    /// file). The attempts they used are kept.
    public func releaseRunning(now: Date) async throws {
        try await sql.raw("""
            UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires = NULL, run_after = \(bind: now.timeIntervalSince1970), \
            updated_at = \(bind: now.timeIntervalSince1970) WHERE state = 'running'
            """).run()
    }

    /// Queues a failed job again with fresh attempts.
    public func requeue(_ id: String, now: Date) async throws {
        try await sql.raw("""
            UPDATE jobs SET state = 'queued', attempts = 0, run_after = \(bind: now.timeIntervalSince1970), \
            updated_at = \(bind: now.timeIntervalSince1970) WHERE id = \(bind: id) AND state = 'failed'
            """).run()
    }

    public func get(_ id: String) async throws -> JobRecord? {
        try await sql.raw("SELECT \(unsafeRaw: Self.columns) FROM jobs WHERE id = \(bind: id)").first().map(Self.record)
    }

    /// The jobs about `subject`, oldest first.
    public func jobs(subject: String, orgID: String) async throws -> [JobRecord] {
        try await sql.raw("""
            SELECT \(unsafeRaw: Self.columns) FROM jobs WHERE subject = \(bind: subject) AND org_id = \(bind: orgID) ORDER BY created_at, id
            """).all().map(Self.record)
    }

    /// How many jobs are in each state.
    public func counts() async throws -> [JobRecord.State: Int] {
        var counts: [JobRecord.State: Int] = [:]
        for row in try await sql.raw("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").all() {
            if let state = JobRecord.State(rawValue: try row.decode(column: "state", as: String.self)) {
                counts[state] = try row.decode(column: "n", as: Int.self)
            }
        }
        return counts
    }

    static func record(_ row: any SQLRow) throws -> JobRecord {
        func date(_ column: String) throws -> Date? {
            try row.decode(column: column, as: Double?.self).map(Date.init(timeIntervalSince1970:))
        }
        var job = JobRecord(
            id: try row.decode(column: "id", as: String.self), orgID: try row.decode(column: "org_id", as: String.self),
            kind: try row.decode(column: "kind", as: String.self), subject: try row.decode(column: "subject", as: String.self),
            payload: try row.decode(column: "payload", as: String.self),
            idempotencyKey: try row.decode(column: "idempotency_key", as: String?.self),
            maxAttempts: try row.decode(column: "max_attempts", as: Int.self),
            runAfter: try date("run_after") ?? Date(timeIntervalSince1970: 0),
            createdAt: try date("created_at") ?? Date(timeIntervalSince1970: 0)
        )
        job.state = JobRecord.State(rawValue: try row.decode(column: "state", as: String.self)) ?? .failed
        job.attempts = try row.decode(column: "attempts", as: Int.self)
        job.leaseOwner = try row.decode(column: "lease_owner", as: String?.self)
        job.leaseExpires = try date("lease_expires")
        job.lastError = try row.decode(column: "last_error", as: String?.self)
        job.updatedAt = try date("updated_at") ?? job.createdAt
        return job
    }
}
