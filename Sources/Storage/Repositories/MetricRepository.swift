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

    // MARK: - Results

    /// Stores a result; a `manual` or `post-session` one replaces the earlier result of the same source
    /// type for the same conversation and metric.
    public func save(_ result: MetricEvaluationResultInstance) async throws {
        if let conversationID = result.source.conversationID {
            try await sql.raw("""
                DELETE FROM metric_results WHERE org_id = \(bind: result.orgID) AND metric_id = \(bind: result.metricID) \
                AND conversation_id = \(bind: conversationID) AND source_type = \(bind: result.source.type)
                """).run()
        }
        try await sql.raw("""
            INSERT INTO metric_results (id, org_id, metric_id, source_type, conversation_id, run_id, created_at, doc) VALUES \
            (\(bind: result.id), \(bind: result.orgID), \(bind: result.metricID), \(bind: result.source.type), \
            \(bind: result.source.conversationID), \(bind: result.source.runID), \(bind: result.createdAt.timeIntervalSince1970), \
            \(bind: try Documents.encode(result)))
            """).run()
    }

    /// A page of results matching `filter`, by creation time (newest first unless `ascending`).
    public func results(orgID: String, filter: MetricResultFilter, ascending: Bool, page: PageRequest) async throws -> PageResult<MetricEvaluationResultInstance> {
        let rows = try await filter.apply(to: sql.select().column("doc").from("metric_results"), orgID: orgID)
            .orderBy("created_at", ascending ? .ascending : .descending).orderBy("id", ascending ? .ascending : .descending)
            .paged(page).all()
        return PageResult(fetched: try rows.map { try Documents.decode(MetricEvaluationResultInstance.self, from: $0) }, page: page)
    }

    /// The metrics that the results matching `filter` are for.
    public func resultMetricIDs(orgID: String, filter: MetricResultFilter) async throws -> [String] {
        try await filter.apply(to: sql.select().distinct().column("metric_id").from("metric_results"), orgID: orgID)
            .orderBy("metric_id").all().map { try $0.decode(column: "metric_id", as: String.self) }
    }
}

/// Filters of the metric results listing.
public struct MetricResultFilter: Sendable {
    public var metricIDs: [String] = []
    public var sourceTypes: [String] = []
    public var conversationIDs: [String] = []
    public var runIDs: [String] = []
    public var after: Date?
    public var before: Date?

    public init() {}

    func apply(to query: SQLSelectBuilder, orgID: String) -> SQLSelectBuilder {
        var query = query.where("org_id", .equal, orgID)
        if !metricIDs.isEmpty { query = query.where("metric_id", .in, metricIDs) }
        if !sourceTypes.isEmpty { query = query.where("source_type", .in, sourceTypes) }
        if !conversationIDs.isEmpty { query = query.where("conversation_id", .in, conversationIDs) }
        if !runIDs.isEmpty { query = query.where("run_id", .in, runIDs) }
        if let after { query = query.where("created_at", .greaterThan, after.timeIntervalSince1970) }
        if let before { query = query.where("created_at", .lessThan, before.timeIntervalSince1970) }
        return query
    }
}
