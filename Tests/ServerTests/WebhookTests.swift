import AmigoWire
import Crypto
import CompadreTesting
import Engine
import EngineTesting
import Foundation
import HTTPTypes
import Logging
import Platform
import Server
import Storage
import Synchronization
import Testing

/// A transport that answers with scripted status codes and keeps what it was sent.
final class RecordingTransport: WebhookTransport, @unchecked Sendable {
    struct Sent {
        var url: URL
        var headers: [String: String]
        var body: String
    }

    private let lock = NSLock()
    private var answers: [Int]
    private(set) var sent: [Sent] = []

    init(answers: [Int] = []) { self.answers = answers }

    func post(_ url: URL, headers: [(String, String)], body: Data, timeout: Duration) async throws -> Int {
        lock.withLock {
            sent.append(Sent(url: url, headers: Dictionary(headers, uniquingKeysWith: { $1 }), body: String(decoding: body, as: UTF8.self)))
            return answers.isEmpty ? 200 : answers.removeFirst()
        }
    }

    var requests: [Sent] { lock.withLock { sent } }
}

/// A clock the test moves.
final class TestNow: @unchecked Sendable {
    private let lock = NSLock()
    private var date = Date()
    var now: Date { lock.withLock { date } }
    func advance(_ seconds: TimeInterval) { lock.withLock { date = date.addingTimeInterval(seconds) } }
}

@Suite("Webhooks")
struct WebhookTests {
    func destination(_ admin: SignedInAdmin, types: [String], retries: Int = 3, url: String = "http://127.0.0.1:9/hook") async throws -> (id: String, secret: String) {
        let answer = try await admin.client.call(.post, "/v1/\(admin.org)/webhook_destination/", token: admin.token, json: [
            "url": url, "accepted_types": types, "retry_attempts": retries,
        ])
        #expect(answer.status == .created, "\(answer.text)")
        let object = try answer.object()
        return (object["webhook_destination_id"] as? String ?? "", object["secret"] as? String ?? "")
    }

    /// A runner of the deliveries whose clock jumps a minute at every reading (back-offs pass at once).
    func runner(_ admin: SignedInAdmin, _ webhooks: Webhooks) -> JobRunner {
        let minutes = Mutex(0.0)
        return JobRunner(
            store: admin.server.api.store, handlers: webhooks.handlers,
            now: { Date().addingTimeInterval(minutes.withLock { $0 += 60; return $0 }) }, logger: Logger(label: "test")
        )
    }

    func permissive() -> WebhookPolicy {
        var policy = WebhookPolicy()
        policy.allowPlainHTTP = true
        policy.allowPrivateNetworks = true
        return policy
    }

