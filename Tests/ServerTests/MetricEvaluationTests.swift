import AmigoWire
import CompadreTesting
import Engine
import EngineTesting
import Foundation
import HTTPTypes
import Platform
import Testing

/// `POST /metric/evaluate` with a scripted judge, and the results listing.
@Suite("Metric evaluation")
struct MetricEvaluationTests {
    func metric(_ admin: SignedInAdmin, _ name: String, _ value: [String: Any]) async throws -> String {
        let answer = try await admin.client.call(.post, "/v1/\(admin.org)/metric/", token: admin.token, json: [
            "name": name, "description": "How the conversation went: \(name)", "applied_to_services": [String](), "tags": [String: Any](),
            "metric_value": value,
        ])
        #expect(answer.status == .created, "\(answer.text)")
        return try answer.object()["id"] as? String ?? ""
    }

    /// A conversation with the greeting and one exchange: messages 1 greeting, 2 user, 3 reply.
    func conversation(_ admin: SignedInAdmin, model: ScriptedModel) async throws -> (id: String, userMessage: String) {
        let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
        let created = try await admin.client.call(.post, "/v1/\(admin.org)/conversation/?response_format=text", token: admin.token, json: ["service_id": service])
        let id = try created.events().first?["conversation_id"] as? String ?? ""
        model.script(.selectNextAction, .choice(1))
        let answer = try await admin.client.interact(org: admin.org, conversation: id, token: admin.token, text: "My invoice is wrong")
        return (id, try answer.events().first?["message_id"] as? String ?? "")
    }

    func evaluate(_ admin: SignedInAdmin, _ body: [String: Any]) async throws -> TestServer.Client.Answer {
        try await admin.client.call(.post, "/v1/\(admin.org)/metric/evaluate", token: admin.token, json: body)
    }

