import AmigoWire
import Foundation
import Hummingbird
import Storage
import ToolRuntime
import Platform

/// Tools: their lifecycle, environment variables, versions, runs and invocations.
struct ToolController {
    let api: API

    func addRoutes(to router: Router<AppContext>) {
        let api = api

        router.operation(.post, "/v1/:organization/tool/", "create-tool", api: api) { call in
            let caller = try call.caller
            try caller.require("Tool:CreateTool")
            let body = try await call.body(CreateToolRequest.self)
            if body.name.count > Self.maxToolNameLength {
                throw PlatformError.badRequest("The tool name is longer than \(Self.maxToolNameLength) characters.")
            }
            let orgID = call.orgID
            let tool = ToolInstance(
                id: ObjectID.generate(), orgID: orgID, createdAt: Date(), name: body.name, description: body.description,
                tags: body.tagList, creator: caller.userInfo
            )
            try await api.store.write { repositories in
                if try await repositories.tools.active(named: body.name, orgID: orgID) != nil {
                    throw PlatformError.conflict("A tool named `\(body.name)` already exists.")
                }
                try await repositories.tools.insert(tool)
            }
            return try .json(IDResponse(id: tool.id), status: .created)
        }

        router.operation(.get, "/v1/:organization/tool/", "get-tools", api: api) { call in
            _ = try call.caller
            let query = call.query
            let ids = try query.objectIDs("id")
            let deprecated = try query.bool("deprecated")
            let sort = try query.sort(allowed: ["name": "name", "deprecated": "deprecated"])
            let tags = try query.keyValues("tag").map { TagMatch(key: $0.key, value: $0.value) }
            let page = try query.page(defaultLimit: 10, maxLimit: 20)
            let orgID = call.orgID
            let all = try await api.store.read { try await $0.tools.all(orgID: orgID) }
            var tools = all.filter { tool in
                (ids.isEmpty || ids.contains(tool.id)) && (deprecated.map { $0 == tool.deprecated } ?? true)
                    && tags.allSatisfy { filter in filter.matches(tool.tags) }
            }
            tools.sort { lhs, rhs in
                for key in sort {
                    let order: ComparisonResult = key.column == "name"
                        ? lhs.name.compare(rhs.name)
                        : (lhs.deprecated == rhs.deprecated ? .orderedSame : (lhs.deprecated ? .orderedDescending : .orderedAscending))
                    if order != .orderedSame { return key.ascending == (order == .orderedAscending) }
                }
                return lhs.id < rhs.id
            }
            let result = PageResult(all: tools, page: PageRequest(limit: page.limit, offset: page.offset))
            let filterValues = page.offset == 0
                ? GetToolsResponse.FilterValues(tags: Array(Set(all.flatMap { $0.tags.map(Self.tagText) })).sorted())
                : nil
            return try .json(GetToolsResponse(
                tools: result.items, hasMore: result.hasMore, continuationToken: result.nextToken, filterValues: filterValues
            ))
        }

        router.operation(.post, "/v1/:organization/tool/:tool_id", "modify-tool", api: api) { call in
            let caller = try call.caller
            try caller.require("Tool:ModifyTool")
            let toolID = try call.objectID("tool_id")
            let body = try await call.body(ModifyToolRequest.self)
            let orgID = call.orgID
            try await api.store.write { repositories in
                var tool = try await Self.activeTool(toolID, orgID: orgID, in: repositories)
                if let description = body.description { tool.description = description }
                if let tags = body.tagList { tool.tags = tags }
                tool.updatedAt = Date()
                tool.updatedBy = caller.userInfo
                try await repositories.tools.update(tool)
            }
            return .empty(.noContent)
        }

        router.operation(.delete, "/v1/:organization/tool/:tool_id", "deprecate-tool", api: api) { call in
            let caller = try call.caller
            try caller.require("Tool:DeleteTool")
            let toolID = try call.objectID("tool_id")
            let orgID = call.orgID
            try await self.withToolLease(toolID) {
                try await api.store.write { repositories in
                    var tool = try await Self.activeTool(toolID, orgID: orgID, in: repositories)
                    tool.deprecated = true
                    tool.updatedAt = Date()
                    tool.updatedBy = caller.userInfo
                    try await repositories.tools.update(tool)
                }
            }
            return .empty(.noContent)
        }

        router.operation(.post, "/v1/:organization/tool/:tool_id/envvar", "modify-tool-envvars", api: api) { call in
            let caller = try call.caller
            try caller.require("Tool:ModifyTool")
            let toolID = try call.objectID("tool_id")
            let body = try await call.body(ModifyToolEnvvarsRequest.self)
            let orgID = call.orgID
            let secrets = try api.requireTools().secrets
            // Seal before the transaction: nothing slow or failing inside it.
            var sealing: [String: String] = [:]
            for insert in body.inserts where insert.isSecret { sealing[insert.name] = try secrets.seal(insert.value) }
            let sealed = sealing
            try await api.store.write { repositories in
                var tool = try await Self.activeTool(toolID, orgID: orgID, in: repositories)
                let now = Date()
                var envvars = Dictionary(uniqueKeysWithValues: try await repositories.tools.envvars(toolID: toolID).map { ($0.name, $0) })
                let inUse = try await repositories.tools.versions(toolID: toolID, orgID: orgID)
                    .filter { !$0.deprecated }.flatMap { $0.requiredEnvvars + $0.requiredSecretEnvvars }
                for insert in body.inserts {
                    if let existing = envvars[insert.name] {
                        if existing.deletedAt == nil {
                            throw PlatformError.conflict("The environment variable `\(insert.name)` already exists.")
                        }
                        if let deleted = existing.deletedAt, now.timeIntervalSince(deleted) < Self.envvarReuseDelay {
                            throw PlatformError.conflict("The environment variable `\(insert.name)` was deleted recently; insert it again in a minute.")
                        }
                    }
                    envvars[insert.name] = ToolEnvvarRecord(
                        name: insert.name, isSecret: insert.isSecret, value: insert.isSecret ? sealed[insert.name]! : insert.value
                    )
                }
                for update in body.updates {
                    guard var existing = envvars[update.name], existing.deletedAt == nil else {
                        throw PlatformError.badRequest("The environment variable `\(update.name)` does not exist.")
                    }
                    existing.value = existing.isSecret ? try secrets.seal(update.value) : update.value
                    envvars[update.name] = existing
                }
                for delete in body.deletes {
                    guard var existing = envvars[delete.name], existing.deletedAt == nil else {
                        throw PlatformError.badRequest("The environment variable `\(delete.name)` does not exist.")
                    }
                    if inUse.contains(delete.name) {
                        throw PlatformError.badRequest("The environment variable `\(delete.name)` is used by a version that is not deprecated.")
                    }
                    existing.deletedAt = now
                    existing.value = ""
                    envvars[delete.name] = existing
                }
                let touched = Set(body.inserts.map(\.name) + body.updates.map(\.name) + body.deletes.map(\.name))
                for name in touched { try await repositories.tools.save(envvars[name]!, toolID: toolID) }
                let live = envvars.values.filter { $0.deletedAt == nil }
                tool.envvars = live.filter { !$0.isSecret }.map(\.name).sorted()
                tool.secretEnvvars = live.filter(\.isSecret).map(\.name).sorted()
                tool.updatedAt = now
                tool.updatedBy = caller.userInfo
                try await repositories.tools.update(tool)
            }
            return .empty(.noContent)
        }

        router.operation(.post, "/v1/:organization/tool/:tool_id/version", "publish-tool-version", api: api) { call in
            let caller = try call.caller
            try caller.require("Tool:ModifyTool")
            let toolID = try call.objectID("tool_id")
            let body = try await call.body(PublishToolVersionRequest.self)
            let tools = try api.requireTools()
            let orgID = call.orgID
            let version = try await self.withToolLease(toolID) {
                try await tools.publish(
                    toolID: toolID, orgID: orgID, projectPath: body.projectPath, bump: body.bumpType, creator: caller.userInfo
                )
            }
            return try .json(PublishToolVersionResponse(newVersion: version.version), status: .created)
        }

        router.operation(.get, "/v1/:organization/tool/:tool_id/version", "get-tool-versions", api: api) { call in
            _ = try call.caller
            let toolID = try call.objectID("tool_id")
            let query = call.query
            let deprecated = try query.bool("deprecated")
            let specifier = try Self.versionSpecifier(query.string("versions"), location: ["query", "versions"])
            let sort = try query.sort(allowed: [
                "created_at": "created_at", "version.major": "major", "version.minor": "minor", "version.patch": "patch",
                "deprecated": "deprecated",
            ])
            let creators = query.all("creator")
            let page = try query.page(defaultLimit: 50, maxLimit: 50, minLimit: 0)
            let orgID = call.orgID
            let (tool, all) = try await api.store.read { repositories in
                (try await repositories.tools.get(id: toolID, orgID: orgID), try await repositories.tools.versions(toolID: toolID, orgID: orgID))
            }
            guard tool != nil else { throw PlatformError.notFound("Tool `\(toolID)` does not exist.") }
            var versions = all.filter { version in
                (deprecated.map { $0 == version.deprecated } ?? true) && (specifier?.matches(version.version) ?? true)
                    && (creators.isEmpty || creators.contains("\(version.creator.userOrgID),\(version.creator.userID)"))
            }
            versions.sort { lhs, rhs in
                for key in sort {
                    let order = Self.compare(lhs, rhs, by: key.column)
                    if order != .orderedSame { return key.ascending == (order == .orderedAscending) }
                }
                return lhs.version < rhs.version
            }
            let result = PageResult(all: versions, page: PageRequest(limit: page.limit, offset: page.offset))
            let filterValues = page.offset == 0 ? GetToolVersionsResponse.FilterValues(creators: Array(Set(all.map(\.creator)))) : nil
            return try .json(GetToolVersionsResponse(
                toolVersions: result.items, hasMore: result.hasMore, continuationToken: result.nextToken, filterValues: filterValues
            ))
        }

        // The path parameter is `versions` in the API document; the router needs one name per position.
        router.operation(.delete, "/v1/:organization/tool/:tool_id/version/:version", "deprecate-tool-version", api: api) { call in
            let caller = try call.caller
            try caller.require("Tool:ModifyTool")
            let toolID = try call.objectID("tool_id")
            let raw = try call.parameter("version").removingPercentEncoding ?? call.parameter("version")
            let specifier = try Self.versionSpecifier(raw, location: ["path", "versions"]) ?? .any
            let orgID = call.orgID
            try await api.store.write { repositories in
                guard try await repositories.tools.get(id: toolID, orgID: orgID) != nil else {
                    throw PlatformError.notFound("Tool `\(toolID)` does not exist.")
                }
                for var version in try await repositories.tools.versions(toolID: toolID, orgID: orgID)
                where !version.deprecated && specifier.matches(version.version) {
                    version.deprecated = true
                    version.updatedAt = Date()
                    version.updatedBy = ToolVersionUserInfo(caller.userInfo)
                    try await repositories.tools.update(version)
                }
            }
            return .empty(.noContent)
        }

        router.operation(.post, "/v1/:organization/tool/:tool_id/version/:version/invoke", "invoke-tool-version", api: api) { call in
            let caller = try call.caller
            try caller.require("Tool:InvokeTool")
            let toolID = try call.objectID("tool_id")
            let text = try call.parameter("version")
            guard let wanted = ToolVersion(text) else {
                throw PlatformError.validation(["path", "version"], "Version must be MAJOR.MINOR.PATCH", type: "value_error")
            }
            let body = try await call.body(InvokeToolVersionRequest.self)
            let tools = try api.requireTools()
            let orgID = call.orgID
            let (tool, versions) = try await api.store.read { repositories in
                (try await repositories.tools.get(id: toolID, orgID: orgID), try await repositories.tools.versions(toolID: toolID, orgID: orgID))
            }
            guard let tool, !tool.deprecated, let version = versions.first(where: { $0.version == wanted && !$0.deprecated }) else {
                throw PlatformError.notFound("Tool `\(toolID)` has no usable version \(text).")
            }
            for (index, input) in body.inputs.enumerated() {
                if let problem = InputSchemaCheck.problem(with: input.inputParameters, schema: version.inputSchema) {
                    throw PlatformError.badRequest("Input \(index): \(problem)")
                }
            }
            var results: [InvocationResult] = []
            for input in body.inputs { results.append(await tools.run(version, input: input)) }
            return try .json(InvokeToolVersionResponse(invocationResults: results))
        }

        router.operation(.post, "/v1/:organization/tool/test", "test-tool", api: api) { call in
            let caller = try call.caller
            try caller.require("Tool:AccessRepo")
            let body = try await call.body(TestToolRequest.self)
            let tools = try api.requireTools()
            let results = try await tools.test(
                orgID: call.orgID, branch: body.commitBranch, projectPath: body.projectPath, inputs: body.inputs,
                variables: body.requiredEnvvars, secretVariables: body.requiredSecretEnvvars
            )
            return try .json(TestToolResponse(invocationResults: results))
        }

        router.operation(.get, "/v1/:organization/tool/invocation", "get-tool-invocations", api: api) { call in
            let caller = try call.caller
            let query = call.query
            let toolIDs = try query.objectIDs("tool_id")
            let versions = query.all("version")
            if !versions.isEmpty, versions.count != toolIDs.count {
                throw PlatformError.badRequest("`tool_id` and `version` must have the same number of values.")
            }
            var constraints: [String: [VersionSpecifier]] = [:]
            for (index, text) in versions.enumerated() {
                let specifier = try Self.versionSpecifier(text, location: ["query", "version", .index(index)]) ?? .any
                constraints[toolIDs[index], default: []].append(specifier)
            }
            let filter = try Self.invocationFilter(query, toolIDs: toolIDs)
            let sort = try query.sort(allowed: [
                "created_at": "created_at", "version.major": "major", "version.minor": "minor", "version.patch": "patch",
                "tool_id": "tool_id", "invocation_source.type": "source_type", "invocation_status.succeeded": "succeeded",
            ]).map { SortKey(column: $0.column, ascending: $0.ascending) }
            let page = try query.page(defaultLimit: 100, maxLimit: 100, minLimit: 0)
            let orgID = call.orgID
            let visible = Self.invocationVisibility(caller)
            let frozen = constraints
            let result = try await api.store.read {
                try await $0.tools.invocations(
                    orgID: orgID, filter: filter, sort: sort, page: PageRequest(limit: page.limit, offset: page.offset),
                    matches: { invocation in
                        visible(invocation)
                            && (frozen.isEmpty || (frozen[invocation.toolID] ?? []).contains { $0.matches(invocation.toolVersion) })
                    }
                )
            }
            return try .json(GetToolInvocationsResponse(
                toolInvocations: result.items, hasMore: result.hasMore, continuationToken: result.nextToken
            ))
        }

        router.operation(.get, "/v1/:organization/tool/invocation/search", "search-tool-invocations", api: api) { call in
            let caller = try call.caller
            let query = call.query
            let text = try query.required("query")
            let fields: [String: String] = [
                "invocation_status.exception_message": "exception_message", "invocation_status.exception_type": "exception_type",
                "invocation_status.exception_stack_trace": "exception_stack_trace", "invocation_status.output": "output",
            ]
            var columns: [String] = []
            for (index, field) in query.all("query_against").enumerated() {
                guard let column = fields[field] else {
                    throw PlatformError.validation(["query", "query_against", .index(index)], "Input should be one of \(fields.keys.sorted())", type: "enum")
                }
                columns.append(column)
            }
            var search = try Self.invocationFilter(query, toolIDs: try query.objectIDs("tool_id"))
            search.text = text
            search.searchFields = columns
            let filter = search
            let orgID = call.orgID
            let visible = Self.invocationVisibility(caller)
            let result = try await api.store.read {
                try await $0.tools.invocations(
                    orgID: orgID, filter: filter, sort: [SortKey(column: "created_at", ascending: false)],
                    page: PageRequest(limit: 100, offset: 0), matches: visible
                )
            }
            return try .json(SearchToolInvocationsResponse(toolInvocations: result.items))
        }
    }

