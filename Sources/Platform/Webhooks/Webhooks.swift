import AmigoWire
import Crypto
import Foundation
import Logging
import Storage

/// Webhook destinations of an organization and the deliveries of events to them.
///
/// Rules:
/// - At most 10 destinations per organization (400). A URL must be HTTPS and must not name a loopback,
///   private or link-local address (400), unless the operator allows plain HTTP or private networks
///   (``WebhookPolicy``); the address is checked again, resolved, before every attempt. The URL cannot
///   change. The secret is shown once, at creation or rotation.
/// - An event (``emit(_:content:orgID:in:)``) becomes one delivery per destination that accepts its
///   type, with a `deliver-webhook` job each: in the transaction of the change for finished analyses and
///   expiring keys; right after the change commits for changes of the agent framework (``announce``),
///   so a crash between the two loses that event. The
///   body is fixed then; every attempt sends it with `x-amigo-idempotent-key` (the delivery's id, the
///   same on every retry), `x-amigo-request-timestamp` (milliseconds) and `x-amigo-request-signature`
///   (hex HMAC-SHA256 of `v1:{timestamp}:{body}`).
/// - A 2xx answer is success; anything else (or no answer within the timeout) is a failed attempt,
///   retried after 5, 10, 20, 20 … s up to `retry_attempts` times. Each attempt is recorded.
/// - Rotation: at most once an hour (400). For 30 minutes both secrets sign: `x-amigo-request-signature`
///   with the old secret (the one receivers know), `x-compadre-request-signature-new` with the new one;
///   the delivery is `dual_signed`.
/// - Deliveries are kept 30 days.
public struct Webhooks: Sendable {
    public static let deliver = "deliver-webhook"
    public static let maximumDestinations = 10
    public static let rotationInterval: TimeInterval = 3600
    public static let dualSigningWindow: TimeInterval = 1800
    public static let retention: TimeInterval = 30 * 86_400
    public static let newSignatureHeader = "x-compadre-request-signature-new"

    let store: Store
    public var policy: WebhookPolicy
    let transport: any WebhookTransport
    let now: @Sendable () -> Date
    let logger: Logger
    /// Rings the webhook runner after a commit that enqueued deliveries.
    public let doorbell = JobDoorbell()

    public init(
        store: Store, policy: WebhookPolicy = WebhookPolicy(), transport: any WebhookTransport = HTTPWebhookTransport(), logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.policy = policy
        self.transport = transport
        self.logger = logger
        self.now = now
    }

    public var handlers: [String: JobRunner.Handler] {
        [Self.deliver: { job in try await deliver(job) }]
    }

    // MARK: - Destinations

    public func create(_ request: CreateWebhookDestinationRequest, caller: Principal) async throws -> CreateWebhookDestinationResponse {
        let orgID = caller.orgID
        guard let url = URL(string: request.url) else { throw PlatformError.badRequest("The URL is not valid.") }
        // Resolved too: `127.1`, `localhost.` or a name of a private address are refused now, not at delivery.
        try await policy.checkResolved(url)
        let date = now()
        let secret = Self.newSecret()
        let destination = StoredWebhookDestination(
            destination: WebhookDestination(
                id: ObjectID.generate(now: date), url: request.url, secretGeneratedAt: date, retryAttempts: request.retryAttempts,
                acceptedTypes: request.acceptedTypes.uniqued
            ),
            orgID: orgID, secret: secret
        )
        try await store.write { repositories in
            try await repositories.serialize("webhook-destinations/\(orgID)")
            if try await repositories.webhooks.destinations(orgID: orgID).count >= Self.maximumDestinations {
                throw PlatformError.badRequest("The organization already has \(Self.maximumDestinations) webhook destinations.")
            }
            try await repositories.webhooks.insert(destination)
        }
        return CreateWebhookDestinationResponse(webhookDestinationID: destination.destination.id, secret: secret)
    }

    public func list(orgID: String, ids: [String]) async throws -> [WebhookDestination] {
        try await store.read { try await $0.webhooks.destinations(orgID: orgID) }.map(\.destination)
            .filter { ids.isEmpty || ids.contains($0.id) }
    }

