import Foundation
import Logging
import Storage

/// The database engines a conformance test runs on: SQLite always, PostgreSQL when
/// `COMPADRE_TEST_POSTGRES_URL` names a server (CI starts one).
public enum TestDatabase: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }

    /// The engines available in this environment.
    public static var available: [TestDatabase] {
        postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]
    }

    public static var postgresURL: String? {
        ProcessInfo.processInfo.environment["COMPADRE_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A migrated database of this kind; the caller closes it. SQLite databases are private files.
    public func open() async throws -> any Database {
        var logger = Logger(label: "compadre.test")
        logger.logLevel = .warning
        let database: any Database
        switch self {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("compadre-test-\(UUID().uuidString).sqlite").path
            database = try await SQLiteDatabase.open(path: path, logger: logger)
        case .postgres:
            database = try await PostgresDatabase.connect(url: Self.postgresURL!, logger: logger)
        }
        try await Migrations.apply(to: database, logger: logger)
        return database
    }

    /// Runs `body` with a fresh migrated database and closes it afterwards.
    public func with<Result: Sendable>(_ body: (any Database) async throws -> Result) async throws -> Result {
        let database = try await open()
        do {
            let result = try await body(database)
            try await database.close()
            return result
        } catch {
            try? await database.close()
            throw error
        }
    }
}

/// A unique organization id per test, so tests sharing one PostgreSQL never see each other's data.
public func uniqueOrgID(_ prefix: String = "org") -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
}
