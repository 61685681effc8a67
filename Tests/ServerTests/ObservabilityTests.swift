import AmigoWire
import CompadreTesting
import EngineTesting
import Foundation
import HTTPTypes
import Metrics
import Platform
import Prometheus
import Server
import StorageTesting
import Testing

/// The value of the series `name{labels}` in a Prometheus text exposition, summed over every series
/// whose labels include `labels`.
func scraped(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double {
    var total = 0.0
    for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
        let parts = line.split(separator: " ")
        guard parts.count >= 2, let value = Double(parts[parts.count - 1]) else { continue }
        let series = String(parts[0])
        guard labels.allSatisfy({ series.contains("\($0.key)=\"\($0.value)\"") }) else { continue }
        total += value
    }
    return total
}

@Suite("Observability")
struct ObservabilityTests {
    @Test(arguments: TestDatabase.available)
    func metricsCountEveryInteractionAndModelCallTheServerMade(engine: TestDatabase) async throws {
        try await engine.with { database in
            let registry = PrometheusCollectorRegistry()
            try await withMetricsFactory(PrometheusMetricsFactory(registry: registry)) {
                let model = ScriptedModel()
                let server = try await TestServer(database: database, model: model, metrics: registry)
                try await server.test { client in
                    let setup = try await ConversationSetup.make(server, client)
                    let id = try conversationID(of: try await setup.create(client))
                    for text in ["Hi there", "How are you?"] {
                        let answer = try await client.interact(org: setup.org, conversation: id, token: setup.token, text: text)
                        #expect(answer.status == .ok)
                    }
                    let metrics = try await client.call(.get, "/metrics")
                    #expect(metrics.status == .ok)
                    #expect(metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
                    let text = metrics.text
                    #expect(scraped(text, "compadre_interactions_total", ["outcome": "completed"]) == 3)
                    #expect(scraped(text, "compadre_interaction_duration_seconds_count") == 3)
                    #expect(scraped(text, "compadre_model_calls_total") == Double(model.requests.count))
                    #expect(model.requests.count > 3)
                    #expect(scraped(text, "compadre_http_requests_total", ["operation": "interact-with-conversation", "status": "200"]) == 2)
                    #expect(scraped(text, "compadre_http_requests_total", ["operation": "create-conversation", "status": "201"]) == 1)
                }
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func everyResponseCarriesItsRequestIDAndErrorsShowIt(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let credentials = try await server.bootstrap()
            try await server.test { client in
                let token = try await client.signIn(credentials)
                let ok = try await client.call(.get, "/v1/\(credentials.organizationID)/service/", token: token)
                #expect(ok.headers[HTTPField.Name("X-Request-ID")!]?.isEmpty == false)
                let missing = try await client.call(.get, "/v1/\(credentials.organizationID)/organization/agent/\(String(repeating: "a", count: 24))/version", token: token)
                #expect(missing.status == .notFound)
                let id = try #require(missing.headers[HTTPField.Name("X-Request-ID")!])
                #expect(try missing.object()["request_id"] as? String == id)
                #expect(try missing.object()["detail"] is String)
            }
        }
    }
}