    static func sign(_ secret: String, _ timestamp: String, _ body: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data("v1:\(timestamp):\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
            .map { String(format: "%02x", $0) }.joined()
    }

    @Test func aChangeIsDeliveredSignedAndRetriedWithTheSameKeyUntilItIsAccepted() async throws {
        try await SignedInAdmin.with { admin in
            let (id, secret) = try await destination(admin, types: ["agent-framework-resource-updated"], retries: 3)
            // A change of the agent framework: a metric is created.
            let metric = try await admin.client.call(.post, "/v1/\(admin.org)/metric/", token: admin.token, json: [
                "name": "Resolved", "description": "d", "applied_to_services": [String](), "tags": [String: Any](), "metric_value": ["type": "boolean"],
            ]).object()["id"] as? String ?? ""
            let transport = RecordingTransport(answers: [500, 503, 204])
            let webhooks = Webhooks(store: admin.server.api.store, policy: permissive(), transport: transport, logger: Logger(label: "test"))
            let runner = runner(admin, webhooks)
            for _ in 0..<3 { #expect(await runner.runNext()) }
            #expect(await runner.runNext() == false)

            let sent = transport.requests
            #expect(sent.count == 3)
            #expect(Set(sent.map { $0.headers["x-amigo-idempotent-key"] }).count == 1)
            for request in sent {
                let timestamp = try #require(request.headers["x-amigo-request-timestamp"])
                #expect(Int64(timestamp) != nil && timestamp.count >= 13, "milliseconds")
                #expect(request.headers["x-amigo-request-signature"] == Self.sign(secret, timestamp, request.body))
                #expect(request.headers[Webhooks.newSignatureHeader] == nil)
            }
            let body = try JSONSerialization.jsonObject(with: Data(sent[0].body.utf8)) as? [String: Any] ?? [:]
            #expect(body.keys.sorted() == ["action", "operation_id", "org_id", "resource_id", "resource_type", "type"])
            #expect(body["type"] as? String == "agent-framework-resource-updated")
            #expect(body["resource_type"] as? String == "metric" && body["resource_id"] as? String == metric && body["action"] as? String == "created")

            let listed = try await admin.client.call(.get, "/v1/\(admin.org)/webhook_destination/\(id)/delivery", token: admin.token).object()
            let delivery = try #require((listed["webhook_deliveries"] as? [[String: Any]])?.first)
            #expect(delivery["status"] as? String == "success")
            #expect((delivery["delivery_attempts"] as? [[String: Any]])?.map { $0["status_code"] as? Int } == [500, 503, 204])
            #expect(delivery["dual_signed"] as? Bool == false)
            #expect(delivery["id"] as? String == sent[0].headers["x-amigo-idempotent-key"])
            let failed = try await admin.client.call(.get, "/v1/\(admin.org)/webhook_destination/\(id)/delivery?status=failed", token: admin.token).object()
            #expect((failed["webhook_deliveries"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func aDeliveryStopsAfterItsRetriesAndADestinationThatIgnoresTheTypeGetsNothing() async throws {
        try await SignedInAdmin.with { admin in
            let (id, _) = try await destination(admin, types: ["agent-framework-resource-updated"], retries: 1)
            _ = try await destination(admin, types: ["api-key-expiration-soon"])
            _ = try await makeService(admin.client, org: admin.org, token: admin.token)
            let transport = RecordingTransport(answers: Array(repeating: 500, count: 20))
            let webhooks = Webhooks(store: admin.server.api.store, policy: permissive(), transport: transport, logger: Logger(label: "test"))
            let runner = runner(admin, webhooks)
            while await runner.runNext() {}
            // Agent, agent version, graph, graph version, service: five changes, each tried twice (1 retry).
            #expect(transport.requests.count == 10)
            #expect(Set(transport.requests.map { $0.headers["x-amigo-idempotent-key"] }).count == 5)
            let listed = try await admin.client.call(.get, "/v1/\(admin.org)/webhook_destination/\(id)/delivery?sort_by=created_at", token: admin.token).object()
            let deliveries = listed["webhook_deliveries"] as? [[String: Any]] ?? []
            #expect(deliveries.count == 5)
            #expect(deliveries.allSatisfy { $0["status"] as? String == "failed" && ($0["delivery_attempts"] as? [Any])?.count == 2 })
            #expect(deliveries.compactMap { ($0["webhook_content"] as? [String: Any])?["resource_type"] as? String }
                == ["agent", "agent", "context-graph", "context-graph", "service"])
        }
    }

    @Test func aRotatedSecretSignsBesideTheOldOneForHalfAnHourAndRotationIsHourly() async throws {
        try await SignedInAdmin.with { admin in
            let (id, oldSecret) = try await destination(admin, types: ["agent-framework-resource-updated"])
            let clock = TestNow()
            let transport = RecordingTransport()
            let webhooks = Webhooks(store: admin.server.api.store, policy: permissive(), transport: transport, logger: Logger(label: "test"), now: { clock.now })
            let caller = Principal.simulatedUser(User(orgID: admin.org, userID: admin.credentials.userID, firstName: "", lastName: "", email: "", roleID: "", createdAt: Date()))
            // Within the hour of the first secret: refused (the API too).
            await #expect(throws: PlatformError.self) { _ = try await webhooks.rotateSecret(id, caller: caller) }
            #expect(try await admin.client.call(.post, "/v1/\(admin.org)/webhook_destination/\(id)/rotate-secret", token: admin.token).status == .badRequest)
            clock.advance(3700)
            let rotated = try await webhooks.rotateSecret(id, caller: caller)
            #expect(rotated.secret != oldSecret)
            #expect(abs(rotated.dualSigningStopsAt.timeIntervalSince(clock.now) - 1800) < 1)

            func deliverOne() async throws -> RecordingTransport.Sent {
                await webhooks.announce(.agentFrameworkResourceUpdated, content: ["org_id": .string(admin.org)], orgID: admin.org)
                let runner = JobRunner(store: admin.server.api.store, handlers: webhooks.handlers, now: { clock.now }, logger: Logger(label: "test"))
                #expect(await runner.runNext())
                return try #require(transport.requests.last)
            }
            clock.advance(60)
            let during = try await deliverOne()
            let timestamp = during.headers["x-amigo-request-timestamp"] ?? ""
            // The old secret (which receivers know) in the SDK's header, the new one beside it.
            #expect(during.headers["x-amigo-request-signature"] == Self.sign(oldSecret, timestamp, during.body))
            #expect(during.headers[Webhooks.newSignatureHeader] == Self.sign(rotated.secret, timestamp, during.body))
            clock.advance(1800)
            let after = try await deliverOne()
            let later = after.headers["x-amigo-request-timestamp"] ?? ""
            #expect(after.headers["x-amigo-request-signature"] == Self.sign(rotated.secret, later, after.body))
            #expect(after.headers[Webhooks.newSignatureHeader] == nil)
            let listed = try await admin.client.call(.get, "/v1/\(admin.org)/webhook_destination/\(id)/delivery?sort_by=created_at", token: admin.token).object()
            #expect((listed["webhook_deliveries"] as? [[String: Any]])?.map { $0["dual_signed"] as? Bool } == [true, false])
            // The listing shows when the secret was made, never the secret.
            let destinations = try await admin.client.call(.get, "/v1/\(admin.org)/webhook_destination/", token: admin.token)
            #expect(!destinations.text.contains(rotated.secret) && !destinations.text.contains(oldSecret))
        }
    }

    @Test func destinationsMustBePublicHTTPSAndAreLimitedToTenPerOrganization() async throws {
        try await SignedInAdmin.with { admin in
            let strict = Webhooks(store: admin.server.api.store, transport: RecordingTransport(), logger: Logger(label: "test"))
            let caller = Principal.simulatedUser(User(orgID: admin.org, userID: admin.credentials.userID, firstName: "", lastName: "", email: "", roleID: "", createdAt: Date()))
            func create(_ url: String) async throws {
                let body = try WireCoding.decoder().decode(CreateWebhookDestinationRequest.self, from: Data(#"{"url": "\#(url)", "accepted_types": []}"#.utf8))
                _ = try await strict.create(body, caller: caller)
            }
            for url in ["http://example.com/hook", "https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/x", "https://[::1]/x",
                        "https://169.254.169.254/latest", "https://[::ffff:192.168.0.1]/x"] {
                await #expect(throws: PlatformError.self, "\(url)") { try await create(url) }
            }
            try await create("https://93.184.215.14/hook")
            // The test server allows loopback over HTTP; ten destinations, then 400.
            for index in 0..<9 { _ = try await destination(admin, types: [], url: "http://127.0.0.1:9/\(index)") }
            let eleventh = try await admin.client.call(.post, "/v1/\(admin.org)/webhook_destination/", token: admin.token, json: [
                "url": "http://127.0.0.1:9/x", "accepted_types": [String](),
            ])
            #expect(eleventh.status == .badRequest)
            let invalid = try await admin.client.call(.post, "/v1/\(admin.org)/webhook_destination/", token: admin.token, json: [
                "url": "http://127.0.0.1:9/x", "accepted_types": ["no-such-type"], "retry_attempts": 9,
            ])
            #expect(invalid.status == .unprocessableContent)
            let listed = try await admin.client.call(.get, "/v1/\(admin.org)/webhook_destination/", token: admin.token).object()
            let destinations = listed["webhook_destinations"] as? [[String: Any]] ?? []
            #expect(destinations.count == 10)
            #expect(destinations.first?["retry_attempts"] as? Int == 3)
            let missing = ObjectID.generate()
            #expect(try await admin.client.call(.delete, "/v1/\(admin.org)/webhook_destination/\(missing)", token: admin.token).status == .notFound)
            #expect(try await admin.client.call(.post, "/v1/\(admin.org)/webhook_destination/\(missing)", token: admin.token, json: ["retry_attempts": 2]).status == .notFound)
        }
    }

    @Test func aDeletedDestinationGetsNoMoreDeliveries() async throws {
        try await SignedInAdmin.with { admin in
            let (id, _) = try await destination(admin, types: ["agent-framework-resource-updated"])
            _ = try await admin.client.call(.post, "/v1/\(admin.org)/organization/agent", token: admin.token, json: ["agent_name": "later"])
            #expect(try await admin.client.call(.delete, "/v1/\(admin.org)/webhook_destination/\(id)", token: admin.token).status == .noContent)
            let transport = RecordingTransport()
            let webhooks = Webhooks(store: admin.server.api.store, policy: permissive(), transport: transport, logger: Logger(label: "test"))
            #expect(await runner(admin, webhooks).runNext())
            #expect(transport.requests.isEmpty)
        }
    }

    @Test func finishedAnalysisTypesAndKeysAboutToExpireAreAnnounced() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            _ = try await destination(admin, types: ["conversation-post-processing-complete", "api-key-expiration-soon"])
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let created = try await admin.client.call(.post, "/v1/\(admin.org)/conversation/?response_format=text", token: admin.token, json: ["service_id": service])
            let conversation = try created.events().first?["conversation_id"] as? String ?? ""
            _ = try await admin.client.interact(org: admin.org, conversation: conversation, token: admin.token, text: "Hello")
            #expect(try await admin.client.call(.post, "/v1/\(admin.org)/conversation/\(conversation)/finish/", token: admin.token).status == .noContent)
            let analysis = JobRunner(store: admin.server.api.store, handlers: admin.server.api.conversations.analysis.handlers, logger: Logger(label: "test"))
            while await analysis.runNext() {}

            let transport = RecordingTransport()
            let webhooks = Webhooks(store: admin.server.api.store, policy: permissive(), transport: transport, logger: Logger(label: "test"))
            let deliveries = runner(admin, webhooks)
            while await deliveries.runNext() {}
            let events = transport.requests.compactMap { try? JSONSerialization.jsonObject(with: Data($0.body.utf8)) as? [String: String] }
            #expect(events.count == 3)
            #expect(Set(events.compactMap { $0["post_processing_type"] }) == ["extract-memories", "generate-user-models", "compute-metrics"])
            #expect(events.allSatisfy { $0.keys.sorted() == ["conversation_id", "org_id", "post_processing_type", "type"] && $0["conversation_id"] == conversation })

            // A key that expires in two days is announced once.
            let key = try await admin.client.call(.post, "/v1/\(admin.org)/organization/api_key/", token: admin.token, json: [
                "name": "short", "duration": "P2D", "role_name": "DefaultUserRole",
            ])
            #expect(key.status == .created, "\(key.text)")
            let schedule = WebhookScheduler(webhooks: webhooks, store: admin.server.api.store, logger: Logger(label: "test"))
            #expect(try await schedule.tick() == 1)
            #expect(try await schedule.tick() == 0)
            while await deliveries.runNext() {}
            let warning = try #require(transport.requests.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.body.utf8)) as? [String: String] })
            #expect(warning["type"] == "api-key-expiration-soon")
            #expect(warning["api_key_id"] == (try key.object()["api_key_id"] as? String))
        }
    }
}
