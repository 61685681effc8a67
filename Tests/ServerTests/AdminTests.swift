import AmigoWire
import CompadreTesting
import EngineTesting
import Foundation
import HTTPTypes
import Platform
import Server
import Testing

@Suite("Admin endpoints")
struct AdminTests {
    /// The files of a zip of stored entries: name → contents.
    static func unzip(_ data: Data) -> [String: String] {
        let bytes = [UInt8](data)
        var files: [String: String] = [:]
        var offset = 0
        func le16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func le32(_ at: Int) -> Int { le16(at) | le16(at + 2) << 16 }
        while offset + 30 <= bytes.count, le32(offset) == 0x0403_4b50 {
            let size = le32(offset + 18), nameLength = le16(offset + 26), extra = le16(offset + 28)
            let name = String(decoding: bytes[(offset + 30)..<(offset + 30 + nameLength)], as: UTF8.self)
            let start = offset + 30 + nameLength + extra
            files[name] = String(decoding: bytes[start..<(start + size)], as: UTF8.self)
            offset = start + size
        }
        return files
    }

    @Test func promptLogsHoldEveryCallOfAConversationAndHideTheUsersWhoHideTheirs() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let org = admin.org
            let service = try await makeService(admin.client, org: org, token: admin.token).service
            let created = try await admin.client.call(.post, "/v1/\(org)/conversation/?response_format=text", token: admin.token, json: ["service_id": service])
            let conversation = try created.events().first?["conversation_id"] as? String ?? ""
            #expect(try await admin.client.interact(org: org, conversation: conversation, token: admin.token, text: "My invoice is wrong").status == .ok)

            let answer = try await admin.client.call(.get, "/v1/\(org)/admin/get_prompt_logs/?prompt_log_prefix=conversation/\(conversation)/", token: admin.token)
            #expect(answer.status == .ok, "\(answer.text)")
            #expect(answer.headers[.contentType] == "application/zip")
            let files = Self.unzip(answer.body)
            let histories = files.filter { $0.key.hasSuffix("-history") }
            #expect(histories.count >= 2, "\(files.keys.sorted())")
            #expect(files.keys.allSatisfy { $0.hasPrefix("conversation/\(conversation)/") })
            #expect(histories.values.contains { $0.contains("My invoice is wrong") })
            #expect(histories.keys.contains { $0.hasSuffix("-engage-user-history") })
            #expect(histories.values.allSatisfy { $0.contains("--- answer (default, ok,") })
            #expect(Set(files.keys.map { $0.replacingOccurrences(of: "-history", with: "").replacingOccurrences(of: "-system", with: "") }).count == histories.count)

