import Foundation
import SQLKit

/// Named leases with an expiry, shared by every process on the database: "one operation at a time per
/// conversation" and "one realtime connection per user and service" hold across `compadre serve` replicas.
///
/// A lease is held by `holder` while `now < expires_at`; from `expires_at` on it is free, so a crashed
/// process locks nobody out for longer than the lease it last took or renewed. Every call takes the time
/// from its caller (never the database's or the process's clock inside), so tests drive expiry without
/// sleeping; replicas are assumed to have clocks in sync to well within a lease's duration.
///
/// Each call is one statement, atomic on its own: it needs no transaction around it.
public struct LeaseRepository: Sendable {
    let sql: any SQLDatabase

    /// Takes `key` for `holder` until `expiresAt` if it is free, expired, or already held by `holder`
    /// (re-acquiring your own live lease succeeds and moves its expiry to `expiresAt`, so an acquire retried
    /// after its answer was lost does not lock its own caller out).
    ///
    /// Returns whether `holder` holds the lease now. Of any number of concurrent callers, at most one
    /// holder wins: insert and takeover are one `INSERT … ON CONFLICT DO UPDATE … WHERE` statement.
    public func acquire(_ key: String, holder: String, until expiresAt: Date, now: Date) async throws -> Bool {
        try await sql.raw("""
            INSERT INTO leases (key, holder, expires_at) VALUES (\(bind: key), \(bind: holder), \(bind: expiresAt.timeIntervalSince1970))
            ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
            WHERE leases.expires_at <= \(bind: now.timeIntervalSince1970) OR leases.holder = excluded.holder
            RETURNING holder
            """).first() != nil
    }

    /// Moves the expiry of `holder`'s lease on `key` to `expiresAt`; returns false when `holder` no longer
    /// holds it (released, or expired and taken over by another holder).
    ///
    /// A lease that expired but that nobody took over is renewed: no other holder overlapped with it.
    public func renew(_ key: String, holder: String, until expiresAt: Date) async throws -> Bool {
        try await sql.raw("""
            UPDATE leases SET expires_at = \(bind: expiresAt.timeIntervalSince1970)
            WHERE key = \(bind: key) AND holder = \(bind: holder)
            RETURNING key
            """).first() != nil
    }

    /// Frees `key` if `holder` holds it; a lease another holder took over is left alone.
    public func release(_ key: String, holder: String) async throws {
        try await sql.delete(from: "leases").where("key", .equal, key).where("holder", .equal, holder).run()
    }

    /// Who holds `key` at `now`; nil when it is free or expired.
    public func holder(of key: String, now: Date) async throws -> String? {
        try await sql.select().column("holder").from("leases")
            .where("key", .equal, key).where("expires_at", .greaterThan, now.timeIntervalSince1970)
            .first()
            .map { try $0.decode(column: "holder", as: String.self) }
    }

    /// Drops every lease. Only for a database no other process uses (an embedded SQLite file at start-up),
    /// where every lease left behind belongs to a process that is gone.
    public func removeAll() async throws {
        try await sql.delete(from: "leases").run()
    }
}
