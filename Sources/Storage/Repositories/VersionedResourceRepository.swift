import AmigoWire
import Foundation
import SQLKit

/// Agents and context graphs: a named container with numbered, immutable versions.
public struct VersionedResourceRepository<Version: Codable & Sendable>: Sendable {
    let sql: any SQLDatabase
    let table: String
    let versionTable: String
    let parentColumn: String

    public func insert(_ resource: VersionedResourceInstance, orgID: String) async throws {
        try await sql.insert(into: table).columns("id", "org_id", "name", "deprecated", "latest_version")
            .values(SQLBind(resource.id), SQLBind(orgID), SQLBind(resource.name), SQLBind(resource.deprecated), SQLBind(resource.latestVersion))
            .run()
    }

    public func get(id: String, orgID: String) async throws -> VersionedResourceInstance? {
        try await sql.select().columns("id", "name", "deprecated", "latest_version").from(table)
            .where("id", .equal, id).where("org_id", .equal, orgID).first().map(Self.instance)
    }

    public func find(name: String, orgID: String) async throws -> VersionedResourceInstance? {
        try await sql.select().columns("id", "name", "deprecated", "latest_version").from(table)
            .where("name", .equal, name).where("org_id", .equal, orgID).first().map(Self.instance)
    }

    public func list(orgID: String, ids: [String], deprecated: Bool?, page: PageRequest) async throws -> PageResult<VersionedResourceInstance> {
        let query = sql.select().columns("id", "name", "deprecated", "latest_version").from(table).where("org_id", .equal, orgID)
        if !ids.isEmpty { query.where("id", .in, ids) }
        if let deprecated { query.where("deprecated", .equal, deprecated) }
        return PageResult(fetched: try await query.orderBy("id").paged(page).all().map(Self.instance), page: page)
    }

    public func setDeprecated(id: String, orgID: String) async throws {
        try await sql.update(table).set("deprecated", to: true).where("id", .equal, id).where("org_id", .equal, orgID).run()
    }

    /// Stores version `number` of resource `id` and makes it the latest.
    public func insertVersion(_ version: Version, number: Int, of id: String, orgID: String) async throws {
        try await sql.insert(into: versionTable).columns(parentColumn, "version", "org_id", "doc")
            .values(SQLBind(id), SQLBind(number), SQLBind(orgID), SQLBind(try Documents.encode(version))).run()
        try await sql.update(table).set("latest_version", to: number).where("id", .equal, id).run()
    }

    public func version(_ number: Int, of id: String, orgID: String) async throws -> Version? {
        try await sql.select().column("doc").from(versionTable)
            .where(SQLIdentifier(parentColumn), .equal, SQLBind(id)).where("version", .equal, number).where("org_id", .equal, orgID).first()
            .map { try Documents.decode(Version.self, from: $0) }
    }

    /// The versions selected by `range` (nil = all), sorted by version.
    public func versions(of id: String, orgID: String, range: ClosedRange<Int>?, ascending: Bool, page: PageRequest) async throws -> PageResult<Version> {
        let query = sql.select().column("doc").from(versionTable)
            .where(SQLIdentifier(parentColumn), .equal, SQLBind(id)).where("org_id", .equal, orgID)
        if let range {
            query.where("version", .greaterThanOrEqual, range.lowerBound).where("version", .lessThanOrEqual, range.upperBound)
        }
        let rows = try await query.orderBy("version", ascending ? .ascending : .descending).paged(page).all()
        return PageResult(fetched: try rows.map { try Documents.decode(Version.self, from: $0) }, page: page)
    }

