import CompadreTesting
import Foundation
import HTTPTypes
import Platform
import Storage
import StorageTesting
import Testing

/// The official SDK serializes request bodies with `exclude_none=True`: a field the API document marks
/// required but nullable never reaches the server when its value is `None`. Such a field may be absent,
/// meaning `null`. This suite walks Compadre's own `/openapi.json` (which lists such fields under
/// `x-compadre-absent-means-null` rather than `required`), so every required-nullable field an operation
/// added later brings needs a fixture here before the suite passes.
@Suite("Required nullable fields")
struct RequiredNullableTests {
    /// How a fixture sends the field under test.
    enum Mode: CaseIterable, CustomStringConvertible {
        case absent, null
        var description: String { self == .absent ? "absent" : "null" }
        func apply(_ field: String, to object: inout [String: Any]) {
            switch self {
            case .absent: object.removeValue(forKey: field)
            case .null: object[field] = NSNull()
            }
        }
    }

    /// Sends a request with the field in `mode` and returns what a user observes afterwards (status and
    /// the stored value); absent and null must observe the same success.
    typealias Fixture = @Sendable (_ client: TestServer.Client, _ org: String, _ token: String, _ mode: Mode) async throws -> String

    static let fixtures: [String: Fixture] = [
        "CreateApiKeyRequest.name": { client, org, token, mode in
            var body: [String: Any] = ["name": "n", "duration": "P1D", "role_name": "DefaultAdministratorRole"]
            mode.apply("name", to: &body)
            let created = try await client.call(.post, "/v1/\(org)/organization/api_key/", token: token, json: body)
            let id = try created.object()["api_key_id"] as? String
            let keys = try await client.call(.get, "/v1/\(org)/organization/api_key/", token: token).object()["api_keys"] as? [[String: Any]] ?? []
            let stored = keys.first { ($0["key_id"] as? String) == id }
            return "\(created.status.code) name=\(String(describing: stored?["name"].map { $0 is NSNull ? "null" : "\($0)" }))"
        },
        "CreateMetricRequest.additional_notes": { client, org, token, mode in
            var body: [String: Any] = [
                "name": "Resolved \(mode)", "description": "Was the issue resolved?", "applied_to_services": [String](),
                "additional_notes": "x", "tags": [String: Any](), "metric_value": ["type": "boolean"],
            ]
            mode.apply("additional_notes", to: &body)
            let created = try await client.call(.post, "/v1/\(org)/metric/", token: token, json: body)
            let id = try created.object()["id"] as? String ?? ""
            let listed = try await client.call(.get, "/v1/\(org)/metric/?id=\(id)", token: token).object()["metrics"] as? [[String: Any]] ?? []
            return "\(created.status.code) additional_notes=\(String(describing: listed.first?["additional_notes"].map { $0 is NSNull ? "null" : "\($0)" }))"
        },
        "CreateSimulationScenarioInitialVersion.conversation_starts_at": { client, org, token, mode in
            var version: [String: Any] = [
                "objective": "o", "instructions": "i", "initial_message_type": "user-message", "conversation_starts_at": "2030-01-01T00:00:00Z",
            ]
            mode.apply("conversation_starts_at", to: &version)
            let created = try await client.call(.post, "/v1/\(org)/simulation/scenario/", token: token, json: [
                "name": "Scenario \(mode)", "tags": [String: Any](), "initial_version": version,
            ])
            let id = try created.object()["simulation_scenario_id"] as? String ?? ""
            return "\(created.status.code) " + (try await scenarioStart(client, org: org, token: token, scenario: id))
        },
        "CreateSimulationScenarioVersionRequest.conversation_starts_at": { client, org, token, mode in
            let created = try await client.call(.post, "/v1/\(org)/simulation/scenario/", token: token, json: [
                "name": "Versioned scenario \(mode)", "tags": [String: Any](),
                "initial_version": ["objective": "o", "instructions": "i", "initial_message_type": "skip", "conversation_starts_at": NSNull()] as [String: Any],
            ])
            let id = try created.object()["simulation_scenario_id"] as? String ?? ""
            var version: [String: Any] = [
                "objective": "o2", "instructions": "i2", "initial_message_type": "user-message", "conversation_starts_at": "2030-01-01T00:00:00Z",
            ]
            mode.apply("conversation_starts_at", to: &version)
            let second = try await client.call(.post, "/v1/\(org)/simulation/scenario/\(id)/version/", token: token, json: version)
            return "\(second.status.code) " + (try await scenarioStart(client, org: org, token: token, scenario: id))
        },
        "CreateSimulationUnitTestSetRequest.description": { client, org, token, mode in
            let (_, _, service) = try await makeService(client, org: org, token: token, name: "set-description-\(mode)")
            func created(_ path: String, _ body: [String: Any], _ key: String) async throws -> String {
                try await client.call(.post, "/v1/\(org)\(path)", token: token, json: body).object()[key] as? String ?? ""
            }
            let metric = try await created("/metric/", [
                "name": "Set metric \(mode)", "description": "d", "applied_to_services": [String](), "tags": [String: Any](), "metric_value": ["type": "boolean"],
            ], "id")
            let persona = try await created("/simulation/persona/", [
                "name": "Set persona \(mode)", "role": "r", "tags": [String: Any](),
                "initial_version": ["background": "b", "user_models": [String](), "nonsensitive_user_variables": [String: Any](), "sensitive_user_variables": [String: Any]()] as [String: Any],
            ], "simulation_persona_id")
            let scenario = try await created("/simulation/scenario/", [
                "name": "Set scenario \(mode)", "tags": [String: Any](),
                "initial_version": ["objective": "o", "instructions": "i", "initial_message_type": "skip", "conversation_starts_at": NSNull()] as [String: Any],
            ], "simulation_scenario_id")
            let test = try await created("/simulation/unit_test/", [
                "name": "Set test \(mode)", "description": "d", "service_id": service, "service_version_set_name": "release", "persona_id": persona,
                "scenario_id": scenario, "max_interactions": 3, "tags": [String: Any](),
                "success_criterions": [["name": "c", "metric_id": metric, "criterion": ["type": "boolean", "expected_value": true]]],
            ], "simulation_unit_test_id")
            var body: [String: Any] = ["name": "Set \(mode)", "description": "x", "unit_test_runs": [["unit_test_id": test, "run_count": 1]], "tags": [String: Any]()]
            mode.apply("description", to: &body)
            let set = try await client.call(.post, "/v1/\(org)/simulation/unit_test_set/", token: token, json: body)
            let id = try set.object()["simulation_unit_test_set_id"] as? String ?? ""
            let listed = try await client.call(.get, "/v1/\(org)/simulation/unit_test_set/?id=\(id)", token: token).object()["simulation_unit_test_sets"] as? [[String: Any]]
            return "\(set.status.code) description=\(String(describing: listed?.first?["description"].map { $0 is NSNull ? "null" : "\($0)" }))"
        },
        "RecallStateInput.queries": { client, org, token, mode in
            try await recallFixture(client, org: org, token: token, field: "queries", other: ("requested_information", "age"), mode: mode)
        },
        "RecallStateInput.requested_information": { client, org, token, mode in
            try await recallFixture(client, org: org, token: token, field: "requested_information", other: ("queries", ["favourite colour"]), mode: mode)
        },
        "VersionSetInput.agent_version_number": { client, org, token, mode in
            try await versionSetFixture(client, org: org, token: token, field: "agent_version_number", other: "service_hierarchical_state_machine_version_number", mode: mode)
        },
        "VersionSetInput.service_hierarchical_state_machine_version_number": { client, org, token, mode in
            try await versionSetFixture(client, org: org, token: token, field: "service_hierarchical_state_machine_version_number", other: "agent_version_number", mode: mode)
        },
    ]

