import AmigoWire
import Foundation
import Platform
import Storage

/// Context graphs (`service_hierarchical_state_machine`) and their versions: a version is checked
/// whole — its references resolved, every rule of ``ContextGraphValidator``, its tools present — and
/// `dry_run=true` stops after the checks.
enum ContextGraphs: VersionedResourceKind {
    static let path = "service_hierarchical_state_machine"
    static let idParameter = "service_hierarchical_state_machine_id"
    static let operationStem = "service-hierarchical-state-machine"
    static let permissionStem = "ServiceHierarchicalStateMachine"
    static let displayName = "Context graph"
    static let listKey = "service_hierarchical_state_machines"
    static let versionListKey = "state_machine_versions"
    static let listPage = (defaultLimit: 50, maxLimit: 50, minLimit: 0)
    static let serviceColumn = "context_graph_id"

    static func repository(in repositories: Repositories) -> VersionedResourceRepository<ContextGraphVersion> { repositories.contextGraphs }
    static func name(of request: CreateContextGraphRequest) -> String { request.stateMachineName }

    static func version(
        _ number: Int, of id: String, from definition: ContextGraphDefinition, query: Query, caller: Principal, orgID: String,
        repositories: Repositories
    ) async throws -> ContextGraphVersion? {
        let dryRun = try query.bool("dry_run") ?? false
        var referencedStates: [String: Set<String>] = [:]
        for (name, target) in definition.references.sorted(by: { $0.key < $1.key }) where ObjectID.isValid(target.graphID) {
            guard let referenced = try await repositories.contextGraphs.get(id: target.graphID, orgID: orgID), !referenced.deprecated,
                  let version = try await repositories.contextGraphs.version(target.version, of: target.graphID, orgID: orgID) else {
                throw PlatformError.badRequest(
                    "Reference `\(name)` names context graph `\(target.graphID)` version \(target.version), which does not exist or is deprecated."
                )
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
        return ContextGraphVersion(
            id: ObjectID.generate(), orgID: orgID, contextGraphID: id, version: number, createdAt: Date(),
            creator: caller.userInfo, definition: definition.strippingWhitespace()
        )
    }

    static func created(_ version: ContextGraphVersion) -> CreatedVersionResponse {
        CreatedVersionResponse(id: version.id, version: version.version, createdAt: version.createdAt)
    }
}

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

extension ContextGraphDefinition: ValidatableRequest {
    /// Whole-graph rules need the referenced graphs, so they run in the controller; decoding checks the shape.
    public func validate(into collector: inout ValidationCollector) {}
}
