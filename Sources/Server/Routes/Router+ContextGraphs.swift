import AmigoWire
import Foundation
import Hummingbird
import Storage
import Platform

extension ContextGraphDefinition {
    /// Every tool a graph version names, in any state.
    var toolIDs: Set<String> {
        var ids = Set<String>()
        for state in states {
            switch state {
            case .action(let state): ids.formUnion((state.actionToolCallSpecs + state.exitConditionToolCallSpecs).map(\.toolID))
            case .decision(let state): ids.formUnion(state.toolCallSpecs.map(\.toolID))
            case .reflection(let state): ids.formUnion(state.toolCallSpecs.map(\.toolID))
            case .toolCall(let state): ids.formUnion(([state.designatedTool] + state.toolCallSpecs).map(\.toolID))
            case .recall, .annotation: break
            }
        }
        return ids
    }
}

extension API {
    func addContextGraphRoutes(to router: Router<AppContext>) {
        let api = self
        let base = "/v1/:organization/organization/service_hierarchical_state_machine"

        router.operation(.post, base, "create-service-hierarchical-state-machine", api: api) { call in
            try call.caller.require("Organization:CreateServiceHierarchicalStateMachine")
            let body = try await call.body(CreateContextGraphRequest.self)
            let orgID = call.orgID
            let name = body.stateMachineName.trimmingCharacters(in: .whitespacesAndNewlines)
            let id = try await api.store.write { repositories -> String in
                if try await repositories.contextGraphs.find(name: name, orgID: orgID) != nil {
                    throw PlatformError.conflict("A context graph named `\(name)` already exists.")
                }
                let graph = VersionedResourceInstance(id: ObjectID.generate(), name: name, deprecated: false, latestVersion: nil)
                try await repositories.contextGraphs.insert(graph, orgID: orgID)
                return graph.id
            }
            return try .json(IDResponse(id: id), status: .created)
        }

        router.operation(.get, base, "get-service-hierarchical-state-machines", api: api) { call in
            try call.caller.require("Organization:GetServiceHierarchicalStateMachine")
            let query = call.query
            let ids = try query.objectIDs("id")
            let deprecated = try query.bool("deprecated")
            let page = try query.page(defaultLimit: 50, maxLimit: 50, minLimit: 0)
            let orgID = call.orgID
            let result = try await api.store.read {
                try await $0.contextGraphs.list(orgID: orgID, ids: ids, deprecated: deprecated, page: PageRequest(limit: page.limit, offset: page.offset))
            }
            return try .json(Page(itemsKey: "service_hierarchical_state_machines", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }

        router.operation(.post, "\(base)/:service_hierarchical_state_machine_id/", "create-service-hierarchical-state-machine-version", api: api) { call in
            let caller = try call.caller
            try caller.require("Organization:CreateServiceHierarchicalStateMachineVersion")
            let graphID = try call.objectID("service_hierarchical_state_machine_id")
            let query = call.query
            let requestedVersion: Int? = query.string("version") == nil ? nil : try query.int("version", default: 0, range: 1...Int(Int32.max))
            let dryRun = try query.bool("dry_run") ?? false
            let definition = try await call.body(ContextGraphDefinition.self)
            let orgID = call.orgID
            let created = try await api.store.write { repositories -> ContextGraphVersion? in
                guard let graph = try await repositories.contextGraphs.get(id: graphID, orgID: orgID) else {
                    throw PlatformError.notFound("Context graph `\(graphID)` does not exist.")
                }
                let next = (graph.latestVersion ?? 0) + 1
                if let requestedVersion, requestedVersion != next {
                    throw PlatformError.conflict("Version \(requestedVersion) is not the next version of this context graph (expected \(next)).")
                }
                var referencedStates: [String: Set<String>] = [:]
                for (name, target) in definition.references.sorted(by: { $0.key < $1.key }) where ObjectID.isValid(target.graphID) {
                    guard let referenced = try await repositories.contextGraphs.get(id: target.graphID, orgID: orgID), !referenced.deprecated,
                          let version = try await repositories.contextGraphs.version(target.version, of: target.graphID, orgID: orgID) else {
                        throw PlatformError.badRequest("Reference `\(name)` names context graph `\(target.graphID)` version \(target.version), which does not exist or is deprecated.")
                    }
                    referencedStates[name] = Set(version.definition.states.map(\.name))
                }
                let issues = ContextGraphValidator.validate(definition, referencedStates: referencedStates)
                if !issues.isEmpty { throw PlatformError.validation(issues) }
                for toolID in definition.toolIDs.sorted() {
                    guard let tool = try await repositories.tools.get(id: toolID, orgID: orgID), !tool.deprecated else {
                        throw PlatformError.notFound("Tool `\(toolID)` does not exist.")
                    }
                }
                if dryRun { return nil }
                let version = ContextGraphVersion(
                    id: ObjectID.generate(), orgID: orgID, contextGraphID: graphID, version: next, createdAt: Date(),
                    creator: caller.userInfo, definition: definition.strippingWhitespace()
                )
                try await repositories.contextGraphs.insertVersion(version, number: next, of: graphID, orgID: orgID)
                return version
            }
            guard let created else { return try .json(JSONValue.null, status: .created) }
            return try .json(CreatedVersionResponse(id: created.id, version: created.version, createdAt: created.createdAt), status: .created)
        }

        router.operation(.get, "\(base)/:service_hierarchical_state_machine_id/version", "get-service-hierarchical-state-machine-versions", api: api) { call in
            try call.caller.require("Organization:GetServiceHierarchicalStateMachine")
            let graphID = try call.objectID("service_hierarchical_state_machine_id")
            let (selector, ascending, page) = try Self.versionListing(call.query)
            let orgID = call.orgID
            let result = try await api.store.read { repositories -> PageResult<ContextGraphVersion> in
                guard let graph = try await repositories.contextGraphs.get(id: graphID, orgID: orgID) else {
                    throw PlatformError.notFound("Context graph `\(graphID)` does not exist.")
                }
                return try await repositories.contextGraphs.versions(
                    of: graphID, orgID: orgID, range: selector.range(latest: graph.latestVersion), ascending: ascending, page: page
                )
            }
            return try .json(Page(itemsKey: "state_machine_versions", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }

        router.operation(.delete, "\(base)/:service_hierarchical_state_machine_id/", "delete-service-hierarchical-state-machine", api: api) { call in
            try call.caller.require("Organization:DeleteServiceHierarchicalStateMachine")
            let graphID = try call.objectID("service_hierarchical_state_machine_id")
            let orgID = call.orgID
            try await api.store.write { repositories in
                guard let graph = try await repositories.contextGraphs.get(id: graphID, orgID: orgID) else {
                    throw PlatformError.notFound("Context graph `\(graphID)` does not exist.")
                }
                if graph.deprecated { throw PlatformError.conflict("Context graph `\(graphID)` is already deleted.") }
                if try await repositories.services.activeServiceUses(column: "context_graph_id", id: graphID, orgID: orgID) {
                    throw PlatformError.badRequest("An active service uses context graph `\(graphID)`; deactivate it first.")
                }
                try await repositories.contextGraphs.setDeprecated(id: graphID, orgID: orgID)
            }
            return .empty(.ok)
        }
    }
}

extension ContextGraphDefinition: ValidatableRequest {
    /// Whole-graph rules need the referenced graphs, so they run in the route; decoding checks the shape.
    public func validate(into collector: inout ValidationCollector) {}
}