    private static func instance(_ row: any SQLRow) throws -> VersionedResourceInstance {
        VersionedResourceInstance(
            id: try row.decode(column: "id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            deprecated: try row.decode(column: "deprecated", as: Bool.self),
            latestVersion: try row.decodeNil(column: "latest_version") ? nil : try row.decode(column: "latest_version", as: Int.self)
        )
    }
}

/// Filters of the service listing. Tag filters are `key:value`, `key:*` (any value) or `key:` (no value).
public struct ServiceFilter: Sendable {
    public var ids: [String]
    public var isActive: Bool?
    public var tags: [String]
    public init(ids: [String] = [], isActive: Bool? = nil, tags: [String] = []) {
        self.ids = ids
        self.isActive = isActive
        self.tags = tags
    }

    func matchesTags(_ service: Service) -> Bool {
        tags.allSatisfy { TagMatch($0).matches(service.tags) }
    }
}

public struct ServiceRepository: Sendable {
    let sql: any SQLDatabase
    let touched: TouchedOrganizations?

    public func insert(_ service: Service, orgID: String) async throws {
        touched?.touch(orgID)
        try await sql.insert(into: "services").columns("id", "org_id", "name", "is_active", "agent_id", "context_graph_id", "doc")
            .values(
                SQLBind(service.id), SQLBind(orgID), SQLBind(service.name), SQLBind(service.isActive),
                SQLBind(service.agentID), SQLBind(service.contextGraphID), SQLBind(try Documents.encode(service))
            ).run()
    }

    public func update(_ service: Service, orgID: String) async throws {
        touched?.touch(orgID)
        try await sql.update("services").set("name", to: service.name).set("is_active", to: service.isActive)
            .set("agent_id", to: service.agentID).set("context_graph_id", to: service.contextGraphID)
            .set("doc", to: try Documents.encode(service))
            .where("id", .equal, service.id).where("org_id", .equal, orgID).run()
    }

    public func get(id: String, orgID: String) async throws -> Service? {
        try await sql.select().column("doc").from("services").where("id", .equal, id).where("org_id", .equal, orgID).first()
            .map { try Documents.decode(Service.self, from: $0) }
    }

    /// Whether an active service named `name` exists (other than `excluding`).
    public func activeServiceExists(name: String, orgID: String, excluding: String? = nil) async throws -> Bool {
        let query = sql.select().column("id").from("services").where("org_id", .equal, orgID)
            .where("name", .equal, name).where("is_active", .equal, true)
        if let excluding { query.where("id", .notEqual, excluding) }
        return try await query.first() != nil
    }

    /// Whether an active service uses the agent or context graph `id`.
    public func activeServiceUses(column: String, id: String, orgID: String) async throws -> Bool {
        try await sql.select().column("id").from("services").where("org_id", .equal, orgID)
            .where(SQLIdentifier(column), .equal, SQLBind(id)).where("is_active", .equal, true).first() != nil
    }

    /// Services matching `filter`, plus every distinct `key:value` tag of the organization's services.
    public func list(orgID: String, filter: ServiceFilter, sort: [SortKey], page: PageRequest) async throws -> PageResult<Service> {
        let query = sql.select().column("doc").from("services").where("org_id", .equal, orgID)
        if !filter.ids.isEmpty { query.where("id", .in, filter.ids) }
        if let isActive = filter.isActive { query.where("is_active", .equal, isActive) }
        query.sorted(by: sort, then: "id")
        if filter.tags.isEmpty {
            return PageResult(fetched: try await query.paged(page).all().map { try Documents.decode(Service.self, from: $0) }, page: page)
        }
        let all = try await query.all().map { try Documents.decode(Service.self, from: $0) }.filter(filter.matchesTags)
        return PageResult(all: all, page: page)
    }

    /// Every distinct tag of the organization's services, as `key:value` (or `key:` for no value).
    public func tagValues(orgID: String) async throws -> [String] {
        let services = try await sql.select().column("doc").from("services").where("org_id", .equal, orgID).all()
            .map { try Documents.decode(Service.self, from: $0) }
        return Set(services.flatMap { $0.tags.map { "\($0.key):\($0.value ?? "")" } }).sorted()
    }
}