    public func update(_ id: String, _ request: UpdateWebhookDestinationRequest, caller: Principal) async throws {
        try await store.write { repositories in
            var destination = try await Self.existing(id, orgID: caller.orgID, in: repositories)
            if let attempts = request.retryAttempts { destination.destination.retryAttempts = attempts }
            if let types = request.acceptedTypes { destination.destination.acceptedTypes = types.uniqued }
            try await repositories.webhooks.update(destination)
        }
    }

    /// Removes the destination; deliveries still due to it are dropped.
    public func delete(_ id: String, caller: Principal) async throws {
        try await store.write { repositories in
            _ = try await Self.existing(id, orgID: caller.orgID, in: repositories)
            try await repositories.webhooks.delete(id: id, orgID: caller.orgID)
        }
    }

    public func rotateSecret(_ id: String, caller: Principal) async throws -> RotateWebhookSecretResponse {
        let date = now()
        let secret = Self.newSecret()
        return try await store.write { repositories in
            try await repositories.serialize("webhook-destination/\(id)")
            var destination = try await Self.existing(id, orgID: caller.orgID, in: repositories)
            if date.timeIntervalSince(destination.destination.secretGeneratedAt) < Self.rotationInterval {
                throw PlatformError.badRequest("A webhook destination's secret can be rotated at most once an hour.")
            }
            let stops = date.addingTimeInterval(Self.dualSigningWindow)
            destination.previousSecret = destination.secret
            destination.dualSigningStopsAt = stops
            destination.secret = secret
            destination.destination.secretGeneratedAt = date
            try await repositories.webhooks.update(destination)
            return RotateWebhookSecretResponse(secret: secret, dualSigningStopsAt: stops)
        }
    }

    public func deliveries(
        of id: String, orgID: String, filter: WebhookDeliveryFilter, sort: [SortKey], page: PageRequest
    ) async throws -> PageResult<WebhookDelivery> {
        try await store.read { repositories in
            _ = try await Self.existing(id, orgID: orgID, in: repositories)
            return try await repositories.webhooks.deliveries(destinationID: id, orgID: orgID, filter: filter, sort: sort, page: page)
        }
    }

    static func existing(_ id: String, orgID: String, in repositories: Repositories) async throws -> StoredWebhookDestination {
        guard let destination = try await repositories.webhooks.destination(id: id, orgID: orgID) else {
            throw PlatformError.notFound("Webhook destination `\(id)` does not exist.")
        }
        return destination
    }