    /// Runs `body` holding the tool's lease (publish and deprecate exclude each other, across replicas);
    /// 409 when another operation holds it.
    func withToolLease<Result: Sendable>(_ toolID: String, _ body: () async throws -> Result) async throws -> Result {
        try await Lease.with("tool/\(toolID)", in: api.conversations.leases, orConflict: "Another operation on this tool is in progress.", body)
    }

    /// The tool, or 404 when it does not exist or is deprecated.
    static func activeTool(_ id: String, orgID: String, in repositories: Repositories) async throws -> ToolInstance {
        guard let tool = try await repositories.tools.get(id: id, orgID: orgID), !tool.deprecated else {
            throw PlatformError.notFound("Tool `\(id)` does not exist.")
        }
        return tool
    }

    static let maxToolNameLength = 100
    /// Seconds before a deleted environment variable's name may be inserted again.
    static let envvarReuseDelay: TimeInterval = 60

    static func tagText(_ tag: Tag) -> String { "\(tag.key):\(tag.value ?? "")" }



    static func versionSpecifier(_ text: String?, location: [ValidationIssue.Location]) throws -> VersionSpecifier? {
        guard let text else { return nil }
        do {
            return try VersionSpecifier(text)
        } catch {
            throw PlatformError.validation(location, error.description, type: "value_error")
        }
    }

