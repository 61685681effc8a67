import AmigoWire
import CompadreTesting
import Foundation
import HTTPTypes
import Hummingbird
import Platform
import Server
import SQLKit
import Storage
import Synchronization
import Testing
import StorageTesting

/// A small valid context graph: an initial action state, a decision, and a goodbye.
nonisolated(unsafe) let validGraph: [String: Any] = [
    "description": "Intake",
    "new_user_initial_state": "greet", "returning_user_initial_state": "greet", "terminal_state": "goodbye",
    "references": [:] as [String: Any],
    "global_intra_state_navigation_guidelines": [String](), "global_action_guidelines": [String](), "global_boundary_constraints": [String](),
    "states": [
        ["type": "action", "name": "greet", "objective": "Greet the user", "actions": ["Say hello"],
         "intra_state_navigation_guidelines": [String](), "action_guidelines": [String](), "boundary_constraints": [String](),
         "exit_conditions": [["description": "The user said hello", "next_state": "route"]],
         "action_tool_call_specs": [String](), "exit_condition_tool_call_specs": [String](), "skip_active_memory_retrieval": false],
        ["type": "decision", "name": "route", "objective": "Decide", "decision_guidelines": [String](),
         "exit_conditions": [["description": "Done", "next_state": "goodbye"]], "tool_call_specs": [String](),
         "audio_fillers": [String](), "audio_filler_triggered_after": 2.0],
        ["type": "action", "name": "goodbye", "objective": "Say goodbye", "actions": ["Say goodbye"],
         "intra_state_navigation_guidelines": [String](), "action_guidelines": [String](), "boundary_constraints": [String](),
         "exit_conditions": [[String: Any]](), "action_tool_call_specs": [String](), "exit_condition_tool_call_specs": [String](),
         "skip_active_memory_retrieval": false],
    ] as [[String: Any]],
]

nonisolated(unsafe) let agentVersion: [String: Any] = [
    "initials": "AM", "background": "A helpful agent.", "behaviors": ["Be kind"], "communication_patterns": ["Short sentences"],
    "identity": ["name": "Amy", "role": "Intake", "developed_by": "Acme", "default_spoken_language": "eng",
                 "relationship_to_developer": ["ownership": "owned", "type": "assistant", "conversation_visibility": "visible", "thought_visibility": "hidden"]],
]

/// Creates an agent with a version, a graph with a version, and an active service; returns their ids.
func makeService(_ client: TestServer.Client, org: String, token: String, name: String = "intake") async throws -> (agent: String, graph: String, service: String) {
    let agent = try await client.call(.post, "/v1/\(org)/organization/agent", token: token, json: ["agent_name": "agent-\(name)"]).object()["id"] as! String
    try await client.call(.post, "/v1/\(org)/organization/agent/\(agent)/", token: token, json: agentVersion)
    let graph = try await client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine", token: token, json: ["state_machine_name": "graph-\(name)"]).object()["id"] as! String
    let version = try await client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine/\(graph)/", token: token, json: validGraph)
    #expect(version.status == .created, "\(version.text)")
    let service = try await client.call(.post, "/v1/\(org)/service/", token: token, json: [
        "name": name, "description": "Intake service", "is_active": true, "agent_id": agent,
        "service_hierarchical_state_machine_id": graph, "keyterms": [String](), "tags": ["team": "care"],
    ] as [String: Any])
    #expect(service.status == .created, "\(service.text)")
    return (agent, graph, try service.object()["id"] as! String)
}

@Suite("Authentication")
struct AuthenticationTests {
    @Test(arguments: TestDatabase.available)
    func signingInWithTheInitKeyAuthorizesRequests(engine: TestDatabase) async throws {
        try await SignedInAdmin.with(engine) { admin in
            let (client, credentials, token) = (admin.client, admin.credentials, admin.token)
            let answer = try await client.call(.get, "/v1/\(credentials.organizationID)/service/", token: token)
            #expect(answer.status == .ok)
            #expect(try answer.object()["services"] as? [Any] != nil)
            let wrong = try await client.call(.post, "/v1/\(credentials.organizationID)/user/signin_with_api_key", headers: [
                HTTPField.Name("x-api-key")!: "nope", HTTPField.Name("x-api-key-id")!: credentials.apiKeyID, HTTPField.Name("x-user-id")!: credentials.userID,
            ])
            #expect(wrong.status == .unauthorized)
            let missing = try await client.call(.post, "/v1/\(credentials.organizationID)/user/signin_with_api_key")
            #expect(missing.status == .unprocessableContent)
        }
    }

