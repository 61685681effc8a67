import AmigoWire
import CompadreTesting
import Foundation
import HTTPTypes
import Platform
import Testing

/// The eight operations of dynamic behavior sets, in process.
@Suite("Dynamic behavior set routes")
struct DynamicBehaviorRouteTests {
    static func setBody(name: String = "cough", services: [String], active: Bool = true, triggers: [String] = ["The user mentions a cough"]) -> [String: Any] {
        [
            "name": name, "tags": ["team": "care", "draft": NSNull()], "applied_to_services": services,
            "initial_version": [
                "is_active": active, "conversation_triggers": triggers,
                "actions": [["type": "inject-instruction", "instruction": "Ask how long the cough has lasted.", "overrides_instructions": false]],
            ] as [String: Any],
        ]
    }

    func createSet(_ admin: SignedInAdmin, _ body: [String: Any]) async throws -> String {
        let answer = try await admin.client.call(.post, "/v1/\(admin.org)/dynamic_behavior_set/", token: admin.token, json: body)
        #expect(answer.status == .created, "\(answer.text)")
        return try answer.object()["dynamic_behavior_set_id"] as? String ?? ""
    }

    @Test func aSetIsCreatedWithItsFirstVersionAndListed() async throws {
        try await SignedInAdmin.with { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let id = try await createSet(admin, Self.setBody(services: [service]))
            let listed = try await admin.client.call(.get, "/v1/\(admin.org)/dynamic_behavior_set/?tag=team:care", token: admin.token).object()
            let sets = listed["dynamic_behavior_sets"] as? [[String: Any]] ?? []
            #expect(sets.map { $0["id"] as? String } == [id])
            #expect(sets.first?["applied_to_services"] as? [String] == [service])
            #expect(sets.first?["is_active"] as? Bool == true)
            #expect((sets.first?["tags"] as? [String: Any])?["draft"] is NSNull)
            let filterValues = listed["filter_values"] as? [String: Any]
            #expect(filterValues?["tags"] as? [String] == ["draft", "team"])
            #expect(filterValues?["applied_to_services_ids"] as? [String] == [service])

            let versions = try await admin.client.call(.get, "/v1/\(admin.org)/dynamic_behavior_set/\(id)/version/", token: admin.token).object()
            let first = (versions["dynamic_behavior_set_versions"] as? [[String: Any]])?.first
            #expect(first?["version"] as? Int == 1)
            #expect(first?["dynamic_behavior_set_id"] as? String == id)
            #expect(first?["conversation_triggers"] as? [String] == ["The user mentions a cough"])
            #expect(((first?["actions"] as? [[String: Any]])?.first)?["type"] as? String == "inject-instruction")
        }
    }

    @Test func onlyOneActiveSetMayHaveAName() async throws {
        try await SignedInAdmin.with { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let first = try await createSet(admin, Self.setBody(services: [service]))
            let duplicate = try await admin.client.call(.post, "/v1/\(admin.org)/dynamic_behavior_set/", token: admin.token, json: Self.setBody(services: [service]))
            #expect(duplicate.status == .conflict)
            let inactive = try await createSet(admin, Self.setBody(services: [service], active: false))
            let activate = try await admin.client.call(.post, "/v1/\(admin.org)/dynamic_behavior_set/\(inactive)/", token: admin.token, json: ["is_active": true])
            #expect(activate.status == .conflict)
            let deactivate = try await admin.client.call(.post, "/v1/\(admin.org)/dynamic_behavior_set/\(first)/", token: admin.token, json: ["is_active": false])
            #expect(deactivate.status == .noContent)
            let activated = try await admin.client.call(.post, "/v1/\(admin.org)/dynamic_behavior_set/\(inactive)/", token: admin.token, json: ["is_active": true])
            #expect(activated.status == .noContent)
            let active = try await admin.client.call(.get, "/v1/\(admin.org)/dynamic_behavior_set/?is_active=true", token: admin.token).object()
            #expect((active["dynamic_behavior_sets"] as? [[String: Any]])?.map { $0["id"] as? String } == [inactive])
        }
    }