    static func compare(_ lhs: ToolVersionInstance, _ rhs: ToolVersionInstance, by column: String) -> ComparisonResult {
        func order<T: Comparable>(_ a: T, _ b: T) -> ComparisonResult { a == b ? .orderedSame : (a < b ? .orderedAscending : .orderedDescending) }
        switch column {
        case "created_at": return order(lhs.createdAt, rhs.createdAt)
        case "major": return order(lhs.version.major, rhs.version.major)
        case "minor": return order(lhs.version.minor, rhs.version.minor)
        case "patch": return order(lhs.version.patch, rhs.version.patch)
        default: return order(lhs.deprecated ? 1 : 0, rhs.deprecated ? 1 : 0)
        }
    }

    static func invocationFilter(_ query: Query, toolIDs: [String]) throws -> ToolInvocationFilter {
        var kinds: [InvocationSource.Kind] = []
        for (index, raw) in query.all("invocation_source_type").enumerated() {
            guard let kind = InvocationSource.Kind(rawValue: raw) else {
                throw PlatformError.validation(
                    ["query", "invocation_source_type", .index(index)],
                    "Input should be 'regular-conversation' or 'simulation-conversation'", type: "enum"
                )
            }
            kinds.append(kind)
        }
        _ = try query.objectIDs("simulation_unit_test_set_run_id")
        return ToolInvocationFilter(
            toolIDs: toolIDs, sourceTypes: kinds, conversationIDs: try query.objectIDs("conversation_id"),
            succeeded: try query.bool("succeeded")
        )
    }

    /// Invocations from a conversation are visible to callers who may read that conversation's insights.
    static func invocationVisibility(_ caller: Principal) -> @Sendable (ToolInvocationInstance) -> Bool {
        let caller = caller
        return { invocation in
            switch invocation.invocationSource {
            case .regularConversation(let userID, _, _, _):
                caller.can("Conversation:GetInteractionInsights", on: ["user_id": userID])
            case .simulationConversation:
                caller.can("Simulation:GetSimulationUnitTestSetRun")
            }
        }
    }
}
