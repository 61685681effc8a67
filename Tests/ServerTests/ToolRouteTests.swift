import AmigoWire
import CompadreTesting
import Foundation
import Hummingbird
import Server
import SQLKit
import Storage
import Testing
import ToolRuntime
import StorageTesting
import Platform

/// The tool lifecycle endpoints in-process: records, environment variables, version rules.
/// (Publishing, the git repository and running tools end to end are in tests/compat/test_tools.py.)
@Suite("Tool routes")
struct ToolRouteTests {
    func withServer(_ body: @Sendable (TestServer, TestServer.Client, String, String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("compadre-tools-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var tools = ToolConfiguration()
        tools.directory = directory
        tools.isolation = .none
        try await SignedInAdmin.with(tools: tools) { admin in
            try await body(admin.server, admin.client, admin.org, admin.token)
        }
    }

    func createTool(_ client: TestServer.Client, _ org: String, _ token: String, name: String = "weather") async throws -> String {
        let answer = try await client.call(.post, "/v1/\(org)/tool/", token: token, json: [
            "name": name, "description": "Looks up the weather", "tags": ["team": "ops"],
        ])
        #expect(answer.status == .created, "\(answer.text)")
        return try answer.object()["id"] as? String ?? ""
    }

    /// Found by schemathesis: an empty branch name was a 500.
    @Test func testingAnInvalidBranchNameIsABadRequest() async throws {
        try await withServer { _, client, org, token in
            let answer = try await client.call(.post, "/v1/\(org)/tool/test", token: token, json: [
                "commit_branch": "", "project_path": "0", "required_envvars": [String: String](), "required_secret_envvars": [String: String](),
                "inputs": [["input_parameters": [String: Any](), "invocation_mode": "regular",
                            "nonsensitive_user_variables": [String: Any](), "sensitive_user_variables": [String: Any]()]],
            ] as [String: Any])
            #expect(answer.status == .badRequest, "\(answer.text)")
        }
    }

    @Test func aToolIsCreatedListedModifiedAndDeprecated() async throws {
        try await withServer { _, client, org, token in
            let id = try await createTool(client, org, token)
            let duplicate = try await client.call(.post, "/v1/\(org)/tool/", token: token, json: [
                "name": "weather", "description": "Again", "tags": [String: String](),
            ])
            #expect(duplicate.status == .conflict)
            let badName = try await client.call(.post, "/v1/\(org)/tool/", token: token, json: [
                "name": "Weather Tool", "description": "Bad", "tags": [String: String](),
            ])
            #expect(badName.status == .unprocessableContent)

            let modified = try await client.call(.post, "/v1/\(org)/tool/\(id)", token: token, json: ["description": "Forecasts"])
            #expect(modified.status == .noContent)
            let listed = try await client.call(.get, "/v1/\(org)/tool/?tag=team:ops", token: token).object()
            let tools = listed["tools"] as? [[String: Any]] ?? []
            #expect(tools.map { $0["description"] as? String } == ["Forecasts"])
            #expect((listed["filter_values"] as? [String: Any])?["tags"] as? [String] == ["team:ops"])
            let none = try await client.call(.get, "/v1/\(org)/tool/?tag=team:sales", token: token).object()
            #expect((none["tools"] as? [Any])?.isEmpty == true)

            #expect(try await client.call(.delete, "/v1/\(org)/tool/\(id)", token: token).status == .noContent)
            let deprecated = try await client.call(.get, "/v1/\(org)/tool/?deprecated=true", token: token).object()
            #expect((deprecated["tools"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
            // The name is free again once the tool is deprecated.
            _ = try await createTool(client, org, token)
        }
    }

    @Test func secretVariablesAreStoredSealedAndNeverReturned() async throws {
        try await withServer { server, client, org, token in
            let id = try await createTool(client, org, token)
            let inserted = try await client.call(.post, "/v1/\(org)/tool/\(id)/envvar", token: token, json: [
                "inserts": [
                    ["name": "API_BASE", "value": "https://weather.example", "is_secret": false],
                    ["name": "API_KEY", "value": "s3cret-value", "is_secret": true],
                ],
            ])
            #expect(inserted.status == .noContent, "\(inserted.text)")
            let tool = try await client.call(.get, "/v1/\(org)/tool/?id=\(id)", token: token)
            #expect(!tool.text.contains("s3cret-value"))
            let listed = try tool.object()["tools"] as? [[String: Any]] ?? []
            #expect(listed.first?["envvars"] as? [String] == ["API_BASE"])
            #expect(listed.first?["secret_envvars"] as? [String] == ["API_KEY"])

            let stored = try await server.api.store.read { try await $0.tools.envvars(toolID: id) }
            let secret = try #require(stored.first { $0.name == "API_KEY" })
            #expect(!secret.value.contains("s3cret"))
            #expect(try server.api.tools?.secrets.open(secret.value) == "s3cret-value")

            let again = try await client.call(.post, "/v1/\(org)/tool/\(id)/envvar", token: token, json: [
                "inserts": [["name": "API_KEY", "value": "other", "is_secret": true]],
            ])
            #expect(again.status == .conflict)
            let missing = try await client.call(.post, "/v1/\(org)/tool/\(id)/envvar", token: token, json: [
                "updates": [["name": "NOPE", "value": "x"]],
            ])
            #expect(missing.status == .badRequest)
            let lower = try await client.call(.post, "/v1/\(org)/tool/\(id)/envvar", token: token, json: [
                "inserts": [["name": "api_key", "value": "x", "is_secret": false]],
            ])
            #expect(lower.status == .unprocessableContent)
            // A failed request changed nothing.
            let after = try await server.api.store.read { try await $0.tools.envvars(toolID: id) }
            #expect(after == stored)

            let deleted = try await client.call(.post, "/v1/\(org)/tool/\(id)/envvar", token: token, json: ["deletes": [["name": "API_KEY"]]])
            #expect(deleted.status == .noContent)
            let reinserted = try await client.call(.post, "/v1/\(org)/tool/\(id)/envvar", token: token, json: [
                "inserts": [["name": "API_KEY", "value": "new", "is_secret": true]],
            ])
            #expect(reinserted.status == .conflict, "a name deleted a moment ago cannot come back at once")
        }
    }

    @Test func publishingFollowsTheVersionRules() async throws {
        try await withServer { _, client, org, token in
            let id = try await createTool(client, org, token)
            let minorFirst = try await client.call(.post, "/v1/\(org)/tool/\(id)/version", token: token, json: [
                "project_path": "weather", "bump_type": "minor",
            ])
            #expect(minorFirst.status == .badRequest, "\(minorFirst.text)")
            let noProject = try await client.call(.post, "/v1/\(org)/tool/\(id)/version", token: token, json: [
                "project_path": "weather", "bump_type": "major",
            ])
            #expect(noProject.status == .notFound, "\(noProject.text)")
            let badBump = try await client.call(.post, "/v1/\(org)/tool/\(id)/version", token: token, json: [
                "project_path": "weather", "bump_type": "huge",
            ])
            #expect(badBump.status == .unprocessableContent)
            let versions = try await client.call(.get, "/v1/\(org)/tool/\(id)/version", token: token).object()
            #expect((versions["tool_versions"] as? [Any])?.isEmpty == true)
            let badSpecifier = try await client.call(.get, "/v1/\(org)/tool/\(id)/version?versions=~%3D1", token: token)
            #expect(badSpecifier.status == .unprocessableContent)
            let unknown = try await client.call(.post, "/v1/\(org)/tool/\(id)/version/1.0.0/invoke", token: token, json: [
                "inputs": [["input_parameters": ["name": "x"], "invocation_mode": "regular",
                            "nonsensitive_user_variables": [String: String](), "sensitive_user_variables": [String: String]()]],
            ])
            #expect(unknown.status == .notFound)
        }
    }

    @Test func invocationListingChecksItsPairedFilters() async throws {
        try await withServer { _, client, org, token in
            let id = try await createTool(client, org, token)
            let unpaired = try await client.call(.get, "/v1/\(org)/tool/invocation?tool_id=\(id)&version=%3E%3D1&version=%3E%3D2", token: token)
            #expect(unpaired.status == .badRequest)
            let empty = try await client.call(.get, "/v1/\(org)/tool/invocation?tool_id=\(id)&version=%3E%3D1", token: token).object()
            #expect((empty["tool_invocations"] as? [Any])?.isEmpty == true)
            let search = try await client.call(.get, "/v1/\(org)/tool/invocation/search?query=rain", token: token)
            #expect(search.status == .ok)
            let noQuery = try await client.call(.get, "/v1/\(org)/tool/invocation/search", token: token)
            #expect(noQuery.status == .unprocessableContent)
        }
    }

    @Test func theScaffoldIsAGzippedProject() async throws {
        try await withServer { _, client, org, token in
            let answer = try await client.call(.get, "/v1/\(org)/tool/amigo_tool_scaffold.tar.gz", token: token)
            #expect(answer.status == .ok)
            #expect(answer.headers[.contentType] == "application/gzip")
            #expect(Array(answer.body.prefix(2)) == [0x1f, 0x8b])
            #expect(try await client.call(.get, "/v1/\(org)/tool/amigo_tool_scaffold.tar.gz").status == .unauthorized)
        }
    }

    @Test func theGitRouteAsksForCredentials() async throws {
        try await withServer { _, client, org, token in
            let anonymous = try await client.call(.get, "/v1/\(org)/tool/git/info/refs?service=git-upload-pack")
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
            let refs = try await client.call(.get, "/v1/\(org)/tool/git/info/refs?service=git-upload-pack", token: token)
            #expect(refs.status == .ok, "\(refs.text)")
            #expect(refs.headers[.contentType] == "application/x-git-upload-pack-advertisement")
            #expect(refs.text.contains("refs/heads/main"))
        }
    }
}