    @Test func versionsAreNumberedInOrderAndSelectedByNumberRangeOrLatest() async throws {
        try await SignedInAdmin.with { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let id = try await createSet(admin, Self.setBody(services: [service]))
            let base = "/v1/\(admin.org)/dynamic_behavior_set/\(id)/version/"
            let body: [String: Any] = [
                "conversation_triggers": ["The user coughs a lot"],
                "actions": [["type": "inject-instruction", "instruction": "Suggest rest.", "overrides_instructions": true]],
            ]
            let wrong = try await admin.client.call(.post, base + "?version=3", token: admin.token, json: body)
            #expect(wrong.status == .badRequest, "\(wrong.text)")
            let second = try await admin.client.call(.post, base + "?version=2", token: admin.token, json: body)
            #expect(second.status == .created)
            #expect(try second.object()["new_version_number"] as? Int == 2)
            let third = try await admin.client.call(.post, base, token: admin.token, json: body)
            #expect(try third.object()["new_version_number"] as? Int == 3)

            func versions(_ query: String) async throws -> [Int] {
                let answer = try await admin.client.call(.get, base + query, token: admin.token).object()
                return (answer["dynamic_behavior_set_versions"] as? [[String: Any]] ?? []).compactMap { $0["version"] as? Int }
            }
            #expect(try await versions("") == [1, 2, 3])
            #expect(try await versions("?version=latest") == [3])
            #expect(try await versions("?version=1-2") == [1, 2])
            #expect(try await versions("?sort_by=-version&limit=2") == [3, 2])
        }
    }

