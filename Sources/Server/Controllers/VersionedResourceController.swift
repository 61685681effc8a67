import AmigoWire
import Foundation
import Hummingbird
import Platform
import Storage

/// What sets one family of versioned resources apart (agents, context graphs; next, dynamic behavior
/// sets, personas and scenarios). Everything else — create, list, create a version, list versions,
/// delete — is ``VersionedResourceController``'s, the same for every family.
protocol VersionedResourceKind: Sendable {
    associatedtype Version: Codable & Sendable
    associatedtype CreateRequest: ValidatableRequest & Sendable
    associatedtype VersionRequest: ValidatableRequest & Sendable

    /// The path below `/v1/{organization}/organization/`, e.g. `agent`.
    static var path: String { get }
    /// The path parameter of one resource, e.g. `agent_id`.
    static var idParameter: String { get }
    /// The operation ids' stem: `create-<stem>`, `get-<stem>s`, `create-<stem>-version`, …
    static var operationStem: String { get }
    /// The permissions' stem: `Organization:Create<stem>`, `Get<stem>`, `Create<stem>Version`, `Delete<stem>`.
    static var permissionStem: String { get }
    /// How messages name one, e.g. `Agent`.
    static var displayName: String { get }
    static var listKey: String { get }
    static var versionListKey: String { get }
    static var listPage: (defaultLimit: Int, maxLimit: Int, minLimit: Int) { get }
    /// The column of services that names such a resource: one an active service uses cannot be deleted.
    static var serviceColumn: String { get }

    static func repository(in repositories: Repositories) -> VersionedResourceRepository<Version>
    static func name(of request: CreateRequest) -> String
    /// Version `number` of resource `id` made of `request` (checked against the organization's other
    /// resources), or nil when the request only asks for the checks (a dry run).
    static func version(
        _ number: Int, of id: String, from request: VersionRequest, query: Query, caller: Principal, orgID: String,
        repositories: Repositories
    ) async throws -> Version?
    static func created(_ version: Version) -> CreatedVersionResponse
}

/// The five operations of a family of versioned resources.
struct VersionedResourceController<Kind: VersionedResourceKind> {
    let api: API

