import AmigoWire
import Foundation
import Platform
import Storage

/// Agents (personas) and their versions: a new version patches the previous one; the first needs every field.
enum Agents: VersionedResourceKind {
    static let path = "agent"
    static let idParameter = "agent_id"
    static let operationStem = "agent"
    static let permissionStem = "Agent"
    static let displayName = "Agent"
    static let listKey = "agents"
    static let versionListKey = "agent_versions"
    static let listPage = (defaultLimit: 10, maxLimit: 20, minLimit: 1)
    static let serviceColumn = "agent_id"

    static func repository(in repositories: Repositories) -> VersionedResourceRepository<AgentVersion> { repositories.agents }
    static func name(of request: CreateAgentRequest) -> String { request.agentName }

    static func version(
        _ number: Int, of id: String, from request: AgentVersionRequest, query: Query, caller: Principal, orgID: String,
        repositories: Repositories
    ) async throws -> AgentVersion? {
        let previous = number > 1 ? try await repositories.agents.version(number - 1, of: id, orgID: orgID) : nil
        guard let version = AgentVersion(
            id: ObjectID.generate(), agentID: id, version: number, request: request, previous: previous,
            creator: caller.userInfo, createdAt: Date()
        ) else {
            throw PlatformError.badRequest(
                "The first version of an agent needs every field; missing: \(request.missingFieldsForFirstVersion.joined(separator: ", "))."
            )
        }
        return version
    }

    static func created(_ version: AgentVersion) -> CreatedVersionResponse {
        CreatedVersionResponse(id: version.id, version: version.version, createdAt: version.createdAt)
    }
}