    @Test func servicesAndToolsMustExist() async throws {
        try await SignedInAdmin.with { admin in
            let missingService = try await admin.client.call(
                .post, "/v1/\(admin.org)/dynamic_behavior_set/", token: admin.token, json: Self.setBody(services: [ObjectID.generate()])
            )
            #expect(missingService.status == .notFound)
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            var body = Self.setBody(services: [service])
            body["initial_version"] = [
                "is_active": true, "conversation_triggers": ["The user asks for the weather"],
                "actions": [["type": "change-tool-candidates", "overrides_existing_tool_call_specs": false, "tool_call_specs": [[
                    "tool_id": ObjectID.generate(), "version_constraint": ">=1.0", "additional_instruction": "Use it",
                    "audio_fillers": [String](), "audio_filler_triggered_after": 2, "result_persistence": "ephemeral", "tool_name": "weather",
                ]]]],
            ] as [String: Any]
            let missingTool = try await admin.client.call(.post, "/v1/\(admin.org)/dynamic_behavior_set/", token: admin.token, json: body)
            #expect(missingTool.status == .notFound, "\(missingTool.text)")
            let sets = try await admin.client.call(.get, "/v1/\(admin.org)/dynamic_behavior_set/", token: admin.token).object()
            #expect((sets["dynamic_behavior_sets"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func badVersionsAreRefusedWithTheirField() async throws {
        try await SignedInAdmin.with { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            for (triggers, field) in [([String](), "conversation_triggers"), (Array(repeating: "x", count: 51), "conversation_triggers"), ([" "], "0")] {
                let answer = try await admin.client.call(
                    .post, "/v1/\(admin.org)/dynamic_behavior_set/", token: admin.token, json: Self.setBody(services: [service], triggers: triggers)
                )
                #expect(answer.status == .unprocessableContent)
                #expect(answer.text.contains(field), "\(answer.text)")
            }
            var unknown = Self.setBody(services: [service])
            unknown["initial_version"] = ["is_active": true, "conversation_triggers": ["x"], "actions": [["type": "send-email"]]] as [String: Any]
            let answer = try await admin.client.call(.post, "/v1/\(admin.org)/dynamic_behavior_set/", token: admin.token, json: unknown)
            #expect(answer.status == .unprocessableContent)
        }
    }

    @Test func aSetIsUpdatedAndDeletedWithItsVersions() async throws {
        try await SignedInAdmin.with { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let id = try await createSet(admin, Self.setBody(services: [service]))
            let updated = try await admin.client.call(.post, "/v1/\(admin.org)/dynamic_behavior_set/\(id)/", token: admin.token, json: [
                "name": "persistent cough", "tags": ["team": "triage"], "applied_to_services": [String](),
            ] as [String: Any])
            #expect(updated.status == .noContent)
            let set = (try await admin.client.call(.get, "/v1/\(admin.org)/dynamic_behavior_set/?id=\(id)", token: admin.token)
                .object()["dynamic_behavior_sets"] as? [[String: Any]])?.first
            #expect(set?["name"] as? String == "persistent cough")
            #expect(set?["tags"] as? [String: String] == ["team": "triage"])
            #expect(set?["applied_to_services"] as? [String] == [])

            let deleted = try await admin.client.call(.delete, "/v1/\(admin.org)/dynamic_behavior_set/\(id)/", token: admin.token)
            #expect(deleted.status == .ok)
            let versions = try await admin.client.call(.get, "/v1/\(admin.org)/dynamic_behavior_set/\(id)/version/", token: admin.token)
            #expect(versions.status == .notFound)
            let again = try await admin.client.call(.delete, "/v1/\(admin.org)/dynamic_behavior_set/\(id)/", token: admin.token)
            #expect(again.status == .notFound)
        }
    }

    @Test func searchFindsSetsByNameAndLatestTriggersBestFirst() async throws {
        try await SignedInAdmin.with { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let byTrigger = try await createSet(admin, Self.setBody(name: "respiratory", services: [service], triggers: ["The user has a cough"]))
            let byName = try await createSet(admin, Self.setBody(name: "cough", services: [service], triggers: ["Breathing trouble"]))
            _ = try await createSet(admin, Self.setBody(name: "billing", services: [service], triggers: ["The user asks about an invoice"]))
            let found = try await admin.client.call(.get, "/v1/\(admin.org)/dynamic_behavior_set/search?query=cough", token: admin.token).object()
            #expect((found["dynamic_behavior_sets"] as? [[String: Any]])?.map { $0["id"] as? String } == [byName, byTrigger])
            let missing = try await admin.client.call(.get, "/v1/\(admin.org)/dynamic_behavior_set/search", token: admin.token)
            #expect(missing.status == .unprocessableContent)
        }
    }

    @Test func aPlainUserCannotCreateOrSeeSets() async throws {
        try await SignedInAdmin.with { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let id = try await createSet(admin, Self.setBody(services: [service]))
            let invited = try await admin.client.call(.post, "/v1/\(admin.org)/user/", token: admin.token, json: [
                "first_name": "Pat", "last_name": "Doe", "email": "pat@example.com", "role_name": "DefaultUserRole",
            ])
            let user = try invited.object()["user_id"] as? String ?? ""
            let token = try await admin.client.signIn(
                org: admin.org, keyID: admin.credentials.apiKeyID, key: admin.credentials.apiKey, userID: user
            )
            let create = try await admin.client.call(.post, "/v1/\(admin.org)/dynamic_behavior_set/", token: token, json: Self.setBody(name: "other", services: [service]))
            #expect(create.status == .forbidden)
            let listed = try await admin.client.call(.get, "/v1/\(admin.org)/dynamic_behavior_set/", token: token).object()
            #expect((listed["dynamic_behavior_sets"] as? [Any])?.isEmpty == true)
            #expect(try await admin.client.call(.get, "/v1/\(admin.org)/dynamic_behavior_set/\(id)/version/", token: token).status == .forbidden)
            #expect(try await admin.client.call(.delete, "/v1/\(admin.org)/dynamic_behavior_set/\(id)/", token: token).status == .forbidden)
        }
    }
}
