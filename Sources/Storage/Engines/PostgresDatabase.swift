import Logging
import PostgresKit
import SQLKit

/// The scale-out engine: a PostgresNIO connection pool shared by any number of `compadre serve` replicas.
public final class PostgresDatabase: Database {
    public let kind = DatabaseKind.postgres
    private let client: PostgresClient
    private let runTask: Task<Void, Never>

    private init(client: PostgresClient) {
        self.client = client
        self.runTask = Task { await client.run() }
    }

    /// Connects to `postgres://user:pass@host:port/db` and checks the server answers.
    public static func connect(url: String, logger: Logger) async throws -> PostgresDatabase {
        let core = try SQLPostgresConfiguration(url: url).coreConfiguration
        guard let host = core.host else { throw StorageError.unsupportedURL(url) }
        var configuration = PostgresClient.Configuration(
            host: host, port: core.port ?? 5432, username: core.username, password: core.password, database: core.database, tls: .disable
        )
        configuration.options.maximumConnections = 16
        let database = PostgresDatabase(client: PostgresClient(configuration: configuration, backgroundLogger: logger))
        do {
            _ = try await database.withSession { sql in try await sql.raw("SELECT 1 AS one").first() }
        } catch {
            try? await database.close()
            throw error
        }
        return database
    }

    public func withSession<Result: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        try await client.withConnection { connection in
            try await body(connection.sql(queryLogLevel: nil))
        }
    }

    public func close() async throws {
        runTask.cancel()
        await runTask.value
    }
}