            // A user who hides their conversations: their logs are errors to the administrator.
            let invited = try await admin.client.call(.post, "/v1/\(org)/user/", token: admin.token, json: [
                "first_name": "Uma", "last_name": "Doe", "email": "uma@example.com", "role_name": "DefaultUserRole",
            ])
            let umaID = try invited.object()["user_id"] as? String ?? ""
            let uma = try await admin.client.signIn(org: org, keyID: admin.credentials.apiKeyID, key: admin.credentials.apiKey, userID: umaID)
            let hers = try await admin.client.call(.post, "/v1/\(org)/conversation/?response_format=text", token: uma, json: ["service_id": service])
            let herConversation = try hers.events().first?["conversation_id"] as? String ?? ""
            #expect(try await admin.client.call(.post, "/v1/\(org)/user/\(umaID)", token: uma, json: ["conversations_visible_to_admins": false]).status == .noContent)
            let hidden = Self.unzip(try await admin.client.call(
                .get, "/v1/\(org)/admin/get_prompt_logs/?prompt_log_prefix=conversation/\(herConversation)/", token: admin.token
            ).body)
            #expect(!hidden.isEmpty)
            #expect(hidden.keys.allSatisfy { $0.hasSuffix("-error") })
            // A prefix that matches nothing: an empty zip; no prefix: 422; without the permission: 403.
            #expect(Self.unzip(try await admin.client.call(.get, "/v1/\(org)/admin/get_prompt_logs/?prompt_log_prefix=nothing/", token: admin.token).body).isEmpty)
            #expect(try await admin.client.call(.get, "/v1/\(org)/admin/get_prompt_logs/", token: admin.token).status == .unprocessableContent)
            #expect(try await admin.client.call(.get, "/v1/\(org)/admin/get_prompt_logs/?prompt_log_prefix=x", token: uma).status == .forbidden)
        }
    }

    @Test func getModelsSaysWhichPromptKindsEachVersionSetRoutesWhere() async throws {
        try await SignedInAdmin.with { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let answer = try await admin.client.call(.get, "/v1/\(admin.org)/admin/get_models/", token: admin.token)
            #expect(answer.status == .ok, "\(answer.text)")
            let models = try answer.object()["models"] as? [[String: Any]] ?? []
            let primary = try #require(models.first)
            #expect(primary["name"] as? String == "default" && primary["is_default"] as? Bool == true)
            #expect(primary["params_model_schema"] is [String: Any])
            let routes = primary["routes"] as? [[String: Any]] ?? []
            #expect(Set(routes.compactMap { $0["version_set_name"] as? String }) == ["edge", "release"])
            #expect(routes.allSatisfy { $0["service_id"] as? String == service && ($0["prompt_kinds"] as? [String])?.contains("engage-user") == true })
        }
    }

    func sql(_ admin: SignedInAdmin, _ query: String, token: String? = nil) async throws -> TestServer.Client.Answer {
        try await admin.client.call(.post, "/v1/\(admin.org)/admin/sql_query", token: token ?? admin.token, json: ["sql_query": query, "async_query": false])
    }

    @Test func sqlQueriesReadTheOrganizationsOwnRowsAndNothingElse() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let created = try await admin.client.call(.post, "/v1/\(admin.org)/conversation/?response_format=text", token: admin.token, json: ["service_id": service])
            let conversation = try created.events().first?["conversation_id"] as? String ?? ""
            #expect(try await admin.client.interact(org: admin.org, conversation: conversation, token: admin.token, text: "Hello there").status == .ok)
            // Another organization, with its own user.
            var headers = HTTPFields()
            headers[HTTPField.Name("x-mongo-cluster-name")!] = "main"
            _ = try await admin.client.call(.put, "/v1/elsewhere/organization/", token: admin.token, json: OrganizationLifecycleTests.body, headers: headers)

            let answer = try await sql(admin, "SELECT m.message_type, COUNT(*) AS n FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.service_id = '\(service)' GROUP BY m.message_type ORDER BY m.message_type")
            #expect(answer.status == .ok, "\(answer.text)")
            let result = try answer.object()
            #expect((result["columns"] as? [[String: Any]])?.map { $0["name"] as? String } == ["message_type", "n"])
            #expect((result["columns"] as? [[String: Any]])?.last?["type"] as? String == "integer")
            let rows = result["result"] as? [[Any]] ?? []
            #expect(rows.contains { $0.first as? String == "user-message" && $0.last as? Int == 1 })
            #expect(result["truncated"] as? Bool == false)
            let users = try await sql(admin, "SELECT COUNT(*) FROM users").object()["result"] as? [[Int]]
            #expect(users == [[1]], "only this organization's users")

            // Writes, other databases, the server's tables, two statements: 400, nothing changed.
            for query in ["DELETE FROM users", "INSERT INTO users (user_id) VALUES ('x')", "ATTACH DATABASE '/tmp/x.db' AS x",
                          "SELECT * FROM api_keys", "SELECT 1; SELECT 2", "PRAGMA table_info(users)", "DROP TABLE users"] {
                let refused = try await sql(admin, query)
                #expect(refused.status == .badRequest, "\(query): \(refused.text)")
            }
            #expect(try await sql(admin, "SELECT COUNT(*) FROM users").object()["result"] as? [[Int]] == [[1]])
            #expect(try await admin.client.call(.post, "/v1/\(admin.org)/admin/sql_query", token: admin.token, json: ["sql_query": "SELECT 1", "async_query": true]).status == .unprocessableContent)
            // An organization administrator may not.
            let invited = try await admin.client.call(.post, "/v1/\(admin.org)/user/", token: admin.token, json: [
                "first_name": "Ada", "last_name": "Doe", "email": "ada@example.com", "role_name": "DefaultAdministratorRole",
            ])
            let ada = try await admin.client.signIn(org: admin.org, keyID: admin.credentials.apiKeyID, key: admin.credentials.apiKey, userID: try invited.object()["user_id"] as? String ?? "")
            #expect(try await sql(admin, "SELECT 1", token: ada).status == .forbidden)

            // A query that would run forever is cut at the time limit; rows beyond the limit are cut too.
            var queries = SQLQueries(store: admin.server.api.store)
            queries.timeout = .seconds(1)
            queries.rowLimit = 2
            await #expect {
                _ = try await queries.run("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c", orgID: admin.org)
            } throws: { ($0 as? PlatformError)?.kind == .timedOut }
            let many = try await queries.run("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5) SELECT x FROM c", orgID: admin.org)
            #expect(many.truncated && many.result.count == 2)
        }
    }
}
