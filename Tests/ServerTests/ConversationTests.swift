import AmigoWire
import CompadreTesting
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import Server
import Storage
import Testing
import EngineTesting
import StorageTesting
import Platform

/// An organization with a service, signed in as its administrator.
struct ConversationSetup {
    var org: String
    var token: String
    var service: String
    var admin: OrganizationBootstrap.Credentials

    static func make(_ server: TestServer, _ client: TestServer.Client) async throws -> ConversationSetup {
        let admin = try await server.bootstrap()
        let token = try await client.signIn(admin)
        let (_, _, service) = try await makeService(client, org: admin.organizationID, token: token)
        return ConversationSetup(org: admin.organizationID, token: token, service: service, admin: admin)
    }

    func create(_ client: TestServer.Client, query: String = "response_format=text", body: [String: Any] = [:]) async throws -> TestServer.Client.Answer {
        var json: [String: Any] = ["service_id": service]
        json.merge(body) { _, new in new }
        return try await client.call(.post, "/v1/\(org)/conversation/?\(query)", token: token, json: json)
    }

    func messages(_ client: TestServer.Client, _ conversation: String, query: String = "") async throws -> [[String: Any]] {
        let answer = try await client.call(.get, "/v1/\(org)/conversation/\(conversation)/messages/?\(query)", token: token)
        return try answer.object()["messages"] as? [[String: Any]] ?? []
    }
}

func conversationID(of answer: TestServer.Client.Answer) throws -> String {
    try answer.events().first { $0["type"] as? String == "conversation-created" }?["conversation_id"] as? String ?? ""
}