    @Test(arguments: TestDatabase.available)
    func expiredMalformedAndTamperedTokensAreRejected(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let credentials = try await server.bootstrap()
            let org = credentials.organizationID
            let expired = try await server.api.tokens.issue(userID: credentials.userID, orgID: org, now: Date().addingTimeInterval(-7200), lifetime: 3600).token
            let valid = try await server.api.tokens.issue(userID: credentials.userID, orgID: org).token
            var parts = valid.split(separator: ".").map(String.init)
            let otherUser = try await server.api.tokens.issue(userID: "someone-else", orgID: org).token
            parts[1] = String(otherUser.split(separator: ".")[1])
            let tampered = parts.joined(separator: ".")
            let foreignSigner = await TokenIssuer(secret: "another-secret-that-is-also-long-enough-for-hs256")
            let forged = try await foreignSigner.issue(userID: credentials.userID, orgID: org).token
            try await server.test { client in
                for token in [expired, tampered, forged, "not-a-jwt", ""] {
                    let answer = try await client.call(.get, "/v1/\(org)/service/", token: token)
                    #expect(answer.status == .unauthorized, "token \(token.prefix(12)) was accepted")
                    #expect(try answer.object()["detail"] is String)
                }
                #expect(try await client.call(.get, "/v1/\(org)/service/", token: valid).status == .ok)
                let basic = Data("\(org)_\(credentials.userID):\(valid)".utf8).base64EncodedString()
                #expect(try await client.call(.get, "/v1/\(org)/service/", headers: [.authorization: "Basic \(basic)"]).status == .ok)
                let mismatched = try await client.call(.get, "/v1/\(org)/service/", token: valid, headers: [HTTPField.Name("X-ORG-ID")!: "other-org"])
                #expect(mismatched.status == .unauthorized)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func apiKeySecretsAreShownOnceAndStoredOnlyAsHashes(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let credentials = try await server.bootstrap()
            let org = credentials.organizationID
            try await server.test { client in
                let token = try await client.signIn(credentials)
                let created = try await client.call(.post, "/v1/\(org)/organization/api_key/", token: token, json: ["name": "ci", "duration": "P30D", "role_name": "DefaultUserRole"])
                #expect(created.status == .created)
                let secret = try created.object()["api_key"] as! String
                let listing = try await client.call(.get, "/v1/\(org)/organization/api_key/", token: token)
                #expect(!listing.text.contains(secret))
                let stored = try await server.api.store.read { try await $0.apiKeys.list(orgID: org) }
                #expect(stored.count == 2)
                let rows = try await database.withSession { sql in try await sql.raw("SELECT secret_hash, doc FROM api_keys").all() }
                for row in rows {
                    let hash = try row.decode(column: "secret_hash", as: String.self)
                    let doc = try row.decode(column: "doc", as: String.self)
                    #expect(!hash.contains(secret) && !doc.contains(secret))
                }
                let tooLong = try await client.call(.post, "/v1/\(org)/organization/api_key/", token: token, json: ["name": "x", "duration": "P365D"])
                #expect(tooLong.status == .unprocessableContent)
            }
        }
    }
}

