import AmigoWire
import CompadreTesting
import Engine
import EngineTesting
import Foundation
import HTTPTypes
import Logging
import Platform
import Server
import Synchronization
import Testing

/// Post-conversation analysis through the API: finishing a conversation enqueues it, the job runner
/// extracts memories and the user model, and the next conversation knows what was learned.
@Suite("Conversation analysis")
struct ConversationAnalysisTests {
    static let memories = #"{"memories": [{"content": "The user has had a cough for a week", "context": "health", "messages": [2]}]}"#
    static let userModel = #"{"descriptions": ["Has had a cough for a week; prefers morning visits."]}"#

    /// A runner whose clock jumps an hour at every reading, so back-offs pass at once.
    func runner(_ admin: SignedInAdmin) -> JobRunner {
        let hours = Mutex(0.0)
        return JobRunner(
            store: admin.server.api.store, handlers: admin.server.api.conversations.analysis.handlers,
            now: { Date().addingTimeInterval(hours.withLock { $0 += 3600; return $0 }) }, logger: Logger(label: "test")
        )
    }

    func conversation(_ admin: SignedInAdmin, _ id: String) async throws -> [String: Any] {
        let listed = try await admin.client.call(.get, "/v1/\(admin.org)/conversation/?id=\(id)", token: admin.token).object()
        return (listed["conversations"] as? [[String: Any]])?.first ?? [:]
    }

    func talkAndFinish(_ admin: SignedInAdmin, model: ScriptedModel, service: String) async throws -> (conversation: String, userMessage: String) {
        let created = try await admin.client.call(.post, "/v1/\(admin.org)/conversation/?response_format=text", token: admin.token, json: ["service_id": service])
        let conversation = try created.events().first?["conversation_id"] as? String ?? ""
        model.script(.selectNextAction, .choice(1))
        let answer = try await admin.client.interact(org: admin.org, conversation: conversation, token: admin.token, text: "I have had a cough for a week")
        let userMessage = try answer.events().first?["message_id"] as? String ?? ""
        let finished = try await admin.client.call(.post, "/v1/\(admin.org)/conversation/\(conversation)/finish/", token: admin.token)
        #expect(finished.status == .noContent, "\(finished.text)")
        return (conversation, userMessage)
    }

    @Test func aFinishedConversationsMemoriesAndUserModelReachTheNextConversation() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let dimensions = try await admin.client.call(.post, "/v1/\(admin.org)/organization/", token: admin.token, json: [
                "user_dimensions": [["description": "Health and symptoms", "tags": ["health"]]],
            ])
            #expect(dimensions.status == .noContent)
            let (conversation, userMessage) = try await talkAndFinish(admin, model: model, service: service)
            #expect(try await self.conversation(admin, conversation)["is_analyzed"] as? Bool == false)

