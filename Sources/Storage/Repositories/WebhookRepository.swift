import AmigoWire
import Foundation
import SQLKit

/// A destination as stored: what is listed, its secrets, and the window in which both sign.
public struct StoredWebhookDestination: Codable, Sendable, Hashable {
    public var destination: WebhookDestination
    public var orgID: String
    public var secret: String
    /// The secret before the latest rotation; it still signs until `dualSigningStopsAt`.
    public var previousSecret: String?
    public var dualSigningStopsAt: Date?

    public init(destination: WebhookDestination, orgID: String, secret: String) {
        self.destination = destination
        self.orgID = orgID
        self.secret = secret
    }

    enum CodingKeys: String, CodingKey {
        case destination
        case orgID = "org_id"
        case secret
        case previousSecret = "previous_secret"
        case dualSigningStopsAt = "dual_signing_stops_at"
    }
}

/// A delivery as stored: the wire record, its destination, and the exact body every attempt sends.
public struct StoredWebhookDelivery: Codable, Sendable, Hashable {
    public var delivery: WebhookDelivery
    public var orgID: String
    public var destinationID: String
    public var body: String

    public init(delivery: WebhookDelivery, orgID: String, destinationID: String, body: String) {
        self.delivery = delivery
        self.orgID = orgID
        self.destinationID = destinationID
        self.body = body
    }

    enum CodingKeys: String, CodingKey {
        case delivery
        case orgID = "org_id"
        case destinationID = "destination_id"
        case body
    }
}

/// Webhook destinations and their deliveries.
public struct WebhookRepository: Sendable {
    let sql: any SQLDatabase

    public func insert(_ destination: StoredWebhookDestination) async throws {
        try await sql.raw("""
            INSERT INTO webhook_destinations (id, org_id, doc) VALUES (\(bind: destination.destination.id), \(bind: destination.orgID), \
            \(bind: try Documents.encode(destination)))
            """).run()
    }

    public func update(_ destination: StoredWebhookDestination) async throws {
        try await sql.raw("""
            UPDATE webhook_destinations SET doc = \(bind: try Documents.encode(destination)) \
            WHERE id = \(bind: destination.destination.id) AND org_id = \(bind: destination.orgID)
            """).run()
    }

    public func delete(id: String, orgID: String) async throws {
        try await sql.raw("DELETE FROM webhook_destinations WHERE id = \(bind: id) AND org_id = \(bind: orgID)").run()
    }

    public func destination(id: String, orgID: String) async throws -> StoredWebhookDestination? {
        try await sql.raw("SELECT doc FROM webhook_destinations WHERE id = \(bind: id) AND org_id = \(bind: orgID)").first()
            .map { try Documents.decode(StoredWebhookDestination.self, from: $0) }
    }

    /// The organization's destinations, oldest first.
    public func destinations(orgID: String) async throws -> [StoredWebhookDestination] {
        try await sql.raw("SELECT doc FROM webhook_destinations WHERE org_id = \(bind: orgID) ORDER BY id").all()
            .map { try Documents.decode(StoredWebhookDestination.self, from: $0) }
    }

    // MARK: - Deliveries

    public func insert(_ delivery: StoredWebhookDelivery) async throws {
        try await sql.raw("""
            INSERT INTO webhook_deliveries (id, org_id, destination_id, type, status, created_at, doc) VALUES (\(bind: delivery.delivery.id), \
            \(bind: delivery.orgID), \(bind: delivery.destinationID), \(bind: delivery.delivery.type.rawValue), \
            \(bind: delivery.delivery.status.rawValue), \(bind: delivery.delivery.createdAt.timeIntervalSince1970), \
            \(bind: try Documents.encode(delivery)))
            """).run()
    }

    public func update(_ delivery: StoredWebhookDelivery) async throws {
        try await sql.raw("""
            UPDATE webhook_deliveries SET status = \(bind: delivery.delivery.status.rawValue), doc = \(bind: try Documents.encode(delivery)) \
            WHERE id = \(bind: delivery.delivery.id) AND org_id = \(bind: delivery.orgID)
            """).run()
    }

    public func delivery(id: String, orgID: String) async throws -> StoredWebhookDelivery? {
        try await sql.raw("SELECT doc FROM webhook_deliveries WHERE id = \(bind: id) AND org_id = \(bind: orgID)").first()
            .map { try Documents.decode(StoredWebhookDelivery.self, from: $0) }
    }

    /// A page of a destination's deliveries matching `filter`, sorted by `sort` (newest first by default).
    public func deliveries(
        destinationID: String, orgID: String, filter: WebhookDeliveryFilter, sort: [SortKey], page: PageRequest
    ) async throws -> PageResult<WebhookDelivery> {
        let query = sql.select().column("doc").from("webhook_deliveries")
            .where("destination_id", .equal, destinationID).where("org_id", .equal, orgID)
        if let status = filter.status { query.where("status", .equal, status.rawValue) }
        if let type = filter.type { query.where("type", .equal, type) }
        if let after = filter.createdAfter { query.where("created_at", .greaterThan, after.timeIntervalSince1970) }
        if let before = filter.createdBefore { query.where("created_at", .lessThan, before.timeIntervalSince1970) }
        let keys = sort.isEmpty ? [SortKey(column: "created_at", ascending: false)] : sort
        let rows = try await query.sorted(by: keys, then: "id").paged(page).all()
        return PageResult(fetched: try rows.map { try Documents.decode(StoredWebhookDelivery.self, from: $0).delivery }, page: page)
    }

    /// Forgets deliveries created before `date` (kept 30 days); returns how many.
    @discardableResult
    public func deleteDeliveries(before date: Date) async throws -> Int {
        let count = try await sql.raw("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE created_at < \(bind: date.timeIntervalSince1970)")
            .first()?.decode(column: "n", as: Int.self) ?? 0
        try await sql.raw("DELETE FROM webhook_deliveries WHERE created_at < \(bind: date.timeIntervalSince1970)").run()
        return count
    }

    // MARK: - API key expiry warnings

    /// API keys of every organization that expire before `date`, have not expired at `now`, and were
    /// not warned of yet: `(org_id, key_id, expires_at)`.
    public func keysToWarn(expiringBefore date: Date, now: Date) async throws -> [(orgID: String, keyID: String, expiresAt: Date)] {
        try await sql.raw("""
            SELECT k.org_id, k.key_id, k.expires_at FROM api_keys k \
            WHERE k.expires_at < \(bind: date.timeIntervalSince1970) AND k.expires_at > \(bind: now.timeIntervalSince1970) \
            AND NOT EXISTS (SELECT 1 FROM webhook_key_warnings w WHERE w.key_id = k.key_id)
            """).all().map { row in
                (try row.decode(column: "org_id", as: String.self), try row.decode(column: "key_id", as: String.self),
                 Date(timeIntervalSince1970: try row.decode(column: "expires_at", as: Double.self)))
            }
    }

    public func markWarned(keyID: String, orgID: String, at date: Date) async throws {
        try await sql.raw("""
            INSERT INTO webhook_key_warnings (key_id, org_id, warned_at) VALUES (\(bind: keyID), \(bind: orgID), \(bind: date.timeIntervalSince1970))
            """).run()
    }
}

/// Filters of the delivery listing.
public struct WebhookDeliveryFilter: Sendable {
    public var status: WebhookDelivery.Status?
    public var type: String?
    public var createdAfter: Date?
    public var createdBefore: Date?

    public init() {}
}