@Suite("Tenancy and permissions")
struct TenancyTests {
    @Test(arguments: TestDatabase.available)
    func aTokenOfOneOrganizationNeverReachesAnother(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let a = try await server.bootstrap(uniqueOrgID("a"))
            let b = try await server.bootstrap(uniqueOrgID("b"))
            try await server.test { client in
                let tokenA = try await client.signIn(a)
                let tokenB = try await client.signIn(b)
                let (agentB, graphB, serviceB) = try await makeService(client, org: b.organizationID, token: tokenB)
                let orgB = b.organizationID
                // A's token on B's paths: every resource, read and write.
                let attempts: [(HTTPRequest.Method, String, Any?)] = [
                    (.post, "/v1/\(orgB)/organization/", ["title": "pwned"]),
                    (.get, "/v1/\(orgB)/organization/api_key/", nil),
                    (.post, "/v1/\(orgB)/organization/api_key/", ["name": "x", "duration": "P30D"]),
                    (.get, "/v1/\(orgB)/user/", nil),
                    (.get, "/v1/\(orgB)/user/search/?query=a", nil),
                    (.post, "/v1/\(orgB)/user/", ["first_name": "E", "last_name": "V", "email": "eve@example.com", "role_name": "DefaultUserRole"]),
                    (.post, "/v1/\(orgB)/user/\(b.userID)", ["additional_context": ["pwned"]]),
                    (.get, "/v1/\(orgB)/user/\(b.userID)/user_model", nil),
                    (.get, "/v1/\(orgB)/user/\(b.userID)/memory", nil),
                    (.delete, "/v1/\(orgB)/user/\(b.userID)", nil),
                    (.get, "/v1/\(orgB)/organization/agent", nil),
                    (.post, "/v1/\(orgB)/organization/agent/\(agentB)/", agentVersion),
                    (.get, "/v1/\(orgB)/organization/agent/\(agentB)/version", nil),
                    (.delete, "/v1/\(orgB)/organization/agent/\(agentB)/", nil),
                    (.get, "/v1/\(orgB)/organization/service_hierarchical_state_machine", nil),
                    (.post, "/v1/\(orgB)/organization/service_hierarchical_state_machine/\(graphB)/", validGraph),
                    (.get, "/v1/\(orgB)/organization/service_hierarchical_state_machine/\(graphB)/version", nil),
                    (.get, "/v1/\(orgB)/service/", nil),
                    (.post, "/v1/\(orgB)/service/\(serviceB)/", ["is_active": false]),
                    (.put, "/v1/\(orgB)/service/\(serviceB)/version_sets/x/", ["version_set": ["agent_version_number": nil, "service_hierarchical_state_machine_version_number": nil, "llm_model_preferences": [:]] as [String: Any?]]),
                    (.get, "/v1/\(orgB)/role/", nil),
                    (.post, "/v1/\(orgB)/role/DefaultUserRole/assign", ["user_id": a.userID]),
                ]
                for (method, path, body) in attempts {
                    let answer = try await client.call(method, path, token: tokenA, json: body)
                    #expect(answer.status == .unauthorized, "\(method) \(path) answered \(answer.status)")
                }
                // B's ids under A's own organization are simply not there.
                let orgA = a.organizationID
                #expect(try await client.call(.get, "/v1/\(orgA)/organization/agent/\(agentB)/version", token: tokenA).status == .notFound)
                #expect(try await client.call(.post, "/v1/\(orgA)/service/\(serviceB)/", token: tokenA, json: ["is_active": false]).status == .notFound)
                #expect(try await client.call(.get, "/v1/\(orgA)/user/\(b.userID)/user_model", token: tokenA).status == .notFound)
                let servicesA = try await client.call(.get, "/v1/\(orgA)/service/", token: tokenA).object()["services"] as! [Any]
                #expect(servicesA.isEmpty)
                // And B is untouched.
                let servicesB = try await client.call(.get, "/v1/\(orgB)/service/", token: tokenB).object()["services"] as! [[String: Any]]
                #expect(servicesB.count == 1 && servicesB[0]["is_active"] as? Bool == true)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func anOrdinaryUserCannotManageTheOrganizationOrReadOthers(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let admin = try await server.bootstrap()
            let org = admin.organizationID
            try await server.test { client in
                let adminToken = try await client.signIn(admin)
                let (agent, graph, _) = try await makeService(client, org: org, token: adminToken)
                let invited = try await client.call(.post, "/v1/\(org)/user/", token: adminToken, json: [
                    "first_name": "Uma", "last_name": "User", "email": "uma@example.com", "role_name": "DefaultUserRole",
                ])
                #expect(invited.status == .created)
                let umaID = try invited.object()["user_id"] as! String
                let userToken = try await client.signIn(org: org, keyID: admin.apiKeyID, key: admin.apiKey, userID: umaID)
                let forbidden: [(HTTPRequest.Method, String, Any?)] = [
                    (.post, "/v1/\(org)/service/", ["name": "mine", "description": "d", "is_active": false, "agent_id": agent,
                                                   "service_hierarchical_state_machine_id": graph, "keyterms": [String](), "tags": [String: String]()] as [String: Any]),
                    (.post, "/v1/\(org)/organization/agent", ["agent_name": "mine"]),
                    (.get, "/v1/\(org)/user/\(admin.userID)/user_model", nil),
                    (.post, "/v1/\(org)/user/\(admin.userID)", ["first_name": "Mallory"]),
                    (.get, "/v1/\(org)/organization/api_key/", nil),
                    (.post, "/v1/\(org)/role/DefaultSuperAdministratorRole/assign", ["user_id": umaID]),
                ]
                for (method, path, body) in forbidden {
                    let answer = try await client.call(method, path, token: userToken, json: body)
                    #expect(answer.status == .forbidden, "\(method) \(path) answered \(answer.status)")
                }
                #expect(try await client.call(.get, "/v1/\(org)/user/\(umaID)/user_model", token: userToken).status == .ok)
                #expect(try await client.call(.post, "/v1/\(org)/user/\(umaID)", token: userToken, json: ["additional_context": ["Prefers mornings"]]).status == .noContent)
                let visible = try await client.call(.get, "/v1/\(org)/user/", token: userToken).object()["users"] as! [[String: Any]]
                #expect(visible.map { $0["user_id"] as? String } == [umaID])
                let model = try await client.call(.get, "/v1/\(org)/user/\(umaID)/user_model", token: adminToken).object()
                #expect(model["additional_context"] as? [String] == ["Prefers mornings"])
            }
        }
    }
}

