import AmigoWire
import CompadreTesting
import Engine
import EngineTesting
import Foundation
import HTTPTypes
import Platform
import Testing

/// Dynamic behaviors in conversations through the API: which sets are candidates, the events a REST
/// client sees, the invocation records and the insights.
@Suite("Dynamic behaviors in conversations")
struct DynamicBehaviorConversationTests {
    struct Setup {
        let admin: SignedInAdmin
        let model: ScriptedModel
        let service: String
        let other: String
    }

    func withSetup(_ body: @Sendable (Setup) async throws -> Void) async throws {
        let model = ScriptedModel(defaultReply: ["How long", " has it lasted?"])
        try await SignedInAdmin.with(model: model, embedder: WordEmbedder()) { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let other = try await makeService(admin.client, org: admin.org, token: admin.token, name: "other").service
            try await body(Setup(admin: admin, model: model, service: service, other: other))
        }
    }

    func createSet(_ setup: Setup, name: String, services: [String], active: Bool = true, trigger: String) async throws -> String {
        let answer = try await setup.admin.client.call(.post, "/v1/\(setup.admin.org)/dynamic_behavior_set/", token: setup.admin.token, json: [
            "name": name, "tags": [String: String](), "applied_to_services": services,
            "initial_version": [
                "is_active": active, "conversation_triggers": [trigger],
                "actions": [["type": "inject-instruction", "instruction": "Ask how long the cough has lasted.", "overrides_instructions": false]],
            ] as [String: Any],
        ] as [String: Any])
        #expect(answer.status == .created, "\(answer.text)")
        return try answer.object()["dynamic_behavior_set_id"] as? String ?? ""
    }

    func startConversation(_ setup: Setup) async throws -> String {
        let created = try await setup.admin.client.call(
            .post, "/v1/\(setup.admin.org)/conversation/?response_format=text", token: setup.admin.token, json: ["service_id": setup.service]
        )
        return try created.events().first?["conversation_id"] as? String ?? ""
    }

    @Test func aMatchingSetTriggersAndIsRecordedButTheSDKsDefaultStreamNeverSeesTheUnknownAction() async throws {
        try await withSetup { setup in
            let id = try await createSet(setup, name: "cough", services: [setup.service], trigger: "The user mentions a cough")
            let conversation = try await startConversation(setup)
            let (client, org, token) = (setup.admin.client, setup.admin.org, setup.admin.token)

            // The SDK always sends `^.*$`: the stream carries the selection but not `dynamic-behavior-triggered`.
            setup.model.script(.selectDynamicBehavior, .choice(1))
            setup.model.script(.selectNextAction, .choice(1))
            let sdk = try await client.interact(
                org: org, conversation: conversation, token: token, text: "My cough is bad",
                query: "request_format=text&response_format=text&current_agent_action_type=%5E.%2A%24"
            )
            let sdkTypes = try sdk.agentActionTypes()
            #expect(sdkTypes.contains("select-dynamic-behavior-completed"))
            #expect(sdkTypes.contains("engage-user-dynamic-behavior-override"))
            #expect(!sdkTypes.contains("dynamic-behavior-triggered"))
            let completed = try sdk.events().compactMap { $0["action"] as? [String: Any] }
                .first { $0["type"] as? String == "select-dynamic-behavior-completed" }
            #expect((completed?["selected_dynamic_behavior_set_version_info"] as? [Any])?.first as? String == id)
            let system = setup.model.requests(of: .engageUser).last?.messages.first?.content ?? ""
            #expect(system.contains("Ask how long the cough has lasted."))

            // Asked for by name, the action comes, and the previous selection is known.
            setup.model.script(.selectDynamicBehavior, .choice(1))
            setup.model.script(.selectNextAction, .choice(1))
            let named = try await client.interact(
                org: org, conversation: conversation, token: token, text: "The cough is still bad",
                query: "request_format=text&response_format=text&current_agent_action_type=%5Edynamic-behavior"
            )
            let triggered = try named.events().compactMap { $0["action"] as? [String: Any] }
            #expect(triggered.map { $0["type"] as? String } == ["dynamic-behavior-triggered"])
            #expect((triggered.first?["dynamic_behavior_set_version_info"] as? [Any])?.last as? Int == 1)

            let interaction = try named.events().last?["interaction_id"] as? String ?? ""
            let insights = try await client.call(.get, "/v1/\(org)/conversation/\(conversation)/interaction/\(interaction)/insights", token: token).object()
            #expect((insights["triggered_dynamic_behavior_set_version_info"] as? [Any])?.first as? String == id)

            let invocations = try await client.call(.get, "/v1/\(org)/dynamic_behavior_set/\(id)/invocation/", token: token).object()
            let records = invocations["dynamic_behavior_invocations"] as? [[String: Any]] ?? []
            #expect(records.count == 2)
            #expect(records.allSatisfy { $0["conversation_id"] as? String == conversation && $0["service_id"] as? String == setup.service })
            #expect(records.allSatisfy { $0["agent_message_id"] is String && $0["initial_message_id"] is String })
        }
    }

    @Test func inactiveSetsAndSetsOfOtherServicesAreNeverCandidates() async throws {
        try await withSetup { setup in
            _ = try await createSet(setup, name: "inactive", services: [setup.service], active: false, trigger: "The user mentions a cough")
            _ = try await createSet(setup, name: "elsewhere", services: [setup.other], trigger: "The user mentions a cough")
            let conversation = try await startConversation(setup)
            setup.model.script(.selectNextAction, .choice(1))
            let answer = try await setup.admin.client.interact(
                org: setup.admin.org, conversation: conversation, token: setup.admin.token, text: "My cough is bad"
            )
            #expect(answer.status == .ok)
            #expect(setup.model.requests(of: .selectDynamicBehavior).isEmpty)
            let completed = try answer.events().compactMap { $0["action"] as? [String: Any] }
                .first { $0["type"] as? String == "select-dynamic-behavior-completed" }
            #expect(completed?["selected_dynamic_behavior_set_version_info"] is NSNull)
        }
    }

    @Test func aSetActivatedLaterBecomesACandidateAtOnce() async throws {
        try await withSetup { setup in
            let id = try await createSet(setup, name: "late", services: [setup.service], active: false, trigger: "The user mentions a cough")
            let conversation = try await startConversation(setup)
            setup.model.script(.selectNextAction, .choice(1))
            _ = try await setup.admin.client.interact(org: setup.admin.org, conversation: conversation, token: setup.admin.token, text: "My cough is bad")
            #expect(setup.model.requests(of: .selectDynamicBehavior).isEmpty)

            let activated = try await setup.admin.client.call(
                .post, "/v1/\(setup.admin.org)/dynamic_behavior_set/\(id)/", token: setup.admin.token, json: ["is_active": true]
            )
            #expect(activated.status == .noContent)
            setup.model.script(.selectDynamicBehavior, .choice(1))
            setup.model.script(.selectNextAction, .choice(1))
            _ = try await setup.admin.client.interact(org: setup.admin.org, conversation: conversation, token: setup.admin.token, text: "My cough is bad")
            #expect(setup.model.requests(of: .selectDynamicBehavior).count == 1)
        }
    }
}