    @Test func theJudgesAnswersComeBackInRequestOrderAndAreStoredAsManualResults() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let resolved = try await metric(admin, "Resolved", ["type": "boolean"])
            let topic = try await metric(admin, "Topic", ["type": "categorical", "categories": ["billing", "booking"]])
            let (conversation, userMessage) = try await conversation(admin, model: model)
            model.script(.evaluateMetric, .raw(#"{"value": "billing", "justification": "The user asks about an invoice.", "messages": [2, 2, 9]}"#))
            model.script(.evaluateMetric, .raw(#"{"value": null, "justification": "Nothing was resolved or left open yet.", "messages": []}"#))
            let answer = try await evaluate(admin, ["metric_ids": [topic, resolved], "conversation_id": conversation])
            #expect(answer.status == .ok, "\(answer.text)")
            let metrics = try answer.object()["metrics"] as? [[String: Any]] ?? []
            #expect(metrics.map { $0["metric_id"] as? String } == [topic, resolved])
            #expect(metrics.first?["value"] as? String == "billing")
            #expect(metrics.first?["references"] as? [String] == [userMessage])
            #expect(metrics.first?["name"] as? String == "Topic")
            #expect(metrics.last?["value"] is NSNull)
            // The judge saw the transcript and the metric's categories.
            let asked = model.requests(of: .evaluateMetric).first?.messages.first?.content ?? ""
            #expect(asked.contains("2. User: My invoice is wrong"))
            #expect(asked.contains(#"Answer one of: "billing", "booking"."#))

            // Again: the manual result is replaced, not added.
            model.script(.evaluateMetric, .raw(#"{"value": true, "justification": "The agent answered.", "messages": [3]}"#))
            #expect(try await evaluate(admin, ["metric_ids": [resolved], "conversation_id": conversation]).status == .ok)
            let listed = try await admin.client.call(.get, "/v1/\(admin.org)/metric/metric_evaluation_result?conversation_id=\(conversation)", token: admin.token).object()
            let results = listed["metric_evaluation_results"] as? [[String: Any]] ?? []
            #expect(results.count == 2)
            let latest = try #require(results.first)
            #expect(latest["metric_id"] as? String == resolved)
            #expect(latest["result"] as? Bool == true)
            let source = latest["source"] as? [String: Any]
            #expect(source?["type"] as? String == "manual")
            #expect(source?["conversation_id"] as? String == conversation)
            #expect((source?["invoked_by"] as? [String: Any])?["user_id"] as? String == admin.credentials.userID)
            #expect((listed["filter_values"] as? [String: Any])?["metric_ids"] as? [String] == [resolved, topic].sorted())
            let onlyTopic = try await admin.client.call(.get, "/v1/\(admin.org)/metric/metric_evaluation_result?metric_id=\(topic)&source_type=manual", token: admin.token).object()
            #expect((onlyTopic["metric_evaluation_results"] as? [[String: Any]])?.map { $0["result"] as? String } == ["billing"])
            let none = try await admin.client.call(.get, "/v1/\(admin.org)/metric/metric_evaluation_result?source_type=post-session", token: admin.token).object()
            #expect((none["metric_evaluation_results"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func anAnswerThatDoesNotFitTheMetricIsAskedAgainAndNeverStored() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let score = try await metric(admin, "Score", ["type": "numerical", "lower_bound": 1, "upper_bound": 5])
            let (conversation, _) = try await conversation(admin, model: model)
            // Out of bounds, then the wrong type, then a fitting answer.
            model.script(.evaluateMetric, .raw(#"{"value": 9, "justification": "Great.", "messages": [3]}"#))
            model.script(.evaluateMetric, .raw(#"{"value": "high", "justification": "Great.", "messages": [3]}"#))
            model.script(.evaluateMetric, .raw(#"{"value": 4, "justification": "Helpful.", "messages": [3]}"#))
            let answer = try await evaluate(admin, ["metric_ids": [score], "conversation_id": conversation])
            #expect(try answer.object()["metrics"].map { ($0 as? [[String: Any]])?.first?["value"] as? Double } == 4)
            #expect(model.requests(of: .evaluateMetric).count == 3)

            // Three answers out of bounds: 503, and nothing new is stored.
            for _ in 0..<3 { model.script(.evaluateMetric, .raw(#"{"value": 0, "justification": "Bad.", "messages": []}"#)) }
            let failed = try await evaluate(admin, ["metric_ids": [score], "conversation_id": conversation])
            #expect(failed.status == .serviceUnavailable)
            #expect(failed.text.contains("could not judge metric `Score`"))
            let listed = try await admin.client.call(.get, "/v1/\(admin.org)/metric/metric_evaluation_result", token: admin.token).object()
            #expect((listed["metric_evaluation_results"] as? [[String: Any]])?.map { $0["result"] as? Double } == [4])
        }
    }

    @Test func evaluationNeedsAConversationWithInteractionsAndMetricsThatExist() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let resolved = try await metric(admin, "Resolved", ["type": "boolean"])
            let (conversation, _) = try await conversation(admin, model: model)
            #expect(try await evaluate(admin, ["metric_ids": [ObjectID.generate()], "conversation_id": conversation]).status == .notFound)
            #expect(try await evaluate(admin, ["metric_ids": [resolved], "conversation_id": ObjectID.generate()]).status == .notFound)
            #expect(try await evaluate(admin, ["metric_ids": [resolved], "conversation_id": conversation, "evaluate_to_interaction_id": ObjectID.generate()]).status == .notFound)
            #expect(try await evaluate(admin, ["metric_ids": [String](), "conversation_id": conversation]).status == .unprocessableContent)
            #expect(try await evaluate(admin, ["metric_ids": Array(repeating: resolved, count: 11), "conversation_id": conversation]).status == .unprocessableContent)
            _ = try await admin.client.call(.delete, "/v1/\(admin.org)/metric/\(resolved)/", token: admin.token)
            #expect(try await evaluate(admin, ["metric_ids": [resolved], "conversation_id": conversation]).status == .notFound)
            #expect(model.requests(of: .evaluateMetric).isEmpty)
        }
    }
}