            model.script(.extractMemories, .raw(Self.memories))
            model.script(.generateUserModels, .raw(Self.userModel))
            let runner = runner(admin)
            // extract-memories, compute-metrics (no metric applies: nothing to judge), generate-user-models.
            for _ in 0..<3 { #expect(await runner.runNext()) }
            #expect(await !runner.runNext())

            let user = admin.credentials.userID
            let memories = try await admin.client.call(.get, "/v1/\(admin.org)/user/\(user)/memory", token: admin.token).object()
            let memory = (memories["memories"] as? [[String: Any]])?.first
            #expect(memory?["content"] as? String == "The user has had a cough for a week")
            #expect(memory?["conversation_id"] as? String == conversation)
            #expect(memory?["references"] as? [String] == [userMessage])
            let userModel = try await admin.client.call(.get, "/v1/\(admin.org)/user/\(user)/user_model", token: admin.token).object()
            let first = (userModel["user_models"] as? [[String: Any]])?.first
            #expect(first?["content"] as? String == "Has had a cough for a week; prefers morning visits.")
            #expect((first?["dimensions"] as? [[String: Any]])?.first?["description"] as? String == "Health and symptoms")
            #expect((first?["insight_ids"] as? [String])?.count == 1)
            let dimensionList = try await admin.client.call(.get, "/v1/\(admin.org)/organization/user_dimensions/", token: admin.token).object()
            #expect((dimensionList["user_dimensions"] as? [[String: Any]])?.count == 1)

            let analysed = try await self.conversation(admin, conversation)
            #expect(analysed["is_analyzed"] as? Bool == true)
            #expect(Set(analysed["completed_post_processings"] as? [String] ?? []) == ["extract-memories", "generate-user-models", "compute-metrics"])
            let again = try await admin.client.call(.post, "/v1/\(admin.org)/conversation/\(conversation)/finish/", token: admin.token)
            #expect(again.status == .conflict)

            // The next conversation's agent knows what was learned; recall answers from the memories.
            _ = try await admin.client.call(.post, "/v1/\(admin.org)/conversation/?response_format=text", token: admin.token, json: ["service_id": service])
            let system = model.requests(of: .engageUser).last?.messages.first?.content ?? ""
            #expect(system.contains("Has had a cough for a week; prefers morning visits."))
        }
    }

    @Test func finishingAgainRetriesAnAnalysisThatFailedForGood() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let (conversation, _) = try await talkAndFinish(admin, model: model, service: service)
            let down = ScriptedModel.Answer.failure(LanguageModelError(.unreachable, "the model is down"))
            model.script(.extractMemories, down, down, down, down, down)
            let runner = runner(admin)
            // Five attempts at extract-memories, and compute-metrics once.
            for _ in 0..<6 { #expect(await runner.runNext()) }
            #expect(await !runner.runNext())
            let stuck = try await self.conversation(admin, conversation)
            #expect(stuck["is_analyzed"] as? Bool == false)
            #expect(stuck["completed_post_processings"] as? [String] == ["compute-metrics"])

            let retried = try await admin.client.call(.post, "/v1/\(admin.org)/conversation/\(conversation)/finish/", token: admin.token)
            #expect(retried.status == .noContent)
            model.script(.extractMemories, .raw(Self.memories))
            model.script(.generateUserModels, .raw(Self.userModel))
            #expect(await runner.runNext())
            #expect(await runner.runNext())
            #expect(try await self.conversation(admin, conversation)["is_analyzed"] as? Bool == true)
        }
    }

    @Test func theMetricsOfTheServiceJudgeAFinishedConversationAfterItEnds() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            func metric(_ name: String, services: [String]) async throws -> String {
                let created = try await admin.client.call(.post, "/v1/\(admin.org)/metric/", token: admin.token, json: [
                    "name": name, "description": name, "applied_to_services": services, "tags": [String: Any](), "metric_value": ["type": "boolean"],
                ])
                return try created.object()["id"] as? String ?? ""
            }
            let applied = try await metric("Resolved", services: [service])
            let deleted = try await metric("Deleted", services: [service])
            _ = try await admin.client.call(.delete, "/v1/\(admin.org)/metric/\(deleted)/", token: admin.token)
            _ = try await metric("Elsewhere", services: [])
            let (conversation, userMessage) = try await talkAndFinish(admin, model: model, service: service)
            let down = ScriptedModel.Answer.failure(LanguageModelError(.unreachable, "the model is down"))
            model.script(.evaluateMetric, down)
            model.script(.extractMemories, .raw(Self.memories))
            model.script(.generateUserModels, .raw(Self.userModel))
            let runner = runner(admin)
            for _ in 0..<3 { #expect(await runner.runNext()) }
            // The judge was down: compute-metrics failed, stored nothing, and runs again.
            var results = try await admin.client.call(.get, "/v1/\(admin.org)/metric/metric_evaluation_result", token: admin.token).object()
            #expect((results["metric_evaluation_results"] as? [Any])?.isEmpty == true)
            #expect(try await self.conversation(admin, conversation)["is_analyzed"] as? Bool == false)
            model.script(.evaluateMetric, .raw(#"{"value": true, "justification": "The agent helped.", "messages": [2]}"#))
            #expect(await runner.runNext())
            #expect(await !runner.runNext())
            results = try await admin.client.call(.get, "/v1/\(admin.org)/metric/metric_evaluation_result", token: admin.token).object()
            let stored = results["metric_evaluation_results"] as? [[String: Any]] ?? []
            #expect(stored.map { $0["metric_id"] as? String } == [applied])
            let source = stored.first?["source"] as? [String: Any]
            #expect(source?["type"] as? String == "post-session")
            #expect(source?["conversation_id"] as? String == conversation)
            #expect(source?["references"] as? [String] == [userMessage])
            #expect(try await self.conversation(admin, conversation)["is_analyzed"] as? Bool == true)
        }
    }

    @Test func aConversationStillBeingAnalysedCannotBeFinishedAgain() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let (conversation, _) = try await talkAndFinish(admin, model: model, service: service)
            let again = try await admin.client.call(.post, "/v1/\(admin.org)/conversation/\(conversation)/finish/", token: admin.token)
            #expect(again.status == .conflict)
        }
    }
}
