import AmigoWire
import Foundation
import SQLKit

/// An environment variable of a tool. `value` is what is stored: a secret's is sealed by the caller
/// (the Storage module never sees a secret in clear).
public struct ToolEnvvarRecord: Sendable, Hashable {
    public var name: String
    public var isSecret: Bool
    public var value: String
    /// Set when the variable was deleted; a name deleted recently cannot be inserted again at once.
    public var deletedAt: Date?

    public init(name: String, isSecret: Bool, value: String, deletedAt: Date? = nil) {
        self.name = name
        self.isSecret = isSecret
        self.value = value
        self.deletedAt = deletedAt
    }
}

/// Filters of the invocation listing and search (all optional; values within one filter are alternatives).
public struct ToolInvocationFilter: Sendable {
    public var toolIDs: [String] = []
    public var sourceTypes: [InvocationSource.Kind] = []
    public var conversationIDs: [String] = []
    public var succeeded: Bool?
    /// Search: a case-insensitive substring of any of `searchFields` (column names).
    public var text: String?
    public var searchFields: [String] = []

    public init(
        toolIDs: [String] = [], sourceTypes: [InvocationSource.Kind] = [], conversationIDs: [String] = [],
        succeeded: Bool? = nil, text: String? = nil, searchFields: [String] = []
    ) {
        self.toolIDs = toolIDs
        self.sourceTypes = sourceTypes
        self.conversationIDs = conversationIDs
        self.succeeded = succeeded
        self.text = text
        self.searchFields = searchFields
    }

    /// The columns a search may look in.
    public static let searchableColumns = ["output", "exception_type", "exception_message", "exception_stack_trace"]
}

/// Tools, their environment variables, published versions and invocation records. Every query is
/// scoped to one organization.
public struct ToolRepository: Sendable {
    let sql: any SQLDatabase

    // MARK: - Tools

    public func insert(_ tool: ToolInstance) async throws {
        try await sql.insert(into: "tools").columns("id", "org_id", "name", "deprecated", "doc")
            .values(SQLBind(tool.id), SQLBind(tool.orgID), SQLBind(tool.name), SQLBind(tool.deprecated), SQLBind(try Documents.encode(tool)))
            .run()
    }

    public func update(_ tool: ToolInstance) async throws {
        try await sql.update("tools").set("deprecated", to: tool.deprecated).set("doc", to: try Documents.encode(tool))
            .where("id", .equal, tool.id).where("org_id", .equal, tool.orgID).run()
    }

    public func get(id: String, orgID: String) async throws -> ToolInstance? {
        try await sql.select().column("doc").from("tools").where("id", .equal, id).where("org_id", .equal, orgID).first()
            .map { try Documents.decode(ToolInstance.self, from: $0) }
    }

    /// The organization's tool named `name` that is not deprecated.
    public func active(named name: String, orgID: String) async throws -> ToolInstance? {
        try await sql.select().column("doc").from("tools")
            .where("org_id", .equal, orgID).where("name", .equal, name).where("deprecated", .equal, false).first()
            .map { try Documents.decode(ToolInstance.self, from: $0) }
    }

    /// Every tool of the organization, by name.
    public func all(orgID: String) async throws -> [ToolInstance] {
        try await sql.select().column("doc").from("tools").where("org_id", .equal, orgID).orderBy("name").orderBy("id").all()
            .map { try Documents.decode(ToolInstance.self, from: $0) }
    }

    // MARK: - Environment variables

    /// The tool's variables, deleted ones included.
    public func envvars(toolID: String) async throws -> [ToolEnvvarRecord] {
        try await sql.select().columns("name", "is_secret", "value", "deleted_at").from("tool_envvars")
            .where("tool_id", .equal, toolID).orderBy("name").all()
            .map { row in
                ToolEnvvarRecord(
                    name: try row.decode(column: "name", as: String.self),
                    isSecret: try row.decode(column: "is_secret", as: Bool.self),
                    value: try row.decode(column: "value", as: String.self),
                    deletedAt: try row.decode(column: "deleted_at", as: Double?.self).map(Date.init(timeIntervalSince1970:))
                )
            }
    }

    /// Inserts or replaces a variable (a deleted one comes back).
    public func save(_ envvar: ToolEnvvarRecord, toolID: String) async throws {
        try await sql.delete(from: "tool_envvars").where("tool_id", .equal, toolID).where("name", .equal, envvar.name).run()
        try await sql.insert(into: "tool_envvars").columns("tool_id", "name", "is_secret", "value", "deleted_at")
            .values(
                SQLBind(toolID), SQLBind(envvar.name), SQLBind(envvar.isSecret), SQLBind(envvar.value),
                SQLBind(envvar.deletedAt?.timeIntervalSince1970)
            )
            .run()
    }

