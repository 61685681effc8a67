import Logging
import PostgresKit
import SQLKit
import ServiceLifecycle
import Synchronization

/// The scale-out engine: a PostgresNIO connection pool shared by any number of `compadre serve` replicas.
public final class PostgresDatabase: Database {
    public let kind = DatabaseKind.postgres
    private let client: PostgresClient
    /// The pool's run when it runs itself (``connect(url:logger:)``), not in a service group.
    private let runTask = Mutex<Task<Void, Never>?>(nil)

    private init(client: PostgresClient) {
        self.client = client
    }

    /// The pool of `postgres://user:pass@host:port/db`, for a service group to run.
    public static func pool(url: String, logger: Logger) throws -> PostgresDatabase {
        PostgresDatabase(client: PostgresClient(configuration: try configuration(url), backgroundLogger: logger))
    }

    /// Connects to `postgres://user:pass@host:port/db`, runs the pool in a task of its own until
    /// ``close()``, and checks the server answers.
    public static func connect(url: String, logger: Logger) async throws -> PostgresDatabase {
        let database = try pool(url: url, logger: logger)
        let client = database.client
        database.runTask.withLock { $0 = Task { await client.run() } }
        do {
            _ = try await database.withSession { sql in try await sql.raw("SELECT 1 AS one").first() }
        } catch {
            try? await database.close()
            throw error
        }
        return database
    }

    private static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        let core = try SQLPostgresConfiguration(url: url).coreConfiguration
        guard let host = core.host else { throw StorageError.unsupportedURL(url) }
        var configuration = PostgresClient.Configuration(
            host: host, port: core.port ?? 5432, username: core.username, password: core.password, database: core.database, tls: .disable
        )
        configuration.options.maximumConnections = 16
        return configuration
    }

    /// Runs the pool until the service group shuts down.
    public func run() async {
        await client.run()
    }

    public func withSession<Result: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        do {
            return try await client.withConnection { connection in
                try await body(connection.sql(queryLogLevel: nil))
            }
        } catch let error as PSQLError where Self.unstorableTextStates.contains(error.serverInfo?[.sqlState] ?? "") {
            throw StorageError.unstorableText
        }
    }

    /// `invalid byte sequence` (NUL in text) and `untranslatable character` (`\u0000` in JSON).
    private static let unstorableTextStates: Set<String> = ["22021", "22P05"]

    public func close() async throws {
        guard let task = runTask.withLock({ $0.take() }) else { return }
        task.cancel()
        await task.value
    }
}
