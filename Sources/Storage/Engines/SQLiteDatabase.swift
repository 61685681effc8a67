import Logging
import SQLKit
import ServiceLifecycle

/// The embedded default: one SQLite file in WAL mode behind one connection.
///
/// SQLite has a single writer, so one connection serialized by an async lock is both correct
/// (a transaction never interleaves with another task's statements) and fast for this workload: each
/// statement runs on the calling thread (`SQLiteFile`), so a session holds the lock only for the
/// microseconds its statements take.
public final class SQLiteDatabase: Database {
    public let kind = DatabaseKind.sqlite
    private let file: SQLiteFile
    private let session: SQLiteSession
    private let lock = AsyncLock()

    private init(file: SQLiteFile, logger: Logger) {
        self.file = file
        // How long a statement waits for another process that holds the file's lock.
        self.session = SQLiteSession(file: file, logger: logger, busyTimeout: .seconds(5))
    }

    /// Opens (creating if needed) the database file at `path`; `:memory:` gives a private in-memory database.
    public static func open(path: String, logger: Logger) async throws -> SQLiteDatabase {
        let file = try SQLiteFile(path: path.isEmpty ? ":memory:" : path)
        let database = SQLiteDatabase(file: file, logger: logger)
        try await database.withSession { sql in
            for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"] {
                try await sql.raw(SQLQueryString(pragma)).run()
            }
        }
        return database
    }

    public func withSession<Result: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        try await lock.withLock { try await body(session) }
    }

    /// Serves until the service group shuts down, then closes the file.
    public func run() async throws {
        try? await gracefulShutdown()
        try await close()
    }

    public func close() async throws {
        // After any session that is running: closing under it would cut its statements.
        try await lock.withLock { file.close() }
    }
}
