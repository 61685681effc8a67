import CompadreTesting
import HTTPTypes
import Platform
import StorageTesting
import Testing

@Suite("Unstorable text")
struct UnstorableTextTests {
    @Test(arguments: TestDatabase.available)
    func aNULCharacterInAQueryOrBodyIsABadRequestNotAnInternalError(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let admin = try await server.bootstrap()
            let org = admin.organizationID
            try await server.test { client in
                let token = try await client.signIn(admin)
                let listed = try await client.call(.get, "/v1/\(org)/conversation/?user_id=%00", token: token)
                #expect(listed.status == .ok || listed.status == .badRequest, "\(listed.status) \(listed.text)")
                let created = try await client.call(.post, "/v1/\(org)/organization/agent", token: token, json: ["agent_name": "nul\u{0}name"])
                #expect(created.status.code < 500, "\(created.status) \(created.text)")
                let agents = try await client.call(.get, "/v1/\(org)/organization/agent", token: token)
                #expect(agents.status == .ok)
            }
        }
    }
}
