import AmigoWire
import Foundation
import SQLKit

/// The organization's metrics. A deleted metric stays (its id still reads), but its name is free again.
public struct MetricRepository: Sendable {
    let sql: any SQLDatabase

    public func insert(_ metric: MetricInstance) async throws {
        try await sql.raw("""
            INSERT INTO metrics (id, org_id, name, is_deleted, doc) VALUES (\(bind: metric.id), \(bind: metric.orgID), \
            \(bind: metric.name), \(bind: metric.isDeleted), \(bind: try Documents.encode(metric)))
            """).run()
    }

    public func update(_ metric: MetricInstance) async throws {
        try await sql.raw("""
            UPDATE metrics SET is_deleted = \(bind: metric.isDeleted), doc = \(bind: try Documents.encode(metric)) \
            WHERE id = \(bind: metric.id) AND org_id = \(bind: metric.orgID)
            """).run()
    }

    public func get(id: String, orgID: String) async throws -> MetricInstance? {
        try await sql.raw("SELECT doc FROM metrics WHERE id = \(bind: id) AND org_id = \(bind: orgID)")
            .first().map { try Documents.decode(MetricInstance.self, from: $0) }
    }

    /// The metrics of `ids` that exist in the organization, deleted ones included.
    public func get(ids: [String], orgID: String) async throws -> [MetricInstance] {
        guard !ids.isEmpty else { return [] }
        return try await sql.select().column("doc").from("metrics").where("org_id", .equal, orgID).where("id", .in, ids).all()
            .map { try Documents.decode(MetricInstance.self, from: $0) }
    }

    /// The metric named `name` that is not deleted.
    public func live(named name: String, orgID: String) async throws -> MetricInstance? {
        try await sql.raw("SELECT doc FROM metrics WHERE org_id = \(bind: orgID) AND name = \(bind: name) AND NOT is_deleted")
            .first().map { try Documents.decode(MetricInstance.self, from: $0) }
    }

    /// Every metric of the organization, deleted ones included, oldest first.
    public func all(orgID: String) async throws -> [MetricInstance] {
        try await sql.raw("SELECT doc FROM metrics WHERE org_id = \(bind: orgID) ORDER BY id").all()
            .map { try Documents.decode(MetricInstance.self, from: $0) }
    }
}