    func addRoutes(to router: Router<AppContext>) {
        let api = api
        let base = "/v1/:organization/organization/\(Kind.path)"
        let one = "\(base)/:\(Kind.idParameter)/"

        router.operation(.post, base, "create-\(Kind.operationStem)", api: api) { call in
            try call.caller.require("Organization:Create\(Kind.permissionStem)")
            let body = try await call.body(Kind.CreateRequest.self)
            let orgID = call.orgID
            let name = Kind.name(of: body).trimmingCharacters(in: .whitespacesAndNewlines)
            let id = try await api.store.write { repositories -> String in
                try await repositories.serialize("\(Kind.path)-names/\(orgID)")
                let resources = Kind.repository(in: repositories)
                if try await resources.find(name: name, orgID: orgID) != nil {
                    throw PlatformError.conflict("\(Kind.displayName) `\(name)` already exists.")
                }
                let resource = VersionedResourceInstance(id: ObjectID.generate(), name: name, deprecated: false, latestVersion: nil)
                try await resources.insert(resource, orgID: orgID)
                return resource.id
            }
            return try .json(IDResponse(id: id), status: .created)
        }

        router.operation(.get, base, "get-\(Kind.operationStem)s", api: api) { call in
            try call.caller.require("Organization:Get\(Kind.permissionStem)")
            let query = call.query
            let ids = try query.objectIDs("id")
            let deprecated = try query.bool("deprecated")
            let limits = Kind.listPage
            let page = try query.page(defaultLimit: limits.defaultLimit, maxLimit: limits.maxLimit, minLimit: limits.minLimit)
            let orgID = call.orgID
            let result = try await api.store.read {
                try await Kind.repository(in: $0).list(
                    orgID: orgID, ids: ids, deprecated: deprecated, page: PageRequest(limit: page.limit, offset: page.offset)
                )
            }
            return try .json(Page(itemsKey: Kind.listKey, items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }

        router.operation(.post, one, "create-\(Kind.operationStem)-version", api: api) { call in
            let caller = try call.caller
            try caller.require("Organization:Create\(Kind.permissionStem)Version")
            let id = try call.objectID(Kind.idParameter)
            let query = call.query
            let requestedVersion: Int? = query.string("version") == nil ? nil : try query.int("version", default: 0, range: 1...Int(Int32.max))
            let body = try await call.body(Kind.VersionRequest.self)
            let orgID = call.orgID
            let created = try await api.store.write { repositories -> Kind.Version? in
                try await repositories.serialize("\(Kind.path)/\(id)")
                let resource = try await Self.existing(id, orgID: orgID, in: repositories)
                let next = (resource.latestVersion ?? 0) + 1
                if let requestedVersion, requestedVersion != next {
                    throw PlatformError.conflict("Version \(requestedVersion) is not the next version of this \(Kind.displayName.lowercased()) (expected \(next)).")
                }
                guard let version = try await Kind.version(
                    next, of: id, from: body, query: query, caller: caller, orgID: orgID, repositories: repositories
                ) else { return nil }
                try await Kind.repository(in: repositories).insertVersion(version, number: next, of: id, orgID: orgID)
                return version
            }
            guard let created else { return try .json(JSONValue.null, status: .created) }
            return try .json(Kind.created(created), status: .created)
        }

        router.operation(.get, "\(base)/:\(Kind.idParameter)/version", "get-\(Kind.operationStem)-versions", api: api) { call in
            try call.caller.require("Organization:Get\(Kind.permissionStem)")
            let id = try call.objectID(Kind.idParameter)
            let (selector, ascending, page) = try call.query.versionListing()
            let orgID = call.orgID
            let result = try await api.store.read { repositories -> PageResult<Kind.Version> in
                let resource = try await Self.existing(id, orgID: orgID, in: repositories)
                return try await Kind.repository(in: repositories).versions(
                    of: id, orgID: orgID, range: selector.range(latest: resource.latestVersion), ascending: ascending, page: page
                )
            }
            return try .json(Page(itemsKey: Kind.versionListKey, items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }

        router.operation(.delete, one, "delete-\(Kind.operationStem)", api: api) { call in
            try call.caller.require("Organization:Delete\(Kind.permissionStem)")
            let id = try call.objectID(Kind.idParameter)
            let orgID = call.orgID
            try await api.store.write { repositories in
                let resource = try await Self.existing(id, orgID: orgID, in: repositories)
                if resource.deprecated { throw PlatformError.conflict("\(Kind.displayName) `\(id)` is already deleted.") }
                if try await repositories.services.activeServiceUses(column: Kind.serviceColumn, id: id, orgID: orgID) {
                    throw PlatformError.badRequest("An active service uses \(Kind.displayName.lowercased()) `\(id)`; deactivate it first.")
                }
                try await Kind.repository(in: repositories).setDeprecated(id: id, orgID: orgID)
            }
            return .null
        }
    }

    /// The resource, or not found.
    static func existing(_ id: String, orgID: String, in repositories: Repositories) async throws -> VersionedResourceInstance {
        guard let resource = try await Kind.repository(in: repositories).get(id: id, orgID: orgID) else {
            throw PlatformError.notFound("\(Kind.displayName) `\(id)` does not exist.")
        }
        return resource
    }
}

extension Query {
    /// The `version`, `sort_by`, `limit` and `continuation_token` of a version listing.
    func versionListing() throws -> (VersionSelector?, Bool, PageRequest) {
        var selector: VersionSelector?
        if let text = string("version") {
            guard let parsed = VersionSelector(text) else {
                throw PlatformError.validation(["query", "version"], "Version must be a number, `latest`, or an inclusive range `N-M`", type: "value_error")
            }
            selector = parsed
        }
        let sort = try sort(allowed: ["version": "version"])
        let page = try page(defaultLimit: 10, maxLimit: 10)
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
