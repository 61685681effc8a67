import AmigoWire
import Foundation
import Hummingbird
import Platform
import Storage

/// Metrics: create, list, search, update, (soft) delete, evaluate and the results listing, under
/// `/v1/{organization}/metric/`.
struct MetricController {
    let api: API

    static let create = "Metric:CreateMetric"
    static let get = "Metric:GetMetric"
    static let modify = "Metric:ModifyMetric"
    static let delete = "Metric:DeleteMetric"
    static let evaluate = "Metric:EvaluateMetric"
    static let getResult = "Metric:GetMetricEvaluationResult"

    func addRoutes(to router: Router<AppContext>) {
        let api = api
        let metrics = ConversationMetrics(store: api.store, models: api.conversations.models)
        let base = "/v1/:organization/metric"

        router.operation(.post, "\(base)/", "create-metric", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.create)
            let body = try await call.body(CreateMetricRequest.self)
            let id = try await metrics.create(body, caller: caller)
            return try .json(CreateMetricResponse(id: id), status: .created)
        }

        router.operation(.get, "\(base)/", "get-metrics", api: api) { call in
            let caller = try call.caller
            let query = call.query
            var filter = try Self.filter(query)
            filter.ids = try query.objectIDs("id")
            filter.isDeleted = try query.bool("is_deleted")
            let sort = try query.sort(allowed: ["updated_at": "updated_at"])
                .map { SortKey(column: $0.column, ascending: $0.ascending) }
            let page = try query.page(defaultLimit: 50, maxLimit: 50, minLimit: 0)
            guard caller.can(Self.get) else {
                return try .json(Page<MetricInstance>(itemsKey: "metrics", items: [], hasMore: false, continuationToken: nil, filterValues: nil))
            }
            return try .json(try await metrics.list(
                orgID: call.orgID, filter: filter, sort: sort, page: PageRequest(limit: page.limit, offset: page.offset)
            ))
        }

        router.operation(.get, "\(base)/search/", "search-metrics", api: api) { call in
            let caller = try call.caller
            let query = call.query
            let text = try query.required("query", nonBlank: true)
            let filter = try Self.filter(query)
            let found = caller.can(Self.get) ? try await metrics.search(text, orgID: call.orgID, filter: filter) : []
            return try .json(["metrics": found.map(\.searchResult)])
        }

        router.operation(.post, "\(base)/evaluate", "evaluate-metrics", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.get)
            try caller.require(Self.evaluate)
            try caller.require(Self.getResult)
            let body = try await call.body(EvaluateMetricsRequest.self)
            return try .json(["metrics": try await metrics.evaluate(body, caller: caller)])
        }

        router.operation(.get, "\(base)/metric_evaluation_result", "get-metric-evaluation-results", api: api) { call in
            let caller = try call.caller
            let query = call.query
            var filter = MetricResultFilter()
            filter.metricIDs = try query.objectIDs("metric_id")
            filter.conversationIDs = try query.objectIDs("conversation_id")
            filter.runIDs = try query.objectIDs("simulation_unit_test_set_run_id")
            let types = query.all("source_type")
            for (index, type) in types.enumerated() where !["post-session", "manual", "simulation"].contains(type) {
                throw PlatformError.validation(["query", "source_type", .index(index)], "Input should be 'post-session', 'manual' or 'simulation'", type: "enum")
            }
            filter.sourceTypes = types
            filter.after = try query.date("timestamp_after")
            filter.before = try query.date("timestamp_before")
            let sort = try query.sort(allowed: ["created_at": "created_at"])
            let page = try query.page(defaultLimit: 500, maxLimit: 500, minLimit: 0)
            guard caller.can(Self.getResult) else {
                return try .json(Page<MetricEvaluationResultInstance>(
                    itemsKey: "metric_evaluation_results", items: [], hasMore: false, continuationToken: nil, filterValues: nil
                ))
            }
            return try .json(try await metrics.results(
                orgID: call.orgID, filter: filter, ascending: sort.first?.ascending ?? false, page: PageRequest(limit: page.limit, offset: page.offset)
            ))
        }

        router.operation(.post, "\(base)/:metric_id/", "update-metric", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.modify)
            let id = try call.objectID("metric_id")
            let body = try await call.body(UpdateMetricRequest.self)
            return try .json(try await metrics.update(id, body, caller: caller))
        }

        router.operation(.delete, "\(base)/:metric_id/", "delete-metric", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.delete)
            try await metrics.delete(try call.objectID("metric_id"), caller: caller)
            return .null
        }
    }

    /// The filters the listing and the search share.
    static func filter(_ query: Query) throws -> MetricFilter {
        var filter = MetricFilter()
        filter.appliedToServices = try query.objectIDs("applied_to_service")
        filter.creators = query.all("creator")
        filter.tags = try query.keyValues("tag").map { TagMatch(key: $0.key, value: $0.value) }
        let types = query.all("type")
        for (index, type) in types.enumerated() where !["boolean", "numerical", "categorical"].contains(type) {
            throw PlatformError.validation(["query", "type", .index(index)], "Input should be 'boolean', 'numerical' or 'categorical'", type: "enum")
        }
        filter.types = types
        return filter
    }
}
