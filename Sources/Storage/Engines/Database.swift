import Logging
import SQLKit
import ServiceLifecycle

/// Which SQL engine a database runs on; migrations and a few queries differ by dialect.
public enum DatabaseKind: String, Sendable {
    case sqlite
    case postgres
}

/// A connection to Compadre's database. Two implementations exist: `SQLiteDatabase` (embedded default)
/// and `PostgresDatabase` (scale-out). Repositories are written once against SQLKit and run on both.
///
/// A database is a `Service`: in a service group it runs its connections (PostgreSQL's pool) until
/// the group shuts down, then closes. Outside one (commands, tests) `DatabaseURL.open` gives a database
/// that runs itself until `close()`.
public protocol Database: Service {
    var kind: DatabaseKind { get }

    /// Runs `body` on one session (one connection), so consecutive statements see each other.
    func withSession<Result: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result

    /// Releases every connection; the database must not be used afterwards.
    func close() async throws
}

extension Database {
    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    public func withTransaction<Result: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        let begin = kind == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN"
        return try await withSession { sql in
            try await sql.raw(SQLQueryString(begin)).run()
            do {
                let result = try await body(sql)
                try await sql.raw("COMMIT").run()
                return result
            } catch {
                // Not cancellable: a cancelled task gives up waiting (a pool, a locked file), and a
                // ROLLBACK not sent would leave the connection inside this transaction for every later
                // session on it.
                await Task { try? await sql.raw("ROLLBACK").run() }.value
                throw error
            }
        }
    }

    /// Waits until the database answers (a pool that has just started, a server that is starting), at
    /// most `timeout`; throws the last failure after that.
    public func waitUntilReachable(timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                _ = try await withSession { sql in try await sql.raw("SELECT 1 AS one").first() }
                return
            } catch {
                if ContinuousClock.now >= deadline { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Whether the database answers a trivial query.
    public func isReachable() async -> Bool {
        do {
            return try await withSession { sql in
                try await sql.raw("SELECT 1 AS one").first() != nil
            }
        } catch {
            return false
        }
    }
}

/// Opens a database from a URL: `sqlite:PATH`, `sqlite::memory:`, or `postgres://user:pass@host:port/db`.
public enum DatabaseURL {
    /// A database that runs itself until `close()`, checked to answer.
    public static func open(_ url: String, logger: Logger) async throws -> any Database {
        if url.hasPrefix("sqlite:") {
            return try await SQLiteDatabase.open(path: sqlitePath(url), logger: logger)
        }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return try await PostgresDatabase.connect(url: url, logger: logger)
        }
        throw StorageError.unsupportedURL(url)
    }

    /// A database for a service group: its connections run while the group runs it (``Database/run()``),
    /// so it answers only once the group has started.
    public static func service(_ url: String, logger: Logger) async throws -> any Database {
        if url.hasPrefix("sqlite:") {
            return try await SQLiteDatabase.open(path: sqlitePath(url), logger: logger)
        }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return try PostgresDatabase.pool(url: url, logger: logger)
        }
        throw StorageError.unsupportedURL(url)
    }

    private static func sqlitePath(_ url: String) -> String {
        var path = String(url.dropFirst("sqlite:".count))
        if path.hasPrefix("//") { path.removeFirst(2) }
        return path
    }
}

/// Errors of the storage layer that a caller can act on.
public enum StorageError: Error, CustomStringConvertible, Sendable {
    case unsupportedURL(String)
    case corruptDocument(table: String, id: String)
    /// Text the database cannot hold (PostgreSQL refuses NUL characters and invalid UTF-8); the input
    /// was bad, nothing was stored.
    case unstorableText

    public var description: String {
        switch self {
        case .unstorableText:
            "text containing NUL characters or invalid UTF-8 cannot be stored"
        case .unsupportedURL(let url):
            "unsupported database URL '\(url)': use sqlite:PATH or postgres://user:pass@host:port/db"
        case .corruptDocument(let table, let id):
            "stored document \(table)/\(id) could not be decoded"
        }
    }
}
