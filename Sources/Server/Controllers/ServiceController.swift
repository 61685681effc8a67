import AmigoWire
import Foundation
import Hummingbird
import Storage
import Platform

/// What a cached service listing depends on: the organization, the query, and whether the caller sees version sets.
struct ServiceListingKey: Hashable, Sendable {
    var orgID: String
    var query: String
    var withVersionSets: Bool
}

/// Services and their version sets.
struct ServiceController {
    let api: API

    func addRoutes(to router: Router<AppContext>) {
        let api = api

        router.operation(.post, "/v1/:organization/service/", "create-service", api: api) { call in
            let caller = try call.caller
            try caller.require("Service:CreateService")
            try caller.require("Service:CreateVersionSet")
            let body = try await call.body(CreateServiceRequest.self)
            let orgID = call.orgID
            let id = try await api.store.write { repositories -> String in
                try await Self.checkServiceParts(agentID: body.agentID, contextGraphID: body.contextGraphID, in: repositories, orgID: orgID)
                let release = body.releaseVersionSet ?? .edge
                try await Self.checkVersionSet(release, name: "release", agentID: body.agentID, contextGraphID: body.contextGraphID, in: repositories, orgID: orgID)
                let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
                if body.isActive, try await repositories.services.activeServiceExists(name: name, orgID: orgID) {
                    throw PlatformError.conflict("An active service named `\(name)` already exists.")
                }
                let service = Service(
                    id: ObjectID.generate(), name: name, versionSets: ["edge": .edge, "release": release],
                    description: body.description.trimmingCharacters(in: .whitespacesAndNewlines), isActive: body.isActive,
                    contextGraphID: body.contextGraphID, agentID: body.agentID, tags: body.tagList, keyterms: body.keyterms, creator: caller.userInfo
                )
                try await repositories.services.insert(service, orgID: orgID)
                return service.id
            }
            return try .json(IDResponse(id: id), status: .created)
        }

        router.operation(.get, "/v1/:organization/service/", "get-services", api: api) { call in
            let caller = try call.caller
            guard caller.can("Service:GetService") else { return try .json(GetServicesResponse(services: [], hasMore: false, continuationToken: nil, filterValues: nil)) }
            let query = call.query
            let filter = ServiceFilter(ids: try query.objectIDs("id"), isActive: try query.bool("is_active"), tags: query.all("tags") + query.all("tag"))
            let sort = try query.sort(allowed: ["name": "name", "is_active": "is_active"]).map { SortKey(column: $0.column, ascending: $0.ascending) }
            let page = try query.page(defaultLimit: 10, maxLimit: 20)
            let orgID = call.orgID
            let canSeeVersionSets = caller.can("Service:GetVersionSet")
            // The listing is the hottest read of the management API: its encoded answer is cached per
            // query until the organization's services change (or 1 s passes, for other replicas).
            let key = ServiceListingKey(orgID: orgID, query: call.request.uri.query ?? "", withVersionSets: canSeeVersionSets)
            let body = try await api.serviceListings.value(key, orgID: orgID) {
                let (result, tags) = try await api.store.read { repositories in
                    (try await repositories.services.list(orgID: orgID, filter: filter, sort: sort, page: PageRequest(limit: page.limit, offset: page.offset)),
                     page.offset == 0 ? try await repositories.services.tagValues(orgID: orgID) : nil)
                }
                let services = result.items.map { service in
                    var service = service
                    if !canSeeVersionSets { service.versionSets = [:] }
                    return service
                }
                return ByteBuffer(bytes: try WireEncoder().encode(GetServicesResponse(
                    services: services, hasMore: result.hasMore, continuationToken: result.nextToken,
                    filterValues: tags.map { GetServicesResponse.FilterValues(tags: $0) }
                )))
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }

        router.operation(.post, "/v1/:organization/service/:service_id/", "update-service", api: api) { call in
            let caller = try call.caller
            try caller.require("Service:UpdateService")
            let serviceID = try call.objectID("service_id")
            let body = try await call.body(UpdateServiceRequest.self)
            let orgID = call.orgID
            try await api.store.write { repositories in
                guard var service = try await repositories.services.get(id: serviceID, orgID: orgID) else {
                    throw PlatformError.notFound("Service `\(serviceID)` does not exist.")
                }
                if let name = body.name { service.name = name.trimmingCharacters(in: .whitespacesAndNewlines) }
                if let description = body.description { service.description = description.trimmingCharacters(in: .whitespacesAndNewlines) }
                if let agentID = body.agentID { service.agentID = agentID }
                if let graphID = body.contextGraphID { service.contextGraphID = graphID }
                if let tags = body.tags { service.tags = tags.keys.sorted().map { Tag(key: $0, value: tags[$0] ?? nil) } }
                if let keyterms = body.keyterms { service.keyterms = keyterms }
                if body.isActive == false, service.isActive {
                    try await SimulationLibrary.requireUnused(serviceID: serviceID, versionSet: nil, orgID: orgID, in: repositories)
                }
                if let isActive = body.isActive { service.isActive = isActive }
                if body.agentID != nil || body.contextGraphID != nil || body.isActive == true {
                    try await Self.checkServiceParts(
                        agentID: service.agentID, contextGraphID: service.contextGraphID, in: repositories, orgID: orgID,
                        forActivation: service.isActive, updating: true
                    )
                }
                if service.isActive, try await repositories.services.activeServiceExists(name: service.name, orgID: orgID, excluding: service.id) {
                    throw PlatformError.conflict("An active service named `\(service.name)` already exists.")
                }
                service.updatedBy = caller.userInfo
                try await repositories.services.update(service, orgID: orgID)
            }
            return .null
        }

        router.operation(.put, "/v1/:organization/service/:service_id/version_sets/:version_set_name/", "upsert-service-version-set", api: api) { call in
            let caller = try call.caller
            let serviceID = try call.objectID("service_id")
            let name = try call.parameter("version_set_name")
            guard FieldRule.isVersionSetName(name) else {
                throw PlatformError.validation(["path", "version_set_name"], "String should match pattern '^[A-Za-z0-9_-]+$' and have at most 40 characters", type: "string_pattern_mismatch")
            }
            let body = try await call.body(UpsertVersionSetRequest.self)
            let orgID = call.orgID
            try await api.store.write { repositories in
                guard var service = try await repositories.services.get(id: serviceID, orgID: orgID) else {
                    throw PlatformError.notFound("Service `\(serviceID)` does not exist.")
                }
                try caller.require(service.versionSets[name] == nil ? "Service:CreateVersionSet" : "Service:UpdateVersionSet")
                if name == "edge" { throw PlatformError.badRequest("The `edge` version set always uses the latest versions and cannot be changed.") }
                try await Self.checkVersionSet(body.versionSet, name: name, agentID: service.agentID, contextGraphID: service.contextGraphID, in: repositories, orgID: orgID)
                service.versionSets[name] = body.versionSet
                service.updatedBy = caller.userInfo
                try await repositories.services.update(service, orgID: orgID)
            }
            return .empty(.noContent)
        }

        router.operation(.delete, "/v1/:organization/service/:service_id/version_sets/:version_set_name/", "delete-service-version-set", api: api) { call in
            let caller = try call.caller
            try caller.require("Service:DeleteVersionSet")
            let serviceID = try call.objectID("service_id")
            let name = try call.parameter("version_set_name")
            let orgID = call.orgID
            try await api.store.write { repositories in
                guard var service = try await repositories.services.get(id: serviceID, orgID: orgID) else {
                    throw PlatformError.notFound("Service `\(serviceID)` does not exist.")
                }
                if name == "edge" || name == "release" { throw PlatformError.badRequest("The `\(name)` version set cannot be deleted.") }
                guard service.versionSets[name] != nil else { throw PlatformError.notFound("Version set `\(name)` does not exist.") }
                try await SimulationLibrary.requireUnused(serviceID: serviceID, versionSet: name, orgID: orgID, in: repositories)
                service.versionSets[name] = nil
                service.updatedBy = caller.userInfo
                try await repositories.services.update(service, orgID: orgID)
            }
            return .empty(.noContent)
        }
    }

    /// The agent and context graph of a service must exist (404), have a version and, for an active
    /// service, not be deprecated (400).
    /// A service's agent and graph must exist — a missing one is 404 when creating, and an invalid part
    /// (400) when an update names it, as the document's answers of the two operations say.
    static func checkServiceParts(
        agentID: String, contextGraphID: String, in repositories: Repositories, orgID: String, forActivation: Bool = true, updating: Bool = false
    ) async throws {
        let missing: (String) -> PlatformError = { updating ? .badRequest($0) : .notFound($0) }
        guard let agent = try await repositories.agents.get(id: agentID, orgID: orgID) else {
            throw missing("Agent `\(agentID)` does not exist.")
        }
        guard let graph = try await repositories.contextGraphs.get(id: contextGraphID, orgID: orgID) else {
            throw missing("Context graph `\(contextGraphID)` does not exist.")
        }
        if agent.latestVersion == nil { throw PlatformError.badRequest("Agent `\(agentID)` has no versions yet.") }
        if graph.latestVersion == nil { throw PlatformError.badRequest("Context graph `\(contextGraphID)` has no versions yet.") }
        if forActivation && agent.deprecated { throw PlatformError.badRequest("Agent `\(agentID)` is deleted.") }
        if forActivation && graph.deprecated { throw PlatformError.badRequest("Context graph `\(contextGraphID)` is deleted.") }
    }

    /// Pinned versions of a version set must exist for the service's agent and graph (400).
    static func checkVersionSet(_ set: VersionSet, name: String, agentID: String, contextGraphID: String, in repositories: Repositories, orgID: String) async throws {
        if let number = set.agentVersionNumber, try await repositories.agents.version(number, of: agentID, orgID: orgID) == nil {
            throw PlatformError.badRequest("Version set `\(name)`: agent `\(agentID)` has no version \(number).")
        }
        if let number = set.contextGraphVersionNumber, try await repositories.contextGraphs.version(number, of: contextGraphID, orgID: orgID) == nil {
            throw PlatformError.badRequest("Version set `\(name)`: context graph `\(contextGraphID)` has no version \(number).")
        }
    }
}
