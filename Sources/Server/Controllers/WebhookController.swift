import AmigoWire
import Foundation
import Hummingbird
import NIOCore
import Platform
import Storage

/// Webhook destinations: the six operations of `/v1/{organization}/webhook_destination/`.
struct WebhookController {
    let api: API

    static let create = "Webhook:CreateWebhookDestination"
    static let get = "Webhook:GetWebhookDestination"
    static let update = "Webhook:UpdateWebhookDestination"
    static let delete = "Webhook:DeleteWebhookDestination"
    static let deliveries = "Webhook:GetWebhookDeliveries"

    func addRoutes(to router: Router<AppContext>) {
        let api = api
        let webhooks = api.webhooks
        let base = "/v1/:organization/webhook_destination"

        router.operation(.post, "\(base)/", "create-webhook-destination", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.create)
            let body = try await call.body(CreateWebhookDestinationRequest.self)
            return try .json(try await webhooks.create(body, caller: caller), status: .created)
        }

        router.operation(.get, "\(base)/", "get_webhook_destinations", api: api) { call in
            let caller = try call.caller
            let ids = try call.query.objectIDs("id")
            let destinations = caller.can(Self.get) ? try await webhooks.list(orgID: call.orgID, ids: ids) : []
            return try .json(["webhook_destinations": destinations])
        }

        router.operation(.post, "\(base)/:webhook_destination_id", "update-webhook-destination", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.update)
            let id = try call.objectID("webhook_destination_id")
            try await webhooks.update(id, try await call.body(UpdateWebhookDestinationRequest.self), caller: caller)
            return .empty(.noContent)
        }

        router.operation(.delete, "\(base)/:webhook_destination_id", "delete-webhook-destination", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.delete)
            try await webhooks.delete(try call.objectID("webhook_destination_id"), caller: caller)
            return .empty(.noContent)
        }

        router.operation(.post, "\(base)/:webhook_destination_id/rotate-secret", "rotate-webhook-destination-secret", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.update)
            return try .json(try await webhooks.rotateSecret(try call.objectID("webhook_destination_id"), caller: caller))
        }

        router.operation(.get, "\(base)/:webhook_destination_id/delivery", "get-webhook-deliveries", api: api) { call in
            let caller = try call.caller
            let id = try call.objectID("webhook_destination_id")
            let query = call.query
            var filter = WebhookDeliveryFilter()
            if let status = query.string("status") {
                guard let parsed = WebhookDelivery.Status(rawValue: status) else {
                    throw PlatformError.validation(["query", "status"], "Input should be 'success' or 'failed'", type: "enum")
                }
                filter.status = parsed
            }
            filter.type = query.string("type")
            filter.createdAfter = try query.date("created_after")
            filter.createdBefore = try query.date("created_before")
            let sort = try query.sort(allowed: ["type": "type", "status": "status", "created_at": "created_at"])
                .map { SortKey(column: $0.column, ascending: $0.ascending) }
            let page = try query.page(defaultLimit: 50, maxLimit: 50, minLimit: 0)
            guard caller.can(Self.deliveries) else {
                return try .json(Page<WebhookDelivery>(itemsKey: "webhook_deliveries", items: [], hasMore: false, continuationToken: nil))
            }
            let result = try await webhooks.deliveries(of: id, orgID: call.orgID, filter: filter, sort: sort, page: PageRequest(limit: page.limit, offset: page.offset))
            return try .json(Page(itemsKey: "webhook_deliveries", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }
    }
}

/// `agent-framework-resource-updated`: the operations that change agents, context graphs, services,
/// dynamic behavior sets, tools or metrics, and what each announces. The payload is
/// `{type, org_id, resource_type, resource_id, action, operation_id}` (`action`: `created`, `updated`,
/// `deleted`, `version-created`).
enum ResourceChanges {
    struct Change {
        var resourceType: String
        var action: String
        /// The path parameter naming the resource; nil for a creation (its id is in the answer).
        var idParameter: String?
    }

    static let operations: [String: Change] = [
        "create-agent": Change(resourceType: "agent", action: "created", idParameter: nil),
        "create-agent-version": Change(resourceType: "agent", action: "version-created", idParameter: "agent_id"),
        "delete-agent": Change(resourceType: "agent", action: "deleted", idParameter: "agent_id"),
        "create-service-hierarchical-state-machine": Change(resourceType: "context-graph", action: "created", idParameter: nil),
        "create-service-hierarchical-state-machine-version": Change(
            resourceType: "context-graph", action: "version-created", idParameter: "service_hierarchical_state_machine_id"
        ),
        "delete-service-hierarchical-state-machine": Change(
            resourceType: "context-graph", action: "deleted", idParameter: "service_hierarchical_state_machine_id"
        ),
        "create-service": Change(resourceType: "service", action: "created", idParameter: nil),
        "update-service": Change(resourceType: "service", action: "updated", idParameter: "service_id"),
        "upsert-service-version-set": Change(resourceType: "service", action: "updated", idParameter: "service_id"),
        "delete-service-version-set": Change(resourceType: "service", action: "updated", idParameter: "service_id"),
        "create-dynamic-behavior-set": Change(resourceType: "dynamic-behavior-set", action: "created", idParameter: nil),
        "update-dynamic-behavior-set": Change(resourceType: "dynamic-behavior-set", action: "updated", idParameter: "dynamic_behavior_set_id"),
        "delete-dynamic-behavior-instruction": Change(resourceType: "dynamic-behavior-set", action: "deleted", idParameter: "dynamic_behavior_set_id"),
        "create-dynamic-behavior-set-version": Change(
            resourceType: "dynamic-behavior-set", action: "version-created", idParameter: "dynamic_behavior_set_id"
        ),
        "create-tool": Change(resourceType: "tool", action: "created", idParameter: nil),
        "modify-tool": Change(resourceType: "tool", action: "updated", idParameter: "tool_id"),
        "modify-tool-envvars": Change(resourceType: "tool", action: "updated", idParameter: "tool_id"),
        "deprecate-tool": Change(resourceType: "tool", action: "deleted", idParameter: "tool_id"),
        "publish-tool-version": Change(resourceType: "tool", action: "version-created", idParameter: "tool_id"),
        "deprecate-tool-version": Change(resourceType: "tool", action: "updated", idParameter: "tool_id"),
        "create-metric": Change(resourceType: "metric", action: "created", idParameter: nil),
        "update-metric": Change(resourceType: "metric", action: "updated", idParameter: "metric_id"),
        "delete-metric": Change(resourceType: "metric", action: "deleted", idParameter: "metric_id"),
    ]

    /// The id in a creation's answer: its `id`, or its one `…_id` field.
    static func createdID(in body: [UInt8]) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        if let id = object["id"] as? String { return id }
        return object.first { $0.key.hasSuffix("_id") && $0.value is String }?.value as? String
    }
}

/// Where `Response.json` leaves the bytes it answered, for the operation that asked (a creation whose
/// change is announced needs the new id).
final class ResponseCapture: @unchecked Sendable {
    @TaskLocal static var current: ResponseCapture?
    private let lock = NSLock()
    private var captured: [UInt8]?

    var bytes: [UInt8]? {
        get { lock.withLock { captured } }
        set { lock.withLock { captured = newValue } }
    }
}
