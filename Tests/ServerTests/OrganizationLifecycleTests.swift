import AmigoWire
import CompadreTesting
import EngineTesting
import Foundation
import HTTPTypes
import Platform
import Server
import Storage
import StorageTesting
import Testing

@Suite("Creating and deleting organizations")
struct OrganizationLifecycleTests {
    nonisolated(unsafe) static let body: [String: Any] = [
        "org_name": "Acme Health", "title": "Care that listens", "main_description": "Talk to our agents", "sub_description": "Any time",
        "user_dimensions": [["description": "Health", "tags": ["health"]]], "logo": "aGk=", "square_logo": "aGk=", "favicon": "aGk=",
        "signup_page_headshot": "aGk=", "onboarding_instructions": ["Welcome"], "azure_devops_team_name": "acme",
    ]

    func create(_ admin: SignedInAdmin, _ orgID: String, token: String? = nil, cluster: Bool = true) async throws -> TestServer.Client.Answer {
        var headers = HTTPFields()
        if cluster { headers[HTTPField.Name("x-mongo-cluster-name")!] = "main" }
        return try await admin.client.call(.put, "/v1/\(orgID)/organization/", token: token ?? admin.token, json: Self.body, headers: headers)
    }

    @Test func aSuperAdministratorCreatesAnOrganizationAndGetsIntoIt() async throws {
        try await SignedInAdmin.with { admin in
            let created = try await create(admin, "acme")
            #expect(created.status == .created, "\(created.text)")
            let credentials = try created.object()
            #expect(credentials["org_id"] as? String == "acme")
            let token = try await admin.client.signIn(
                org: "acme", keyID: credentials["api_key_id"] as? String ?? "", key: credentials["api_key"] as? String ?? "",
                userID: credentials["user_id"] as? String ?? ""
            )
            let organization = try await admin.client.call(.get, "/v1/acme/organization/", token: token).object()
            #expect(organization["title"] as? String == "Care that listens")
            let roles = try await admin.client.call(.get, "/v1/acme/role/", token: token).object()["roles"] as? [[String: Any]] ?? []
            #expect(Set(roles.compactMap { $0["name"] as? String }) == ["DefaultUserRole", "DefaultAdministratorRole", "DefaultAmigoAdministratorRole", "DefaultSuperAdministratorRole"])

            #expect(try await create(admin, "acme").status == .conflict)
            #expect(try await create(admin, "admin").status == .badRequest)
            #expect(try await create(admin, "other", cluster: false).status == .unprocessableContent)
            #expect(try await admin.client.call(.put, "/v1/other/organization/", json: Self.body).status == .unauthorized)
            // An administrator who is not a super administrator may not.
            let invited = try await admin.client.call(.post, "/v1/\(admin.org)/user/", token: admin.token, json: [
                "first_name": "Ada", "last_name": "Doe", "email": "ada@example.com", "role_name": "DefaultAdministratorRole",
            ])
            let ada = try await admin.client.signIn(org: admin.org, keyID: admin.credentials.apiKeyID, key: admin.credentials.apiKey, userID: try invited.object()["user_id"] as? String ?? "")
            #expect(try await create(admin, "other", token: ada).status == .forbidden)
        }
    }

    @Test(arguments: TestDatabase.available)
    func deletingAnOrganizationLeavesNoneOfItsRowsBehind(engine: TestDatabase) async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(engine, model: model) { admin in
            let created = try await create(admin, "doomed")
            let credentials = try created.object()
            let token = try await admin.client.signIn(
                org: "doomed", keyID: credentials["api_key_id"] as? String ?? "", key: credentials["api_key"] as? String ?? "",
                userID: credentials["user_id"] as? String ?? ""
            )
            // Data of every kind: a service and conversation, a metric, a webhook destination, a persona, a grant.
            let service = try await makeService(admin.client, org: "doomed", token: token).service
            let conversation = try await admin.client.call(.post, "/v1/doomed/conversation/?response_format=text", token: token, json: ["service_id": service])
            #expect(conversation.status == .created)
            _ = try await admin.client.call(.post, "/v1/doomed/metric/", token: token, json: [
                "name": "m", "description": "d", "applied_to_services": [service], "tags": [String: Any](), "metric_value": ["type": "boolean"],
            ])
            _ = try await admin.client.call(.post, "/v1/doomed/webhook_destination/", token: token, json: ["url": "http://127.0.0.1:9/x", "accepted_types": ["agent-framework-resource-updated"]])
            _ = try await admin.client.call(.post, "/v1/doomed/simulation/persona/", token: token, json: [
                "name": "p", "role": "r", "tags": [String: Any](),
                "initial_version": ["background": "b", "user_models": [String](), "nonsensitive_user_variables": [String: Any](), "sensitive_user_variables": [String: Any]()] as [String: Any],
            ])
            let store = admin.server.api.store
            #expect(try await store.read { try await $0.organizations.remainingRows(of: "doomed") } > 10)
            let before = try await store.read { try await $0.organizations.remainingRows(of: admin.org) }

            let deleted = try await admin.client.call(.delete, "/v1/doomed/organization/", token: token)
            #expect(deleted.status == .noContent, "\(deleted.text)")
            #expect(try await store.read { try await $0.organizations.remainingRows(of: "doomed") } == 0)
            // The organization's callers are gone; another organization is untouched.
            #expect(try await admin.client.call(.get, "/v1/doomed/service/", token: token).status == .unauthorized)
            #expect(try await store.read { try await $0.organizations.remainingRows(of: admin.org) } == before)
            // It can be made again.
            #expect(try await create(admin, "doomed").status == .created)
        }
    }
}
