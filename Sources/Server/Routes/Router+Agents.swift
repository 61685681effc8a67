import AmigoWire
import Foundation
import Hummingbird
import Storage
import Platform

extension API {
    func addAgentRoutes(to router: Router<AppContext>) {
        let api = self

        router.operation(.post, "/v1/:organization/organization/agent", "create-agent", api: api) { call in
            try call.caller.require("Organization:CreateAgent")
            let body = try await call.body(CreateAgentRequest.self)
            let orgID = call.orgID
            let name = body.agentName.trimmingCharacters(in: .whitespacesAndNewlines)
            let id = try await api.store.write { repositories -> String in
                if try await repositories.agents.find(name: name, orgID: orgID) != nil {
                    throw PlatformError.conflict("An agent named `\(name)` already exists.")
                }
                let agent = VersionedResourceInstance(id: ObjectID.generate(), name: name, deprecated: false, latestVersion: nil)
                try await repositories.agents.insert(agent, orgID: orgID)
                return agent.id
            }
            return try .json(IDResponse(id: id), status: .created)
        }

        router.operation(.get, "/v1/:organization/organization/agent", "get-agents", api: api) { call in
            try call.caller.require("Organization:GetAgent")
            let query = call.query
            let ids = try query.objectIDs("id")
            let deprecated = try query.bool("deprecated")
            let page = try query.page(defaultLimit: 10, maxLimit: 20)
            let orgID = call.orgID
            let result = try await api.store.read {
                try await $0.agents.list(orgID: orgID, ids: ids, deprecated: deprecated, page: PageRequest(limit: page.limit, offset: page.offset))
            }
            return try .json(Page(itemsKey: "agents", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }

        router.operation(.post, "/v1/:organization/organization/agent/:agent_id/", "create-agent-version", api: api) { call in
            let caller = try call.caller
            try caller.require("Organization:CreateAgentVersion")
            let agentID = try call.objectID("agent_id")
            let expected = try call.query.int("version", default: 0, range: 1...Int(Int32.max)) as Int?
            let requestedVersion = call.query.string("version") == nil ? nil : expected
            let body = try await call.body(AgentVersionRequest.self)
            let orgID = call.orgID
            let created = try await api.store.write { repositories -> AgentVersion in
                guard let agent = try await repositories.agents.get(id: agentID, orgID: orgID) else {
                    throw PlatformError.notFound("Agent `\(agentID)` does not exist.")
                }
                let next = (agent.latestVersion ?? 0) + 1
                if let requestedVersion, requestedVersion != next {
                    throw PlatformError.conflict("Version \(requestedVersion) is not the next version of this agent (expected \(next)).")
                }
                let previous = try await agent.latestVersion.asyncMap { try await repositories.agents.version($0, of: agentID, orgID: orgID) } ?? nil
                guard let version = AgentVersion(
                    id: ObjectID.generate(), agentID: agentID, version: next, request: body, previous: previous,
                    creator: caller.userInfo, createdAt: Date()
                ) else {
                    throw PlatformError.badRequest("The first version of an agent needs every field; missing: \(body.missingFieldsForFirstVersion.joined(separator: ", ")).")
                }
                try await repositories.agents.insertVersion(version, number: next, of: agentID, orgID: orgID)
                return version
            }
            return try .json(CreatedVersionResponse(id: created.id, version: created.version, createdAt: created.createdAt), status: .created)
        }

        router.operation(.get, "/v1/:organization/organization/agent/:agent_id/version", "get-agent-versions", api: api) { call in
            try call.caller.require("Organization:GetAgent")
            let agentID = try call.objectID("agent_id")
            let (selector, ascending, page) = try Self.versionListing(call.query)
            let orgID = call.orgID
            let result = try await api.store.read { repositories -> PageResult<AgentVersion> in
                guard let agent = try await repositories.agents.get(id: agentID, orgID: orgID) else {
                    throw PlatformError.notFound("Agent `\(agentID)` does not exist.")
                }
                return try await repositories.agents.versions(
                    of: agentID, orgID: orgID, range: selector.range(latest: agent.latestVersion), ascending: ascending, page: page
                )
            }
            return try .json(Page(itemsKey: "agent_versions", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }

        router.operation(.delete, "/v1/:organization/organization/agent/:agent_id/", "delete-agent", api: api) { call in
            try call.caller.require("Organization:DeleteAgent")
            let agentID = try call.objectID("agent_id")
            let orgID = call.orgID
            try await api.store.write { repositories in
                guard let agent = try await repositories.agents.get(id: agentID, orgID: orgID) else {
                    throw PlatformError.notFound("Agent `\(agentID)` does not exist.")
                }
                if agent.deprecated { throw PlatformError.conflict("Agent `\(agentID)` is already deleted.") }
                if try await repositories.services.activeServiceUses(column: "agent_id", id: agentID, orgID: orgID) {
                    throw PlatformError.badRequest("An active service uses agent `\(agentID)`; deactivate it first.")
                }
                try await repositories.agents.setDeprecated(id: agentID, orgID: orgID)
            }
            return .empty(.ok)
        }
    }

    /// The `version`, `sort_by`, `limit` and `continuation_token` of a version listing.
    static func versionListing(_ query: Query) throws -> (VersionSelector?, Bool, PageRequest) {
        var selector: VersionSelector?
        if let text = query.string("version") {
            guard let parsed = VersionSelector(text) else {
                throw PlatformError.validation(["query", "version"], "Version must be a number, `latest`, or an inclusive range `N-M`", type: "value_error")
            }
            selector = parsed
        }
        let sort = try query.sort(allowed: ["version": "version"])
        let page = try query.page(defaultLimit: 10, maxLimit: 10)
        return (selector, sort.first?.ascending ?? true, PageRequest(limit: page.limit, offset: page.offset))
    }
}

extension Optional where Wrapped == VersionSelector {
    /// The inclusive version range selected; `latest` of a resource without versions selects nothing.
    func range(latest: Int?) -> ClosedRange<Int>? {
        switch self {
        case .none: nil
        case .exact(let number): number...number
        case .range(let range): range
        case .latest: latest.map { $0...$0 } ?? 0...0
        case .fromVersion(let low): low...max(low, latest ?? low)
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        switch self {
        case .none: nil
        case .some(let value): try await transform(value)
        }
    }
}