    /// `Schema.field` of every required field that may be null, in the request bodies of `document`.
    static func requiredNullableFields(of document: [String: Any]) -> Set<String> {
        let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]] ?? [:]
        var reached = Set<String>()
        func walk(_ node: Any) {
            if let object = node as? [String: Any] {
                if let reference = object["$ref"] as? String, let name = reference.split(separator: "/").last.map(String.init),
                   reached.insert(name).inserted, let schema = schemas[name] {
                    walk(schema)
                }
                object.values.forEach(walk)
            } else if let array = node as? [Any] {
                array.forEach(walk)
            }
        }
        for case let item as [String: Any] in (document["paths"] as? [String: Any] ?? [:]).values {
            for case let operation as [String: Any] in item.values {
                if let body = operation["requestBody"] { walk(body) }
            }
        }
        func isNullable(_ property: [String: Any]) -> Bool {
            if property["nullable"] as? Bool == true { return true }
            return ["anyOf", "oneOf"].contains { key in
                (property[key] as? [[String: Any]] ?? []).contains { $0["type"] as? String == "null" }
            }
        }
        var fields = Set<String>()
        for name in reached {
            guard let schema = schemas[name], let properties = schema["properties"] as? [String: [String: Any]] else { continue }
            for field in schema["required"] as? [String] ?? [] where properties[field].map(isNullable) == true {
                fields.insert("\(name).\(field)")
            }
            // The document states these as not required (the reference's required-nullable fields).
            for field in schema["x-compadre-absent-means-null"] as? [String] ?? [] {
                fields.insert("\(name).\(field)")
            }
        }
        return fields
    }

    /// The `conversation_starts_at` of a scenario's latest version.
    static func scenarioStart(_ client: TestServer.Client, org: String, token: String, scenario: String) async throws -> String {
        let versions = try await client.call(.get, "/v1/\(org)/simulation/scenario/\(scenario)/version/?version=latest", token: token).object()
        let latest = (versions["simulation_scenario_versions"] as? [[String: Any]])?.first
        return "conversation_starts_at=\(String(describing: latest?["conversation_starts_at"].map { $0 is NSNull ? "null" : "\($0)" }))"
    }

    @Test(arguments: TestDatabase.available)
    func everyRequiredNullableFieldMayBeAbsentAndMeansNull(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let credentials = try await server.bootstrap()
            let org = credentials.organizationID
            try await server.test { client in
                let token = try await client.signIn(credentials)
                let document = try await client.call(.get, "/openapi.json").object()
                let fields = Self.requiredNullableFields(of: document)
                #expect(fields.contains("RecallStateInput.requested_information"), "the walk should find the fields the SDK omits")
                for field in fields.sorted() {
                    guard let fixture = Self.fixtures[field] else {
                        Issue.record("\(field) is required and nullable: add a fixture proving it may be absent")
                        continue
                    }
                    let absent = try await fixture(client, org, token, .absent)
                    let null = try await fixture(client, org, token, .null)
                    #expect(absent.hasPrefix("2"), "\(field) absent: \(absent)")
                    #expect(absent == null, "\(field): absent observed \(absent), null observed \(null)")
                }
            }
        }
    }

    /// Creates a graph version whose recall state sends `field` in `mode` and `other` set; returns the
    /// status and the stored recall state.
    static func recallFixture(
        _ client: TestServer.Client, org: String, token: String, field: String, other: (String, Any), mode: Mode
    ) async throws -> String {
        var recall: [String: Any] = ["type": "recall", "name": "remember", "next_state": "route", other.0: other.1]
        mode.apply(field, to: &recall)
        var graph = validGraph
        var states = graph["states"] as! [[String: Any]]
        states[0]["exit_conditions"] = [["description": "The user said hello", "next_state": "remember"]]
        states.append(recall)
        graph["states"] = states
        let id = try await client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine", token: token,
                                       json: ["state_machine_name": "recall-\(field)-\(mode)"]).object()["id"] as! String
        let created = try await client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine/\(id)/", token: token, json: graph)
        let versions = try await client.call(.get, "/v1/\(org)/organization/service_hierarchical_state_machine/\(id)/version", token: token).object()
        let stored = ((versions["versions"] as? [[String: Any]])?.first?["states"] as? [[String: Any]])?.first { $0["name"] as? String == "remember" }
        return "\(created.status.code) \(field)=\(stored.map { $0[field] is NSNull ? "null" : "\($0[field] ?? "missing")" } ?? "no state")"
    }

    /// Pins a version set whose `field` is in `mode` (meaning the latest version) and `other` is 1;
    /// returns the status and the stored version set.
    static func versionSetFixture(
        _ client: TestServer.Client, org: String, token: String, field: String, other: String, mode: Mode
    ) async throws -> String {
        let (_, _, service) = try await makeService(client, org: org, token: token, name: "pinned-\(field)-\(mode)")
        var versionSet: [String: Any] = [field: 1, other: 1, "llm_model_preferences": [String: Any]()]
        mode.apply(field, to: &versionSet)
        let pinned = try await client.call(.put, "/v1/\(org)/service/\(service)/version_sets/pinned/", token: token, json: ["version_set": versionSet])
        let services = try await client.call(.get, "/v1/\(org)/service/?id=\(service)", token: token).object()
        let sets = (services["services"] as? [[String: Any]])?.first?["version_sets"] as? [String: [String: Any]]
        let stored = sets?["pinned"]
        return "\(pinned.status.code) \(field)=\(stored.map { $0[field] is NSNull ? "null" : "\($0[field] ?? "missing")" } ?? "no set")"
    }
}
