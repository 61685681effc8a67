import AmigoWire
import Foundation
import Hummingbird
import Platform
import Storage

/// Dynamic behavior sets: the eight operations of `/v1/{organization}/dynamic_behavior_set/`.
struct DynamicBehaviorController {
    let api: API

    static let create = "DynamicBehaviorInstruction:CreateDynamicBehaviorInstruction"
    static let get = "DynamicBehaviorInstruction:GetDynamicBehaviorInstruction"
    static let update = "DynamicBehaviorInstruction:UpdateDynamicBehaviorInstruction"
    static let delete = "DynamicBehaviorInstruction:DeleteDynamicBehaviorInstruction"

    func addRoutes(to router: Router<AppContext>) {
        let api = api
        let behaviors = api.conversations.behaviors
        let base = "/v1/:organization/dynamic_behavior_set"
        let one = "\(base)/:dynamic_behavior_set_id"

        router.operation(.post, "\(base)/", "create-dynamic-behavior-set", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.create)
            try caller.require(Self.update)
            let body = try await call.body(CreateDynamicBehaviorSetRequest.self)
            let id = try await behaviors.create(body, caller: caller)
            return try .json(CreateDynamicBehaviorSetResponse(dynamicBehaviorSetID: id), status: .created)
        }

        router.operation(.get, "\(base)/", "get-dynamic-behavior-sets", api: api) { call in
            let caller = try call.caller
            let query = call.query
            var filter = try Self.filter(query)
            filter.ids = try query.objectIDs("id")
            let sort = try query.sort(allowed: ["updated_at": "updated_at"]).map { SortKey(column: $0.column, ascending: $0.ascending) }
            let page = try query.page(defaultLimit: 50, maxLimit: 50, minLimit: 0)
            guard caller.can(Self.get) else {
                return try .json(GetDynamicBehaviorSetsResponse(sets: [], hasMore: false, continuationToken: nil, filterValues: nil))
            }
            return try .json(try await behaviors.list(
                orgID: call.orgID, filter: filter, sort: sort, page: PageRequest(limit: page.limit, offset: page.offset)
            ))
        }

        router.operation(.get, "\(base)/search", "search-dynamic-behavior-sets", api: api) { call in
            let caller = try call.caller
            let query = call.query
            let text = try query.required("query", nonBlank: true)
            let filter = try Self.filter(query)
            let sets = caller.can(Self.get) ? try await behaviors.search(text, orgID: call.orgID, filter: filter) : []
            return try .json(["dynamic_behavior_sets": sets])
        }

        router.operation(.post, "\(one)/", "update-dynamic-behavior-set", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.update)
            let id = try call.objectID("dynamic_behavior_set_id")
            let body = try await call.body(UpdateDynamicBehaviorSetRequest.self)
            try await behaviors.update(id, body, caller: caller)
            return .empty(.noContent)
        }

        router.operation(.delete, "\(one)/", "delete-dynamic-behavior-instruction", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.delete)
            try await behaviors.delete(try call.objectID("dynamic_behavior_set_id"), caller: caller)
            return .null
        }

        router.operation(.post, "\(one)/version/", "create-dynamic-behavior-set-version", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.update)
            let id = try call.objectID("dynamic_behavior_set_id")
            let query = call.query
            let expected: Int? = query.string("version") == nil ? nil : try query.int("version", default: 0, range: 2...Int(Int32.max))
            let body = try await call.body(DynamicBehaviorVersionInput.self)
            let number = try await behaviors.createVersion(of: id, body, expected: expected, caller: caller)
            return try .json(CreateDynamicBehaviorSetVersionResponse(newVersionNumber: number), status: .created)
        }

        router.operation(.get, "\(one)/version/", "get-dynamic-behavior-set-versions", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.get)
            let id = try call.objectID("dynamic_behavior_set_id")
            let (selector, ascending, page) = try call.query.versionListing()
            let orgID = call.orgID
            let latest = try await behaviors.latestVersion(of: id, orgID: orgID)
            let result = try await behaviors.versions(
                of: id, orgID: orgID, range: selector.range(latest: latest), ascending: ascending, page: page
            )
            return try .json(Page(itemsKey: "dynamic_behavior_set_versions", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }

        router.operation(.get, "\(one)/invocation/", "get-dynamic-behavior-invocations", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.get)
            let id = try call.objectID("dynamic_behavior_set_id")
            let query = call.query
            let sort = try query.sort(allowed: ["invoked_at": "invoked_at"])
            let page = try query.page(defaultLimit: 30, maxLimit: 30)
            let result = try await behaviors.invocations(
                of: id, caller: caller, ascending: sort.first?.ascending ?? true, page: PageRequest(limit: page.limit, offset: page.offset)
            )
            return try .json(Page(itemsKey: "dynamic_behavior_invocations", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }
    }

    /// The filters the listing and the search share.
    static func filter(_ query: Query) throws -> DynamicBehaviorFilter {
        var filter = DynamicBehaviorFilter()
        filter.isActive = try query.bool("is_active")
        filter.appliedToServices = try query.objectIDs("applied_to_service")
        filter.creators = query.all("creator")
        filter.tags = try query.keyValues("tag")
        return filter
    }
}