@Suite("Conversations")
struct ConversationTests {
    @Test(arguments: TestDatabase.available)
    func creatingAConversationStreamsTheAgentsOpeningAndStoresIt(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let created = try await setup.create(client)
                #expect(created.status == .created)
                #expect(created.headers[.contentType] == "application/x-ndjson")
                let types = try created.eventTypes()
                #expect(types.first == "conversation-created")
                #expect(types.last == "interaction-complete")
                #expect(types.contains("action:navigate-state-machine-action-state-action-selected"))
                let events = try created.events()
                let pieces = events.filter { $0["type"] as? String == "new-message" }
                let complete = try #require(events.last)
                #expect(pieces.map { $0["message"] as? String ?? "" }.joined() == complete["full_message"] as? String)
                #expect(complete["conversation_completed"] as? Bool == false)

                let id = try conversationID(of: created)
                let messages = try await setup.messages(client, id)
                #expect(messages.map { $0["message_type"] as? String } == ["agent-message"])
                #expect(messages.first?["message"] as? String == "Hello, how can I help?")

                let listed = try await client.call(.get, "/v1/\(setup.org)/conversation/?id=\(id)", token: setup.token).object()
                let conversations = listed["conversations"] as? [[String: Any]] ?? []
                #expect(conversations.count == 1)
                #expect(conversations.first?["num_messages"] as? Int == 1)
                #expect(conversations.first?["final_message"] as? String == "Hello, how can I help?")
                let info = conversations.first?["version_set_info"] as? [String: Any]
                #expect(info?["name"] as? String == "release")

                let again = try await setup.create(client)
                #expect(again.status == .badRequest, "a second unfinished conversation for the service: \(again.text)")
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func interactingStreamsTheReplyAndRecordsInsights(engine: TestDatabase) async throws {
        try await engine.with { database in
            let model = ScriptedModel()
            let server = try await TestServer(database: database, model: model)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let id = try conversationID(of: try await setup.create(client))
                let answer = try await client.interact(org: setup.org, conversation: id, token: setup.token, text: "Hi there")
                #expect(answer.status == .ok, "\(answer.text)")
                let types = try answer.eventTypes()
                #expect(types.first == "user-message-available")
                #expect(types.last == "interaction-complete")

                let messages = try await setup.messages(client, id)
                #expect(messages.map { $0["message_type"] as? String } == ["agent-message", "user-message", "agent-message"])
                #expect(messages[1]["message"] as? String == "Hi there")
                let interaction = try #require(try answer.events().last?["interaction_id"] as? String)
                #expect(messages[2]["interaction_id"] as? String == interaction)

                let insights = try await client.call(.get, "/v1/\(setup.org)/conversation/\(id)/interaction/\(interaction)/insights", token: setup.token)
                #expect(insights.status == .ok)
                #expect(try insights.object()["current_state_name"] as? String == "greet")
                #expect(try insights.object()["current_state_action"] as? String == "Say hello")

                // The engage-user prompt saw the user's words and the agent's persona.
                let prompt = try #require(model.requests(of: .engageUser).last)
                #expect(prompt.messages.contains { $0.content == "Hi there" })
                #expect(prompt.messages[0].content.contains("You are Amy, Intake"))
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func reachingTheTerminalStateFinishesTheConversation(engine: TestDatabase) async throws {
        try await engine.with { database in
            let model = ScriptedModel()
            let server = try await TestServer(database: database, model: model)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let id = try conversationID(of: try await setup.create(client))
                model.script(.selectNextAction, .choice(2))
                let answer = try await client.interact(org: setup.org, conversation: id, token: setup.token, text: "Hello! Bye.")
                let complete = try #require(try answer.events().last)
                #expect(complete["conversation_completed"] as? Bool == true)
                let interaction = complete["interaction_id"] as? String ?? ""
                let insights = try await client.call(.get, "/v1/\(setup.org)/conversation/\(id)/interaction/\(interaction)/insights", token: setup.token).object()
                #expect(insights["current_state_name"] as? String == "goodbye")
                let logs = insights["state_transition_logs"] as? [[String: Any]] ?? []
                #expect(logs.map { $0["type"] as? String } == ["action", "decision"])
                let after = try await client.interact(org: setup.org, conversation: id, token: setup.token, text: "Still there?")
                #expect(after.status == .conflict)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func theActionTypeRegexFiltersAgentActionsAndAnInvalidOneIs422(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let created = try await setup.create(client, query: "response_format=text&current_agent_action_type=%5E%24")
                #expect(try created.agentActionTypes().isEmpty)
                let id = try conversationID(of: created)
                let only = try await client.interact(
                    org: setup.org, conversation: id, token: setup.token, text: "Hi",
                    query: "request_format=text&response_format=text&current_agent_action_type=navigate-.*"
                )
                let actions = try only.agentActionTypes()
                #expect(actions == ["navigate-state-machine-action-state-action-selected"])
                let invalid = try await client.interact(
                    org: setup.org, conversation: id, token: setup.token, text: "Hi",
                    query: "request_format=text&response_format=text&current_agent_action_type=%28"
                )
                #expect(invalid.status == .unprocessableContent)
                #expect(try await setup.messages(client, id).count == 3, "the rejected interact stored nothing")
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func aModelFailureEndsTheStreamWithAnErrorAndStoresNothing(engine: TestDatabase) async throws {
        try await engine.with { database in
            let model = ScriptedModel()
            let server = try await TestServer(database: database, model: model)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let id = try conversationID(of: try await setup.create(client))
                model.script(.engageUser, .failAfter(["Half a rep"], LanguageModelError(.httpStatus(500), "upstream exploded")))
                let failed = try await client.interact(org: setup.org, conversation: id, token: setup.token, text: "Tell me more")
                #expect(failed.status == .ok)
                let last = try #require(try failed.events().last)
                #expect(last["type"] as? String == "error")
                #expect(last["http_error_code"] as? Int == 502)
                #expect(!(try failed.eventTypes()).contains("interaction-complete"))
                #expect(try await setup.messages(client, id).count == 1, "nothing of the failed interaction is stored")
                let listed = try await client.call(.get, "/v1/\(setup.org)/conversation/?id=\(id)", token: setup.token).object()
                #expect((listed["conversations"] as? [[String: Any]])?.first?["num_messages"] as? Int == 1)

                let retried = try await client.interact(org: setup.org, conversation: id, token: setup.token, text: "Tell me more")
                #expect(try retried.eventTypes().last == "interaction-complete")
                #expect(try await setup.messages(client, id).count == 3)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func aFailedFirstInteractionCreatesNoConversation(engine: TestDatabase) async throws {
        try await engine.with { database in
            let model = ScriptedModel()
            let server = try await TestServer(database: database, model: model)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                model.script(.engageUser, .failure(LanguageModelError(.unreachable, "connection refused")))
                let failed = try await setup.create(client)
                #expect(try failed.events().last?["http_error_code"] as? Int == 503)
                let listed = try await client.call(.get, "/v1/\(setup.org)/conversation/", token: setup.token).object()
                #expect((listed["conversations"] as? [[String: Any]])?.isEmpty == true)
                #expect(try await setup.create(client).status == .created, "the user can start again")
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func aSecondOperationWhileOneRunsIsAConflictAndChangesNothing(engine: TestDatabase) async throws {
        try await engine.with { database in
            let model = ScriptedModel()
            let server = try await TestServer(database: database, model: model)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let id = try conversationID(of: try await setup.create(client))
                let gate = ScriptedModel.Gate()
                model.script(.engageUser, .held(gate, ["Let me", " think."]))
                async let slow = client.interact(org: setup.org, conversation: id, token: setup.token, text: "First")
                await gate.waitUntilReached()
                let second = try await client.interact(org: setup.org, conversation: id, token: setup.token, text: "Second")
                #expect(second.status == .conflict)
                let finish = try await client.call(.post, "/v1/\(setup.org)/conversation/\(id)/finish/", token: setup.token)
                #expect(finish.status == .conflict)
                gate.open()
                let first = try await slow
                #expect(try first.eventTypes().last == "interaction-complete")
                let texts = try await setup.messages(client, id).map { $0["message"] as? String }
                #expect(texts == ["Hello, how can I help?", "First", "Let me think."])
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func finishingFollowsTheSpec(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let id = try conversationID(of: try await setup.create(client))
                let path = "/v1/\(setup.org)/conversation/\(id)/finish/"
                #expect(try await client.call(.post, path, token: setup.token).status == .noContent)
                #expect(try await client.call(.post, path, token: setup.token).status == .conflict)
                #expect(try await client.interact(org: setup.org, conversation: id, token: setup.token, text: "Hi").status == .conflict)
                let missing = "/v1/\(setup.org)/conversation/\(ObjectID.generate())/finish/"
                #expect(try await client.call(.post, missing, token: setup.token).status == .notFound)
                let listed = try await client.call(.get, "/v1/\(setup.org)/conversation/?is_finished=true", token: setup.token).object()
                #expect((listed["conversations"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
                #expect(try await setup.create(client).status == .created, "a finished conversation no longer blocks a new one")
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func badInteractInputIsRejectedClearlyAndChangesNothing(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let id = try conversationID(of: try await setup.create(client))
                func interact(_ text: String, type: String = "user-message", events: [(String, String)] = [], query: String = "request_format=text&response_format=text") async throws -> HTTPResponse.Status {
                    try await client.interact(org: setup.org, conversation: id, token: setup.token, text: text, type: type,
                                              events: events.map { (content: $0.0, timestamp: $0.1) }, query: query).status
                }
                #expect(try await interact("   ") == .badRequest)
                #expect(try await interact("Hi", query: "response_format=text") == .unprocessableContent)
                #expect(try await interact("Hi", query: "request_format=voice&response_format=text") == .unsupportedMediaType)
                #expect(try await interact("Hi", query: "request_format=text&response_format=voice") == .badRequest)
                #expect(try await interact("Hi", type: "shout") == .unprocessableContent)
                #expect(try await interact("Hi", type: "skip") == .unprocessableContent)
                #expect(try await interact("Hi", events: [("Lab results arrived", "2100-01-01T00:00:00Z")]) == .badRequest)
                #expect(try await interact("Hi", events: [("Lab results arrived", "not a date")]) == .unprocessableContent)
                let noBoundary = try await client.call(.post, "/v1/\(setup.org)/conversation/\(id)/interact?request_format=text&response_format=text", token: setup.token, json: ["text": "Hi"])
                #expect(noBoundary.status == .unprocessableContent)
                #expect(try await setup.messages(client, id).count == 1)

                let now = WireCoding.formatDate(Date())
                let withEvent = try await client.interact(org: setup.org, conversation: id, token: setup.token, text: "Did you see it?", events: [(content: "Lab results arrived", timestamp: now)])
                #expect(withEvent.status == .ok)
                let types = try await setup.messages(client, id).map { $0["message_type"] as? String }
                #expect(types == ["agent-message", "external-event", "user-message", "agent-message"])
                #expect(try await interact("", type: "skip") == .ok)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func messagesPageFilterAndSort(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let id = try conversationID(of: try await setup.create(client))
                for text in ["One", "Two"] {
                    try await client.interact(org: setup.org, conversation: id, token: setup.token, text: text)
                }
                var seen: [String] = []
                var token = 0
                while true {
                    let page = try await client.call(.get, "/v1/\(setup.org)/conversation/\(id)/messages/?limit=2&continuation_token=\(token)", token: setup.token).object()
                    seen += (page["messages"] as? [[String: Any]] ?? []).map { $0["message"] as? String ?? "" }
                    guard page["has_more"] as? Bool == true, let next = page["continuation_token"] as? Int else { break }
                    token = next
                }
                #expect(seen.count == 5)
                #expect(seen[1] == "One" && seen[3] == "Two")
                let users = try await setup.messages(client, id, query: "message_type=user-message")
                #expect(users.map { $0["message"] as? String } == ["One", "Two"])
                let newest = try await setup.messages(client, id, query: "sort_by=-created_at&limit=1")
                #expect(newest.first?["message_type"] as? String == "agent-message")
                let bad = try await client.call(.get, "/v1/\(setup.org)/conversation/\(id)/messages/?sort_by=message", token: setup.token)
                #expect(bad.status == .unprocessableContent)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func recommendationsStartersTagsAndSources(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let created = try await setup.create(client)
                let id = try conversationID(of: created)
                let first = try #require(try created.events().last?["interaction_id"] as? String)
                let base = "/v1/\(setup.org)/conversation/\(id)"

                let recommended = try await client.call(.post, "\(base)/interaction/\(first)/recommend_responses", token: setup.token)
                #expect(recommended.status == .ok, "\(recommended.text)")
                #expect((try recommended.object()["recommended_responses"] as? [String])?.count == 2)
                let second = try #require(try await client.interact(org: setup.org, conversation: id, token: setup.token, text: "Hi").events().last?["interaction_id"] as? String)
                #expect(try await client.call(.post, "\(base)/interaction/\(first)/recommend_responses", token: setup.token).status == .badRequest)
                #expect(try await client.call(.post, "\(base)/interaction/\(second)/recommend_responses", token: setup.token, json: ["context": "A busy parent"]).status == .ok)

                let starters = try await client.call(.post, "/v1/\(setup.org)/conversation/conversation_starter", token: setup.token, json: [
                    "service_id": setup.service, "facets": ["booking", "billing"], "min_count": 2, "max_count": 3,
                    "generation_instructions": "Short questions",
                ] as [String: Any])
                #expect(starters.status == .ok, "\(starters.text)")
                let prompts = try starters.object()["prompts"] as? [[String: Any]] ?? []
                #expect((2...3).contains(prompts.count))
                let inverted = try await client.call(.post, "/v1/\(setup.org)/conversation/conversation_starter", token: setup.token, json: [
                    "service_id": setup.service, "facets": ["booking"], "min_count": 3, "max_count": 2, "generation_instructions": "x",
                ] as [String: Any])
                #expect(inverted.status == .unprocessableContent)

                #expect(try await client.call(.post, "\(base)/tags/", token: setup.token, json: ["updates": ["priority": "high", "vip": NSNull()]]).status == .noContent)
                let tagged = try await client.call(.get, "/v1/\(setup.org)/conversation/?tag=priority:high", token: setup.token).object()
                #expect((tagged["conversations"] as? [[String: Any]])?.count == 1)
                let nullTag = try await client.call(.get, "/v1/\(setup.org)/conversation/?tag=vip:", token: setup.token).object()
                #expect((nullTag["conversations"] as? [[String: Any]])?.count == 1)
                let many = Dictionary(uniqueKeysWithValues: (0..<20).map { ("k\($0)", "v") })
                #expect(try await client.call(.post, "\(base)/tags/", token: setup.token, json: ["updates": many]).status == .badRequest)
                #expect(try await client.call(.post, "\(base)/tags/", token: setup.token, json: ["updates": ["bad-key!": "x"]]).status == .unprocessableContent)

                let message = try #require(try await setup.messages(client, id).first?["id"] as? String)
                #expect(try await client.call(.get, "\(base)/messages/\(message)/source", token: setup.token).status == .badRequest)
                #expect(try await client.call(.get, "\(base)/messages/\(ObjectID.generate())/source", token: setup.token).status == .notFound)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func anOrdinaryUserSeesOnlyTheirOwnConversations(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let adminConversation = try conversationID(of: try await setup.create(client))
                let invited = try await client.call(.post, "/v1/\(setup.org)/user/", token: setup.token, json: [
                    "first_name": "Uma", "last_name": "User", "email": "uma@example.com", "role_name": "DefaultUserRole",
                ])
                let umaID = try invited.object()["user_id"] as! String
                let uma = try await client.signIn(org: setup.org, keyID: setup.admin.apiKeyID, key: setup.admin.apiKey, userID: umaID)
                let created = try await client.call(.post, "/v1/\(setup.org)/conversation/?response_format=text", token: uma, json: ["service_id": setup.service])
                #expect(created.status == .created)
                let mine = try conversationID(of: created)
                let listed = try await client.call(.get, "/v1/\(setup.org)/conversation/", token: uma).object()
                #expect((listed["conversations"] as? [[String: Any]])?.map { $0["id"] as? String } == [mine])
                #expect(try await client.call(.get, "/v1/\(setup.org)/conversation/\(adminConversation)/messages/", token: uma).status == .forbidden)
                #expect(try await client.interact(org: setup.org, conversation: adminConversation, token: uma, text: "Hi").status == .forbidden)
                #expect(try await client.interact(org: setup.org, conversation: mine, token: uma, text: "Hi").status == .ok)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func aUserWhoHidesTheirConversationsAndUserModelKeepsThemFromAdministrators(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let invited = try await client.call(.post, "/v1/\(setup.org)/user/", token: setup.token, json: [
                    "first_name": "Uma", "last_name": "User", "email": "uma@example.com", "role_name": "DefaultUserRole",
                ])
                let umaID = try invited.object()["user_id"] as! String
                let uma = try await client.signIn(org: setup.org, keyID: setup.admin.apiKeyID, key: setup.admin.apiKey, userID: umaID)
                let created = try await client.call(.post, "/v1/\(setup.org)/conversation/?response_format=text", token: uma, json: ["service_id": setup.service])
                let conversation = try conversationID(of: created)
                #expect(try await client.interact(org: setup.org, conversation: conversation, token: uma, text: "Hi").status == .ok)
                let messages = "/v1/\(setup.org)/conversation/\(conversation)/messages/"
                let userModel = "/v1/\(setup.org)/user/\(umaID)/user_model"
                // Visible by default.
                #expect(try await client.call(.get, messages, token: setup.token).status == .ok)
                #expect(try await client.call(.get, userModel, token: setup.token).status == .ok)

                let hide = try await client.call(.post, "/v1/\(setup.org)/user/\(umaID)", token: uma, json: [
                    "conversations_visible_to_admins": false, "user_model_visible_to_admins": false,
                ])
                #expect(hide.status == .noContent)
                let refused = try await client.call(.get, messages, token: setup.token)
                #expect(refused.status == .forbidden)
                #expect(refused.text.contains("not to show their conversations"))
                #expect(try await client.interact(org: setup.org, conversation: conversation, token: setup.token, text: "Hi").status == .forbidden)
                #expect(try await client.call(.get, userModel, token: setup.token).status == .forbidden)
                let memories = try await client.call(.get, "/v1/\(setup.org)/user/\(umaID)/memory", token: setup.token).object()
                #expect((memories["memories"] as? [Any])?.isEmpty == true)
                // The listing still shows that the conversation exists, without what was said.
                let listed = try await client.call(.get, "/v1/\(setup.org)/conversation/?id=\(conversation)", token: setup.token).object()
                let row = (listed["conversations"] as? [[String: Any]])?.first
                #expect(row?["id"] as? String == conversation)
                #expect(row?["final_message"] as? String == "")
                // Uma herself sees everything.
                #expect(try await client.call(.get, messages, token: uma).status == .ok)
                #expect(try await client.call(.get, userModel, token: uma).status == .ok)
                let own = try await client.call(.get, "/v1/\(setup.org)/conversation/?id=\(conversation)", token: uma).object()
                #expect(((own["conversations"] as? [[String: Any]])?.first?["final_message"] as? String)?.isEmpty == false)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func aGraphNamingAnUnknownToolOrABadConstraintIsRefused(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                var graph = validGraph
                var states = graph["states"] as! [[String: Any]]
                states[1] = [
                    "type": "tool-call", "name": "route", "next_state": "goodbye",
                    "designated_tool": ["tool_id": ObjectID.generate(), "version_constraint": ">=1.0", "additional_instruction": "Use it",
                                        "audio_fillers": [String](), "audio_filler_triggered_after": 2.0, "result_persistence": "persisted"] as [String: Any],
                    "designated_tool_call_params_generation_audio_fillers": [String](),
                    "designated_tool_call_params_generation_audio_filler_triggered_after": 2.0,
                    "designated_tool_call_objective": "Look it up", "designated_tool_call_context": "Needed",
                    "designated_tool_call_guidances": [String](), "designated_tool_call_validations": [String](), "tool_call_specs": [String](),
                ]
                graph["states"] = states
                let graphID = try await client.call(.post, "/v1/\(setup.org)/organization/service_hierarchical_state_machine", token: setup.token, json: ["state_machine_name": "tools"]).object()["id"] as! String
                let answer = try await client.call(.post, "/v1/\(setup.org)/organization/service_hierarchical_state_machine/\(graphID)/", token: setup.token, json: graph)
                #expect(answer.status == .notFound, "\(answer.text)")
                #expect(answer.text.contains("does not exist"))

                var designated = states[1]["designated_tool"] as! [String: Any]
                designated["version_constraint"] = "~=1"
                states[1]["designated_tool"] = designated
                graph["states"] = states
                let invalid = try await client.call(.post, "/v1/\(setup.org)/organization/service_hierarchical_state_machine/\(graphID)/", token: setup.token, json: graph)
                #expect(invalid.status == .unprocessableContent, "\(invalid.text)")
                #expect(invalid.text.contains("~=1"))
            }
        }
    }
}

@Suite("Demo organization")
struct DemoOrganizationTests {
    @Test(arguments: TestDatabase.available)
    func theDemoClinicRunsEveryPassthroughStateOnTheWayToBooking(engine: TestDatabase) async throws {
        try await engine.with { database in
            let model = ScriptedModel()
            let server = try await TestServer(database: database, model: model)
            let demo = try await DemoOrganization.create(orgID: uniqueOrgID("demo"), store: server.api.store)
            try await server.test { client in
                let org = demo.credentials.organizationID
                let token = try await client.signIn(demo.credentials)
                let created = try await client.call(.post, "/v1/\(org)/conversation/?response_format=text", token: token, json: ["service_id": demo.serviceID])
                #expect(created.status == .created, "\(created.text)")
                let id = try conversationID(of: created)
                model.script(.selectNextAction, .choice(2), .choice(1))
                model.script(.selectNextStateForDecisionState, .choice(2))
                model.script(.generateReflection, .text(["Book a morning visit."]))
                let answer = try await client.interact(org: org, conversation: id, token: token, text: "I need to see Dr. Lee next week")
                let interaction = try #require(try answer.events().last?["interaction_id"] as? String)
                let insights = try await client.call(.get, "/v1/\(org)/conversation/\(id)/interaction/\(interaction)/insights", token: token).object()
                #expect(insights["current_state_name"] as? String == "booking")
                let logs = insights["state_transition_logs"] as? [[String: Any]] ?? []
                #expect(logs.map { $0["type"] as? String } == ["action", "decision", "recall", "reflection"])
                let thoughts = try await client.call(.get, "/v1/\(org)/conversation/\(id)/messages/?message_type=agent-inner-thought", token: token).object()
                #expect((thoughts["messages"] as? [[String: Any]])?.map { $0["message"] as? String } == ["Book a morning visit."])
            }
        }
    }
}

@Suite("Live context")
struct LiveContextTests {
    @Test(arguments: TestDatabase.available)
    func additionalContextAndExternalEventsReachTheNextPrompt(engine: TestDatabase) async throws {
        try await engine.with { database in
            let model = ScriptedModel()
            let server = try await TestServer(database: database, model: model)
            try await server.test { client in
                let setup = try await ConversationSetup.make(server, client)
                let id = try conversationID(of: try await setup.create(client))
                let updated = try await client.call(
                    .post, "/v1/\(setup.org)/user/\(setup.admin.userID)", token: setup.token,
                    json: ["additional_context": ["Has a dentist appointment on Friday"]]
                )
                #expect(updated.status == .noContent)
                let at = WireCoding.formatDate(Date())
                let answer = try await client.interact(
                    org: setup.org, conversation: id, token: setup.token, text: "What is on my calendar?",
                    events: [(content: "Calendar synced", timestamp: at)]
                )
                #expect(answer.status == .ok)
                let prompt = try #require(model.requests(of: .engageUser).last)
                #expect(prompt.messages[0].content.contains("Has a dentist appointment on Friday"))
                #expect(prompt.messages.contains { $0.content.contains("Calendar synced") && $0.content.contains("[Event at") })
                let decision = try #require(model.requests(of: .selectNextAction).last)
                #expect(decision.messages[0].content.contains("Has a dentist appointment on Friday"))
            }
        }
    }
}