    // MARK: - Versions

    public func insert(_ version: ToolVersionInstance) async throws {
        try await sql.insert(into: "tool_versions")
            .columns("tool_id", "major", "minor", "patch", "org_id", "deprecated", "doc")
            .values(
                SQLBind(version.toolID), SQLBind(version.version.major), SQLBind(version.version.minor),
                SQLBind(version.version.patch), SQLBind(version.orgID), SQLBind(version.deprecated),
                SQLBind(try Documents.encode(version))
            )
            .run()
    }

    public func update(_ version: ToolVersionInstance) async throws {
        try await sql.update("tool_versions").set("deprecated", to: version.deprecated).set("doc", to: try Documents.encode(version))
            .where("tool_id", .equal, version.toolID).where("org_id", .equal, version.orgID)
            .where("major", .equal, version.version.major).where("minor", .equal, version.version.minor)
            .where("patch", .equal, version.version.patch)
            .run()
    }

    /// The tool's versions, oldest first.
    public func versions(toolID: String, orgID: String) async throws -> [ToolVersionInstance] {
        try await sql.select().column("doc").from("tool_versions")
            .where("tool_id", .equal, toolID).where("org_id", .equal, orgID)
            .orderBy("major").orderBy("minor").orderBy("patch").all()
            .map { try Documents.decode(ToolVersionInstance.self, from: $0) }
    }

    // MARK: - Invocations

    public func insert(_ invocation: ToolInvocationInstance) async throws {
        var output = "", type = "", message = "", trace = ""
        switch invocation.invocationStatus {
        case .succeeded(let text): output = text
        case .failed(let failure):
            type = failure.exceptionType
            message = failure.exceptionMessage
            trace = failure.exceptionStackTrace.joined(separator: "\n")
        }
        var conversationID: String?
        if case .regularConversation(_, let id, _, _) = invocation.invocationSource { conversationID = id }
        try await sql.insert(into: "tool_invocations")
            .columns(
                "id", "org_id", "tool_id", "major", "minor", "patch", "created_at", "succeeded", "source_type",
                "conversation_id", "output", "exception_type", "exception_message", "exception_stack_trace", "doc"
            )
            .values(
                SQLBind(invocation.id), SQLBind(invocation.orgID), SQLBind(invocation.toolID),
                SQLBind(invocation.toolVersion.major), SQLBind(invocation.toolVersion.minor), SQLBind(invocation.toolVersion.patch),
                SQLBind(invocation.createdAt.timeIntervalSince1970), SQLBind(invocation.invocationStatus.succeeded),
                SQLBind(invocation.invocationSource.kind.rawValue), SQLBind(conversationID), SQLBind(output),
                SQLBind(type), SQLBind(message), SQLBind(trace), SQLBind(try Documents.encode(invocation))
            )
            .run()
    }

    /// Invocations matching `filter`; `matches` further filters in memory (version constraints) and
    /// then pages there too.
    public func invocations(
        orgID: String, filter: ToolInvocationFilter, sort: [SortKey], page: PageRequest,
        matches: (@Sendable (ToolInvocationInstance) -> Bool)? = nil
    ) async throws -> PageResult<ToolInvocationInstance> {
        let query = sql.select().column("doc").from("tool_invocations").where("org_id", .equal, orgID)
        if !filter.toolIDs.isEmpty { query.where("tool_id", .in, filter.toolIDs) }
        if !filter.sourceTypes.isEmpty { query.where("source_type", .in, filter.sourceTypes.map(\.rawValue)) }
        if !filter.conversationIDs.isEmpty { query.where("conversation_id", .in, filter.conversationIDs) }
        if let succeeded = filter.succeeded { query.where("succeeded", .equal, succeeded) }
        if let text = filter.text, !text.isEmpty {
            let pattern = "%" + text.lowercased()
                .replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_") + "%"
            let columns = filter.searchFields.filter(ToolInvocationFilter.searchableColumns.contains)
            query.where { group in
                for column in columns.isEmpty ? ToolInvocationFilter.searchableColumns : columns {
                    group.orWhere(SQLQueryString("LOWER(\(ident: column)) LIKE \(bind: pattern) ESCAPE '\\'"))
                }
                return group
            }
        }
        query.sorted(by: sort, then: "id")
        guard let matches else {
            let rows = try await query.paged(page).all()
            return PageResult(fetched: try rows.map { try Documents.decode(ToolInvocationInstance.self, from: $0) }, page: page)
        }
        let all = try await query.all().map { try Documents.decode(ToolInvocationInstance.self, from: $0) }
        return PageResult(all: all.filter(matches), page: page)
    }
}
