import Logging
import SQLKit
import SQLiteKit
import ServiceLifecycle

/// The embedded default: one SQLite file in WAL mode behind one connection.
///
/// SQLite has a single writer, so one connection serialized by an async lock is both correct
/// (a transaction never interleaves with another task's statements) and fast for this workload.
public final class SQLiteDatabase: Database {
    public let kind = DatabaseKind.sqlite
    private let connection: SQLiteConnection
    private let lock = AsyncLock()
    private let logger: Logger

    private init(connection: SQLiteConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// Opens (creating if needed) the database file at `path`; `:memory:` gives a private in-memory database.
    public static func open(path: String, logger: Logger) async throws -> SQLiteDatabase {
        let storage: SQLiteConnection.Storage = path == ":memory:" || path.isEmpty ? .memory : .file(path: path)
        let connection = try await SQLiteConnection.open(storage: storage, logger: logger)
        let database = SQLiteDatabase(connection: connection, logger: logger)
        try await database.withSession { sql in
            for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=5000"] {
                try await sql.raw(SQLQueryString(pragma)).run()
            }
        }
        return database
    }

    public func withSession<Result: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        let sql = connection.sql(queryLogLevel: nil)
        return try await lock.withLock { try await body(sql) }
    }

    /// Serves until the service group shuts down, then closes the file.
    public func run() async throws {
        try? await gracefulShutdown()
        try await close()
    }

    public func close() async throws {
        guard !connection.isClosed else { return }
        try await connection.close()
    }
}
