import AmigoWire
import Engine
import Foundation
import Logging
import ServiceLifecycle
import Storage

/// The webhook events that come from the passing of time, and the deliveries' retention: a `Service`
/// of the group that, every `interval` (on its clock),
/// - sends `api-key-expiration-soon` once for each API key that expires within `warning` (default 7
///   days) and has not expired: `{type, org_id, api_key_id, expires_at}`;
/// - forgets deliveries older than 30 days.
/// Replicas may tick at once: a key is marked warned in the transaction that queues its event, under a
/// lock of the key, so it is announced once.
public struct WebhookScheduler: ServiceLifecycle.Service, Sendable {
    let webhooks: Webhooks
    let store: Store
    let interval: Duration
    let warning: TimeInterval
    let clock: AnyClock
    let now: @Sendable () -> Date
    let logger: Logger

    public init(
        webhooks: Webhooks, store: Store, interval: Duration = .seconds(600), warning: TimeInterval = 7 * 86_400,
        clock: AnyClock = .continuous, now: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) {
        self.webhooks = webhooks
        self.store = store
        self.interval = interval
        self.warning = warning
        self.clock = clock
        self.now = now
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await tick()
                } catch {
                    logger.warning("webhook schedule failed", metadata: ["error": "\(error)"])
                }
                try? await clock.sleep(for: interval)
            }
        }
    }

    /// One round: warnings of keys about to expire, then retention. Returns how many warnings were queued.
    @discardableResult
    public func tick() async throws -> Int {
        let date = now()
        let keys = try await store.read { try await $0.webhooks.keysToWarn(expiringBefore: date.addingTimeInterval(warning), now: date) }
        var warned = 0
        for key in keys {
            let queued = try await store.write { repositories -> Bool in
                try await repositories.serialize("api-key-warning/\(key.keyID)")
                // Another replica may have warned of it since the read.
                guard try await repositories.webhooks.keysToWarn(expiringBefore: date.addingTimeInterval(warning), now: date)
                    .contains(where: { $0.keyID == key.keyID })
                else { return false }
                try await repositories.webhooks.markWarned(keyID: key.keyID, orgID: key.orgID, at: date)
                try await webhooks.emit(.apiKeyExpirationSoon, content: [
                    "org_id": .string(key.orgID), "api_key_id": .string(key.keyID), "expires_at": .string(WireCoding.formatDate(key.expiresAt)),
                ], orgID: key.orgID, in: repositories)
                return true
            }
            if queued { warned += 1 }
        }
        if warned > 0 { webhooks.doorbell.ring() }
        let forgotten = try await store.write { try await $0.webhooks.deleteDeliveries(before: date.addingTimeInterval(-Webhooks.retention)) }
        if forgotten > 0 { logger.info("forgot old webhook deliveries", metadata: ["count": "\(forgotten)"]) }
        return warned
    }
}