@Suite("Management API")
struct ManagementTests {
    @Test(arguments: TestDatabase.available)
    func listingsPageWithHasMoreAndContinuationTokens(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let credentials = try await server.bootstrap()
            let org = credentials.organizationID
            try await server.test { client in
                let token = try await client.signIn(credentials)
                func page(_ query: String) async throws -> [String: Any] {
                    try await client.call(.get, "/v1/\(org)/organization/agent?\(query)", token: token).object()
                }
                let empty = try await page("limit=2")
                #expect((empty["agents"] as? [Any])?.isEmpty == true && empty["has_more"] as? Bool == false && empty["continuation_token"] is NSNull)
                for name in ["a1", "a2"] { try await client.call(.post, "/v1/\(org)/organization/agent", token: token, json: ["agent_name": name]) }
                let exact = try await page("limit=2")
                #expect((exact["agents"] as? [Any])?.count == 2 && exact["has_more"] as? Bool == false)
                try await client.call(.post, "/v1/\(org)/organization/agent", token: token, json: ["agent_name": "a3"])
                let first = try await page("limit=2")
                #expect(first["has_more"] as? Bool == true && first["continuation_token"] as? Int == 2)
                let last = try await page("limit=2&continuation_token=2")
                #expect((last["agents"] as? [[String: Any]])?.map { $0["name"] as? String } == ["a3"] && last["has_more"] as? Bool == false)
                #expect(try await client.call(.get, "/v1/\(org)/organization/agent?limit=21", token: token).status == .unprocessableContent)
                #expect(try await client.call(.post, "/v1/\(org)/organization/agent", token: token, json: ["agent_name": "a3"]).status == .conflict)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func anInvalidGraphVersionIsRejectedWithEveryProblemAndNothingIsStored(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let credentials = try await server.bootstrap()
            let org = credentials.organizationID
            try await server.test { client in
                let token = try await client.signIn(credentials)
                let graph = try await client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine", token: token, json: ["state_machine_name": "g"]).object()["id"] as! String
                var broken = validGraph
                var states = broken["states"] as! [[String: Any]]
                states[1]["exit_conditions"] = [["description": "Done", "next_state": "nowhere"]]
                states.append(states[2])
                broken["states"] = states
                broken["terminal_state"] = "route"
                let answer = try await client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine/\(graph)/", token: token, json: broken)
                #expect(answer.status == .unprocessableContent)
                let issues = try answer.object()["detail"] as! [[String: Any]]
                let messages = issues.map { "\($0["loc"]!) \($0["msg"]!)" }.joined(separator: "\n")
                #expect(issues.count >= 3, "\(messages)")
                #expect(messages.contains("nowhere"))
                #expect(messages.contains("already used") && messages.contains("terminal state must be an action state"))
                let versions = try await client.call(.get, "/v1/\(org)/organization/service_hierarchical_state_machine/\(graph)/version", token: token).object()
                #expect((versions["state_machine_versions"] as? [Any])?.isEmpty == true)
                let dryRun = try await client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine/\(graph)/?dry_run=true", token: token, json: validGraph)
                #expect(dryRun.status == .created && dryRun.text == "null")
                let stale = try await client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine/\(graph)/?version=2", token: token, json: validGraph)
                #expect(stale.status == .conflict)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func serviceVersionSetsFollowTheSpec(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let credentials = try await server.bootstrap()
            let org = credentials.organizationID
            try await server.test { client in
                let token = try await client.signIn(credentials)
                let (agent, _, service) = try await makeService(client, org: org, token: token)
                let services = try await client.call(.get, "/v1/\(org)/service/?is_active=true&tags=team:care", token: token).object()
                let first = (services["services"] as! [[String: Any]])[0]
                #expect((first["version_sets"] as! [String: Any]).keys.sorted() == ["edge", "release"])
                #expect((services["filter_values"] as? [String: Any])?["tags"] as? [String] == ["team:care"])
                let pin: [String: Any] = ["version_set": ["agent_version_number": 1, "service_hierarchical_state_machine_version_number": 1, "llm_model_preferences": [String: Any]()]]
                #expect(try await client.call(.put, "/v1/\(org)/service/\(service)/version_sets/pinned/", token: token, json: pin).status == .noContent)
                #expect(try await client.call(.put, "/v1/\(org)/service/\(service)/version_sets/edge/", token: token, json: pin).status == .badRequest)
                let missing: [String: Any] = ["version_set": ["agent_version_number": 9, "service_hierarchical_state_machine_version_number": nil as Int?, "llm_model_preferences": [String: Any]()] as [String: Any?]]
                #expect(try await client.call(.put, "/v1/\(org)/service/\(service)/version_sets/pinned/", token: token, json: missing).status == .badRequest)
                #expect(try await client.call(.delete, "/v1/\(org)/service/\(service)/version_sets/release/", token: token).status == .badRequest)
                #expect(try await client.call(.delete, "/v1/\(org)/service/\(service)/version_sets/pinned/", token: token).status == .noContent)
                #expect(try await client.call(.delete, "/v1/\(org)/service/\(service)/version_sets/pinned/", token: token).status == .notFound)
                #expect(try await client.call(.delete, "/v1/\(org)/organization/agent/\(agent)/", token: token).status == .badRequest)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func unknownRoutesAndBadBodiesAnswerWithJSONDetail(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let credentials = try await server.bootstrap()
            let org = credentials.organizationID
            try await server.test { client in
                let token = try await client.signIn(credentials)
                let unknown = try await client.call(.get, "/v1/\(org)/nothing-here", token: token)
                let unknownDetail = try unknown.object()["detail"]
                #expect(unknown.status == .notFound && unknownDetail != nil)
                let badAgent = try await client.call(.post, "/v1/\(org)/organization/agent", token: token, json: ["agent_name": "   "])
                let issue = (try badAgent.object()["detail"] as! [[String: Any]])[0]
                #expect(badAgent.status == .unprocessableContent && issue["loc"] as? [String] == ["body", "agent_name"])
                let missing = try await client.call(.post, "/v1/\(org)/organization/agent", token: token, json: [String: Any]())
                #expect((try missing.object()["detail"] as! [[String: Any]])[0]["type"] as? String == "missing")
                #expect(try await client.call(.get, "/healthz").status == .ok)
            }
        }
    }

    /// Found by schemathesis: an undeclared method on a served path was a 404.
    @Test func anUndeclaredMethodIs405WithTheAllowedOnes() async throws {
        try await SignedInAdmin.with { admin in
            let traced = try await admin.client.call(.init("TRACE")!, "/v1/\(admin.org)/service/", token: admin.token)
            #expect(traced.status == .methodNotAllowed)
            #expect(traced.headers[.allow] == "GET, POST")
            #expect(try traced.object()["detail"] is String)
            let id = String(repeating: "a", count: 24)
            let patched = try await admin.client.call(.patch, "/v1/\(admin.org)/conversation/\(id)/finish/", token: admin.token)
            #expect(patched.status == .methodNotAllowed)
            #expect(patched.headers[.allow] == "POST")
            let unknown = try await admin.client.call(.patch, "/v1/\(admin.org)/nothing-here", token: admin.token)
            #expect(unknown.status == .notFound)
        }
    }
}

@Suite("Rate limits")
struct RateLimitTests {
    final class ManualClock: Sendable {
        let seconds = Mutex<Double>(1_800_000_000)
        func advance(_ delta: Double) { seconds.withLock { $0 += delta } }
        var now: Date { Date(timeIntervalSince1970: seconds.withLock { $0 }) }
    }

    @Test(arguments: TestDatabase.available)
    func theSpecsLimitAnswers429UntilTheWindowResets(engine: TestDatabase) async throws {
        try await engine.with { database in
            let clock = ManualClock()
            let server = try await TestServer(database: database, rateLimiter: RateLimiter(now: { clock.now }))
            let credentials = try await server.bootstrap()
            let org = credentials.organizationID
            try await server.test { client in
                let token = try await client.signIn(credentials)
                // get-api-keys allows 10 requests per minute.
                for _ in 0..<10 {
                    #expect(try await client.call(.get, "/v1/\(org)/organization/api_key/", token: token).status == .ok)
                }
                let limited = try await client.call(.get, "/v1/\(org)/organization/api_key/", token: token)
                #expect(limited.status == .tooManyRequests)
                #expect(limited.headers[.retryAfter] != nil && limited.headers[HTTPField.Name("X-RateLimit-Limit")!] == "10")
                #expect(try await client.call(.get, "/v1/\(org)/service/", token: token).status == .ok)
                clock.advance(60)
                #expect(try await client.call(.get, "/v1/\(org)/organization/api_key/", token: token).status == .ok)
            }
        }
    }
}

@Suite("OpenAPI document")
struct OpenAPIDocumentTests {
    static func normalized(_ path: String) -> String {
        var result = path.replacingOccurrences(of: #"\{[^}]+\}"#, with: "{}", options: .regularExpression)
            .replacingOccurrences(of: "/**", with: "/{}")
        while result.count > 1 && result.hasSuffix("/") { result.removeLast() }
        return result
    }

    @Test(arguments: TestDatabase.available)
    func everyRouteIsDescribedAndEveryDescribedOperationIsServed(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            // The realtime socket is not an OpenAPI operation; ../shared/spec/realtime.md describes it.
            let webSockets: Set<String> = ["GET /v1/{}/conversation/converse_realtime"]
            let served = Set(server.router.routes.map { "\($0.method) \(Self.normalized("\($0.path)"))" }).subtracting(webSockets)
            let documented = Set(server.api.catalog.routes.map { "\($0.method) \(Self.normalized($0.path))" })
            #expect(served.subtracting(documented).isEmpty, "undocumented: \(served.subtracting(documented).sorted())")
            #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
            #expect(server.api.catalog.rateLimits["get-services"] == 50)
        }
    }
}
