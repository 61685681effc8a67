import Foundation

/// The kinds of events a destination may accept (`WebhookType`).
public enum WebhookType: String, Codable, Sendable, Hashable, CaseIterable {
    case conversationPostProcessingComplete = "conversation-post-processing-complete"
    case apiKeyExpirationSoon = "api-key-expiration-soon"
    case agentFrameworkResourceUpdated = "agent-framework-resource-updated"
}

/// A destination as listed (`WebhookDestination`): never its secret.
public struct WebhookDestination: Codable, Sendable, Hashable {
    public var id: String
    public var url: String
    public var secretGeneratedAt: Date
    public var retryAttempts: Int
    public var acceptedTypes: [WebhookType]

    public init(id: String, url: String, secretGeneratedAt: Date, retryAttempts: Int, acceptedTypes: [WebhookType]) {
        self.id = id
        self.url = url
        self.secretGeneratedAt = secretGeneratedAt
        self.retryAttempts = retryAttempts
        self.acceptedTypes = acceptedTypes
    }

    enum CodingKeys: String, CodingKey {
        case id, url
        case secretGeneratedAt = "secret_generated_at"
        case retryAttempts = "retry_attempts"
        case acceptedTypes = "accepted_types"
    }
}

/// Body of `POST /v1/{org}/webhook_destination/`.
public struct CreateWebhookDestinationRequest: Decodable, Sendable, ValidatableRequest {
    public var url: String
    public var acceptedTypes: [WebhookType]
    /// Retries after a failed delivery (1–5, default 3).
    public var retryAttempts: Int

    enum CodingKeys: String, CodingKey {
        case url
        case acceptedTypes = "accepted_types"
        case retryAttempts = "retry_attempts"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        url = try c.decode(String.self, forKey: .url)
        acceptedTypes = try c.decode([WebhookType].self, forKey: .acceptedTypes)
        retryAttempts = try c.decodeIfPresentNotNull(Int.self, forKey: .retryAttempts) ?? 3
    }

    public func validate(into c: inout ValidationCollector) {
        if url.isEmpty { c.add(["url"], "String should have at least 1 character", type: "string_too_short") }
        else if URLComponents(string: url)?.scheme == nil || URLComponents(string: url)?.host?.isEmpty != false {
            c.add(["url"], "Input should be a valid URL", type: "url_parsing")
        }
        WebhookRules.retryAttempts(retryAttempts, into: &c)
    }
}

/// Body of `POST /v1/{org}/webhook_destination/{id}`: `null` or absent = unchanged.
public struct UpdateWebhookDestinationRequest: Decodable, Sendable, ValidatableRequest {
    public var retryAttempts: Int?
    public var acceptedTypes: [WebhookType]?

    enum CodingKeys: String, CodingKey {
        case retryAttempts = "retry_attempts"
        case acceptedTypes = "accepted_types"
    }

    public func validate(into c: inout ValidationCollector) {
        if let retryAttempts { WebhookRules.retryAttempts(retryAttempts, into: &c) }
    }
}

enum WebhookRules {
    static func retryAttempts(_ value: Int, into c: inout ValidationCollector) {
        if value < 1 { c.add(["retry_attempts"], "Input should be greater than 0", type: "greater_than") }
        if value > 5 { c.add(["retry_attempts"], "Input should be less than or equal to 5", type: "less_than_equal") }
    }
}

public struct CreateWebhookDestinationResponse: Codable, Sendable {
    public var webhookDestinationID: String
    public var secret: String

    public init(webhookDestinationID: String, secret: String) {
        self.webhookDestinationID = webhookDestinationID
        self.secret = secret
    }

    enum CodingKeys: String, CodingKey {
        case webhookDestinationID = "webhook_destination_id"
        case secret
    }
}

public struct RotateWebhookSecretResponse: Codable, Sendable {
    public var secret: String
    public var dualSigningStopsAt: Date

    public init(secret: String, dualSigningStopsAt: Date) {
        self.secret = secret
        self.dualSigningStopsAt = dualSigningStopsAt
    }

    enum CodingKeys: String, CodingKey {
        case secret
        case dualSigningStopsAt = "dual_signing_stops_at"
    }
}

/// One attempt to deliver (`DeliveryAttempt`); `status_code` 0 when no answer came (refused, timed out).
public struct DeliveryAttempt: Codable, Sendable, Hashable {
    public var deliveryTime: Date
    public var statusCode: Int

    public init(deliveryTime: Date, statusCode: Int) {
        self.deliveryTime = deliveryTime
        self.statusCode = statusCode
    }

    enum CodingKeys: String, CodingKey {
        case deliveryTime = "delivery_time"
        case statusCode = "status_code"
    }
}

/// A delivery (`WebhookDeliveryInstance`): `success` once an attempt was answered 2xx, `failed` until
/// then (retries may still be due).
public struct WebhookDelivery: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable {
        case success
        case failed
    }

    public var id: String
    public var type: WebhookType
    public var webhookContent: JSONValue
    public var status: Status
    public var deliveryAttempts: [DeliveryAttempt]
    public var dualSigned: Bool
    public var createdAt: Date

    public init(id: String, type: WebhookType, webhookContent: JSONValue, createdAt: Date) {
        self.id = id
        self.type = type
        self.webhookContent = webhookContent
        self.status = .failed
        self.deliveryAttempts = []
        self.dualSigned = false
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, type
        case webhookContent = "webhook_content"
        case status
        case deliveryAttempts = "delivery_attempts"
        case dualSigned = "dual_signed"
        case createdAt = "created_at"
    }
}