    /// 32 random bytes, hex.
    static func newSecret() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { bytes in bytes.map { String(format: "%02x", $0) }.joined() }
    }

    // MARK: - Events

    /// Queues `content` (an event of `type`) to every destination of `orgID` that accepts it, in the
    /// transaction of `repositories`; ring ``doorbell`` after it commits.
    public func emit(_ type: WebhookType, content: [String: JSONValue], orgID: String, in repositories: Repositories) async throws {
        let destinations = try await repositories.webhooks.destinations(orgID: orgID).filter { $0.destination.acceptedTypes.contains(type) }
        guard !destinations.isEmpty else { return }
        let body = try WireEncoder().string(OrderedEvent(type: type, content: content))
        let date = now()
        for destination in destinations {
            var content = content
            content["type"] = .string(type.rawValue)
            let delivery = StoredWebhookDelivery(
                delivery: WebhookDelivery(id: ObjectID.generate(now: date), type: type, webhookContent: .object(content), createdAt: date),
                orgID: orgID, destinationID: destination.destination.id, body: body
            )
            try await repositories.webhooks.insert(delivery)
            _ = try await repositories.jobs.enqueue(JobRecord(
                id: ObjectID.generate(now: date), orgID: orgID, kind: Self.deliver, subject: delivery.delivery.id,
                payload: try WireEncoder().string(["delivery_id": delivery.delivery.id]), idempotencyKey: "webhook/\(delivery.delivery.id)",
                maxAttempts: destination.destination.retryAttempts + 1, runAfter: date, createdAt: date
            ))
        }
    }

    /// Emits in a transaction of its own (for changes whose transaction is not at hand), then rings.
    public func emit(_ type: WebhookType, content: [String: JSONValue], orgID: String) async throws {
        try await store.write { repositories in try await emit(type, content: content, orgID: orgID, in: repositories) }
        doorbell.ring()
    }

    /// Emits in a transaction of its own when a destination of `orgID` accepts `type` (most
    /// organizations have none: one read then), and rings; a failure is logged, never thrown — the
    /// change it announces is already made.
    public func announce(_ type: WebhookType, content: [String: JSONValue], orgID: String) async {
        do {
            let wanted = try await store.read { try await $0.webhooks.destinations(orgID: orgID) }.contains { $0.destination.acceptedTypes.contains(type) }
            guard wanted else { return }
            try await emit(type, content: content, orgID: orgID)
        } catch {
            logger.error("a webhook event could not be queued", metadata: ["type": "\(type.rawValue)", "org_id": "\(orgID)", "error": "\(error)"])
        }
    }

    /// One attempt at a delivery; throws (so the runner retries) unless it was answered 2xx.
    func deliver(_ job: JobRecord) async throws {
        let orgID = job.orgID
        let loaded = try await store.read { repositories -> (StoredWebhookDelivery, StoredWebhookDestination)? in
            guard let delivery = try await repositories.webhooks.delivery(id: job.subject, orgID: orgID), delivery.delivery.status != .success,
                  let destination = try await repositories.webhooks.destination(id: delivery.destinationID, orgID: orgID)
            else { return nil }
            return (delivery, destination)
        }
        // Done, or its destination was deleted.
        guard var (delivery, destination) = loaded, let url = URL(string: destination.destination.url) else { return }
        let date = now()
        let timestamp = String(Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
        var headers = [
            ("content-type", "application/json"), ("user-agent", "Compadre-Webhooks/1"),
            ("x-amigo-idempotent-key", delivery.delivery.id), ("x-amigo-request-timestamp", timestamp),
        ]
        if let previous = destination.previousSecret, let stops = destination.dualSigningStopsAt, date < stops {
            headers.append(("x-amigo-request-signature", Self.signature(secret: previous, timestamp: timestamp, body: delivery.body)))
            headers.append((Self.newSignatureHeader, Self.signature(secret: destination.secret, timestamp: timestamp, body: delivery.body)))
            delivery.delivery.dualSigned = true
        } else {
            headers.append(("x-amigo-request-signature", Self.signature(secret: destination.secret, timestamp: timestamp, body: delivery.body)))
        }
        var status = 0
        var problem: String?
        do {
            try await policy.checkResolved(url)
            status = try await transport.post(url, headers: headers, body: Data(delivery.body.utf8), timeout: policy.timeout)
        } catch {
            problem = "\(error)"
        }
        delivery.delivery.deliveryAttempts.append(DeliveryAttempt(deliveryTime: date, statusCode: status))
        if (200..<300).contains(status) { delivery.delivery.status = .success }
        let recorded = delivery
        try await store.write { try await $0.webhooks.update(recorded) }
        guard recorded.delivery.status == .success else {
            throw WebhookDeliveryFailure(status: status, problem: problem)
        }
    }

    /// `hex(HMAC-SHA256(secret, "v1:{timestamp}:{body}"))`, as the official SDK verifies it.
    public static func signature(secret: String, timestamp: String, body: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("v1:\(timestamp):\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }
}

struct WebhookDeliveryFailure: Error, CustomStringConvertible {
    var status: Int
    var problem: String?
    var description: String { problem.map { "no answer: \($0)" } ?? "answered \(status)" }
}

/// An event body: `type` first, then the other fields in a fixed order.
struct OrderedEvent: Encodable {
    var type: WebhookType
    var content: [String: JSONValue]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(type.rawValue, forKey: Key(stringValue: "type"))
        for key in content.keys.sorted() where key != "type" {
            try c.encode(content[key]!, forKey: Key(stringValue: key))
        }
    }
}
