import AmigoWire
import CompadreTesting
import Engine
import EngineTesting
import Foundation
import HTTPTypes
import Logging
import Platform
import Server
import Storage
import Synchronization
import Testing

/// Simulation unit test set runs through the API, with a scripted model playing both sides and a job
/// runner driven by the test.
@Suite("Simulations")
struct SimulationTests {
    /// What a run needs: a service, a boolean metric, a persona, a scenario, a unit test and a set.
    struct Fixture {
        var service: String
        var metric: String
        var persona: String
        var scenario: String
        var unitTest: String
        var set: String
    }

    func fixture(
        _ admin: SignedInAdmin, metricValue: [String: Any] = ["type": "boolean"], criterion: [String: Any] = ["type": "boolean", "expected_value": true],
        maxInteractions: Int = 3, runCount: Int = 1
    ) async throws -> Fixture {
        let org = admin.org
        func created(_ path: String, _ body: [String: Any], _ key: String) async throws -> String {
            let answer = try await admin.client.call(.post, "/v1/\(org)\(path)", token: admin.token, json: body)
            #expect(answer.status == .created, "\(path): \(answer.text)")
            return try answer.object()[key] as? String ?? ""
        }
        let service = try await makeService(admin.client, org: org, token: admin.token).service
        let metric = try await created("/metric/", [
            "name": "Resolved", "description": "Whether the user's problem was solved", "applied_to_services": [String](),
            "tags": [String: Any](), "metric_value": metricValue,
        ], "id")
        let persona = try await created("/simulation/persona/", [
            "name": "Frustrated customer", "role": "customer", "tags": ["tier": "gold"],
            "initial_version": [
                "background": "Ada was billed twice for the same month.", "user_models": ["Prefers short answers"],
                "nonsensitive_user_variables": ["plan": "gold"], "sensitive_user_variables": [String: Any](),
            ] as [String: Any],
        ], "simulation_persona_id")
        let scenario = try await created("/simulation/scenario/", [
            "name": "Double billing", "tags": [String: Any](),
            "initial_version": [
                "objective": "Get the second charge refunded", "instructions": "Be polite but firm",
                "initial_message_type": "user-message", "conversation_starts_at": NSNull(),
            ] as [String: Any],
        ], "simulation_scenario_id")
        let unitTest = try await created("/simulation/unit_test/", [
            "name": "Refund flow", "description": "The agent handles a double charge", "service_id": service,
            "service_version_set_name": "release", "persona_id": persona, "scenario_id": scenario, "max_interactions": maxInteractions,
            "success_criterions": [["name": "solved", "metric_id": metric, "criterion": criterion]], "tags": [String: Any](),
        ], "simulation_unit_test_id")
        let set = try await created("/simulation/unit_test_set/", [
            "name": "Billing", "description": NSNull(), "unit_test_runs": [["unit_test_id": unitTest, "run_count": runCount]],
            "tags": [String: Any](),
        ], "simulation_unit_test_set_id")
        return Fixture(service: service, metric: metric, persona: persona, scenario: scenario, unitTest: unitTest, set: set)
    }

    /// A runner of the simulation jobs whose clock jumps an hour at every reading (leases and back-offs pass at once).
    func runner(_ admin: SignedInAdmin) -> JobRunner {
        let hours = Mutex(0.0)
        return JobRunner(
            store: admin.server.api.store, handlers: admin.server.api.simulations.handlers,
            now: { Date().addingTimeInterval(hours.withLock { $0 += 3600; return $0 }) }, logger: Logger(label: "test")
        )
    }

    func startRun(_ admin: SignedInAdmin, _ set: String) async throws -> String {
        let answer = try await admin.client.call(.post, "/v1/\(admin.org)/simulation/unit_test_set_run/", token: admin.token, json: [
            "simulation_unit_test_set_id": set,
        ])
        #expect(answer.status == .created, "\(answer.text)")
        return try answer.object()["simulation_unit_test_set_run_id"] as? String ?? ""
    }

    func run(_ admin: SignedInAdmin, _ id: String) async throws -> [String: Any] {
        let listed = try await admin.client.call(.get, "/v1/\(admin.org)/simulation/unit_test_set_run/?id=\(id)", token: admin.token).object()
        return (listed["simulation_unit_test_set_runs"] as? [[String: Any]])?.first ?? [:]
    }

    static func turn(_ message: String, finished: Bool = false) -> ScriptedModel.Answer {
        .raw(#"{"finished": \#(finished), "message": "\#(message)"}"#)
    }

    static func judged(_ value: String) -> ScriptedModel.Answer {
        .raw(#"{"value": \#(value), "justification": "Judged from the transcript.", "messages": [1]}"#)
    }

    @Test func aRunPlaysEachRepetitionAsAConversationAndJudgesItByTheCriteria() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let fixture = try await fixture(admin, runCount: 2)
            let runID = try await startRun(admin, fixture.set)
            // A second run of the set while this one is unfinished: 409.
            let again = try await admin.client.call(.post, "/v1/\(admin.org)/simulation/unit_test_set_run/", token: admin.token, json: [
                "simulation_unit_test_set_id": fixture.set,
            ])
            #expect(again.status == .conflict)
            let started = try await run(admin, runID)
            #expect(started["is_completed"] as? Bool == false)
            #expect((started["unit_test_run_results"] as? [Any])?.first is NSNull)

            // Repetition 1: the user opens, the agent answers, the user is done; the judge says solved.
            model.script(.simulateUser, Self.turn("I was billed twice in March"), Self.turn("", finished: true))
            model.script(.evaluateMetric, Self.judged("true"))
            let runner = runner(admin)
            #expect(await runner.runNext())
            // Repetition 2: two exchanges; the judge says not solved.
            model.script(.simulateUser, Self.turn("Hello"), Self.turn("Please refund me"), Self.turn("", finished: true))
            model.script(.evaluateMetric, Self.judged("false"))
            #expect(await runner.runNext())
            // The archive.
            #expect(await runner.runNext())
            #expect(await runner.runNext() == false)

            let done = try await run(admin, runID)
            #expect(done["is_completed"] as? Bool == true)
            #expect(done["failed_metrics"] as? Bool == true)
            #expect(done["errored"] as? Bool == false)
            #expect(done["artifacts_generated"] as? Bool == true)
            let result = try #require((done["unit_test_run_results"] as? [[String: Any]])?.first)
            #expect(result["unit_test_id"] as? String == fixture.unitTest)
            #expect((result["run_errors"] as? [Any])?.count == 2)
            #expect((result["run_errors"] as? [Any])?.allSatisfy { $0 is NSNull } == true)
            let verdicts = try #require((result["metric_evaluation_results"] as? [[String: Any]])?.first)
            #expect(verdicts["metric_id"] as? String == fixture.metric)
            #expect((verdicts["results"] as? [[Any]])?.map { $0.last as? Bool } == [true, false])
            let spec = try #require((done["unit_test_run_specs"] as? [[String: Any]])?.first)
            #expect(spec["run_count"] as? Int == 2)
            #expect((spec["persona_version_info"] as? [Any])?.first as? String == fixture.persona)
            #expect((spec["metrics_to_evaluate"] as? [[String: Any]])?.first?["success_criterion_name"] as? String == "solved")

            // The simulated user played the persona in the scenario; the agent saw the persona's user model.
            let asked = model.requests(of: .simulateUser).first?.messages.map(\.content).joined(separator: "\n") ?? ""
            #expect(asked.contains("Ada was billed twice for the same month."))
            #expect(asked.contains("Get the second charge refunded"))
            #expect(model.requests(of: .simulateUser).count == 5)
            // Each repetition's conversation is finished, and not analysed.
            let results = try await admin.client.call(
                .get, "/v1/\(admin.org)/metric/metric_evaluation_result?simulation_unit_test_set_run_id=\(runID)", token: admin.token
            ).object()["metric_evaluation_results"] as? [[String: Any]] ?? []
            #expect(results.count == 2)
            #expect(results.allSatisfy { ($0["source"] as? [String: Any])?["type"] as? String == "simulation" })
            let conversations = try await admin.server.api.store.read { try await $0.conversations.list(orgID: admin.org, filter: .init(), sort: [], page: .init(limit: 10, offset: 0)) }
            #expect(conversations.items.count == 2)
            #expect(conversations.items.allSatisfy { $0.isFinished && $0.simulation?.runID == runID })
            for conversation in conversations.items {
                #expect(try await admin.server.api.store.read { try await $0.jobs.jobs(subject: conversation.id, orgID: admin.org) }.isEmpty)
            }

            // The archive, at a signed link.
            let link = try await admin.client.call(.get, "/v1/\(admin.org)/simulation/unit_test_set_run/\(runID)/artifacts/", token: admin.token)
            #expect(link.status == .ok, "\(link.text)")
            let url = try #require(URL(string: try link.object()["presigned_url"] as? String ?? ""))
            let archive = try await admin.client.call(.get, "\(url.path)?\(url.query ?? "")")
            #expect(archive.status == .ok)
            #expect(archive.body.count % 512 == 0)
            let names = Self.tarNames(archive.body)
            #expect(names.contains("run.json"))
            #expect(names.contains("unit_tests/1-\(fixture.unitTest)/run-2/transcript.json"))
            let tampered = try await admin.client.call(.get, "\(url.path)?\(url.query ?? "")0")
            #expect(tampered.status == .forbidden)
            // Done runs cannot be cancelled; a new run may start.
            #expect(try await admin.client.call(.delete, "/v1/\(admin.org)/simulation/unit_test_set_run/\(runID)/", token: admin.token).status == .conflict)
            _ = try await startRun(admin, fixture.set)
        }
    }

    @Test func aJudgeThatNeverFitsRecordsAnErrorAndANullResultDoesNotMeetTheCriterion() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let fixture = try await fixture(
                admin, metricValue: ["type": "numerical", "lower_bound": 1, "upper_bound": 5],
                criterion: ["type": "numerical", "verb": ">=", "threshold": 3], runCount: 2
            )
            let runID = try await startRun(admin, fixture.set)
            let runner = runner(admin)
            // Out of bounds three times: an error, never a value.
            model.script(.simulateUser, Self.turn("Hi"), Self.turn("", finished: true))
            model.script(.evaluateMetric, Self.judged("9"), Self.judged("0"), Self.judged("\"high\""))
            #expect(await runner.runNext())
            // Not applicable: no error of the judge, but the criterion is not met and the run says why.
            model.script(.simulateUser, Self.turn("Hi"), Self.turn("", finished: true))
            model.script(.evaluateMetric, Self.judged("null"))
            #expect(await runner.runNext())
            let done = try await run(admin, runID)
            #expect(done["is_completed"] as? Bool == true)
            #expect(done["failed_metrics"] as? Bool == true)
            #expect(done["errored"] as? Bool == true)
            let result = try #require((done["unit_test_run_results"] as? [[String: Any]])?.first)
            let errors = result["run_errors"] as? [String] ?? []
            #expect(errors.count == 2)
            #expect(errors.first?.contains("could not judge metric `Resolved`") == true)
            #expect(errors.last?.contains("not applicable") == true)
            // Only the null result was stored.
            let verdicts = (result["metric_evaluation_results"] as? [[String: Any]])?.first?["results"] as? [[Any]]
            #expect(verdicts?.map { $0.last as? Bool } == [false])
            let stored = try await admin.client.call(
                .get, "/v1/\(admin.org)/metric/metric_evaluation_result?simulation_unit_test_set_run_id=\(runID)", token: admin.token
            ).object()["metric_evaluation_results"] as? [[String: Any]] ?? []
            #expect(stored.count == 1)
            #expect(stored.first?["result"] is NSNull)
        }
    }

    @Test func aConversationStillGoingAfterMaxInteractionsFailsTheRun() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let fixture = try await fixture(admin, maxInteractions: 2)
            let runID = try await startRun(admin, fixture.set)
            model.script(.simulateUser, Self.turn("Hi"), Self.turn("Still there?"), Self.turn("Hello?"))
            model.script(.evaluateMetric, Self.judged("true"))
            #expect(await runner(admin).runNext())
            let done = try await run(admin, runID)
            #expect(done["failed_metrics"] as? Bool == true)
            #expect(done["errored"] as? Bool == false)
            let errors = (done["unit_test_run_results"] as? [[String: Any]])?.first?["run_errors"] as? [String]
            #expect(errors?.first?.contains("max_interactions (2)") == true)
            // Two interactions ran; the third turn was asked and not played.
            #expect(model.requests(of: .simulateUser).count == 3)
            #expect(model.requests(of: .evaluateMetric).count == 1)
        }
    }

    @Test func cancelStopsARunningRunAfterItsCurrentInteractionAndQueuedRepetitionsNeverStart() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let fixture = try await fixture(admin, runCount: 2)
            let runID = try await startRun(admin, fixture.set)
            let gate = ScriptedModel.Gate()
            model.script(.simulateUser, Self.turn("Hi"))
            model.script(.engageUser, .held(gate, ["Hello", " there"]))
            let runner = runner(admin)
            let first = Task { await runner.runNext() }
            await gate.waitUntilReached()
            let cancelled = try await admin.client.call(.delete, "/v1/\(admin.org)/simulation/unit_test_set_run/\(runID)/", token: admin.token)
            #expect(cancelled.status == .noContent, "\(cancelled.text)")
            gate.open()
            #expect(await first.value)
            // The queued repetition finds the run cancelled and plays nothing; then the archive of what ran.
            while await runner.runNext() {}
            #expect(model.requests(of: .simulateUser).count == 1)
            #expect(model.requests(of: .evaluateMetric).isEmpty)
            let done = try await run(admin, runID)
            #expect(done["is_completed"] as? Bool == true)
            #expect(done["errored"] as? Bool == true)
            #expect(done["artifacts_generated"] as? Bool == true)
            let errors = (done["unit_test_run_results"] as? [[String: Any]])?.first?["run_errors"] as? [String]
            #expect(errors?.count == 2)
            #expect(try await admin.client.call(.delete, "/v1/\(admin.org)/simulation/unit_test_set_run/\(runID)/", token: admin.token).status == .conflict)
            // The cancelled conversation was finished.
            let conversations = try await admin.server.api.store.read { try await $0.conversations.list(orgID: admin.org, filter: .init(), sort: [], page: .init(limit: 10, offset: 0)) }
            #expect(conversations.items.map(\.isFinished) == [true])
        }
    }

    @Test func aRepetitionWhoseRunnerDiedIsPlayedAgainByAnotherRunner() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let fixture = try await fixture(admin)
            let runID = try await startRun(admin, fixture.set)
            // A runner claims the repetition and dies: its lease is never renewed.
            let store = admin.server.api.store
            let claimed = try await store.write {
                try await $0.jobs.claim(owner: "dead-runner", kinds: [SimulationRuns.simulate], until: Date().addingTimeInterval(30), now: Date())
            }
            #expect(claimed != nil)
            model.script(.simulateUser, Self.turn("Hi"), Self.turn("", finished: true))
            model.script(.evaluateMetric, Self.judged("true"))
            // Another runner (an hour later: the lease has expired) plays it to the end.
            let runner = runner(admin)
            #expect(await runner.runNext())
            #expect(await runner.runNext())
            let done = try await run(admin, runID)
            #expect(done["is_completed"] as? Bool == true)
            #expect(done["failed_metrics"] as? Bool == false)
            #expect(done["artifacts_generated"] as? Bool == true)
        }
    }

    @Test func theLibrarysRulesKeepReferencesValid() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let fixture = try await fixture(admin)
            let org = admin.org
            func status(_ method: HTTPRequest.Method, _ path: String, _ body: [String: Any]? = nil) async throws -> HTTPResponse.Status {
                try await admin.client.call(method, "/v1/\(org)\(path)", token: admin.token, json: body).status
            }
            // In use: the metric, persona and scenario by the unit test; the unit test by the set.
            #expect(try await status(.delete, "/metric/\(fixture.metric)/") == .badRequest)
            #expect(try await status(.delete, "/simulation/persona/\(fixture.persona)/") == .badRequest)
            #expect(try await status(.delete, "/simulation/scenario/\(fixture.scenario)/") == .badRequest)
            #expect(try await status(.delete, "/simulation/unit_test/\(fixture.unitTest)/") == .badRequest)
            // A criterion of another type than its metric: 400; a missing persona: 404; a taken name: 409.
            var test: [String: Any] = [
                "name": "Another", "description": "d", "service_id": fixture.service, "service_version_set_name": "release",
                "persona_id": fixture.persona, "scenario_id": fixture.scenario, "max_interactions": 5,
                "success_criterions": [["name": "c", "metric_id": fixture.metric, "criterion": ["type": "numerical", "verb": ">", "threshold": 1]]],
                "tags": [String: Any](),
            ]
            #expect(try await status(.post, "/simulation/unit_test/", test) == .badRequest)
            test["success_criterions"] = [["name": "c", "metric_id": fixture.metric, "criterion": ["type": "boolean", "expected_value": false]]]
            test["persona_id"] = ObjectID.generate()
            #expect(try await status(.post, "/simulation/unit_test/", test) == .notFound)
            test["persona_id"] = fixture.persona
            test["service_version_set_name"] = "nope"
            #expect(try await status(.post, "/simulation/unit_test/", test) == .notFound)
            test["service_version_set_name"] = "release"
            test["name"] = "Refund flow"
            #expect(try await status(.post, "/simulation/unit_test/", test) == .conflict)
            test["max_interactions"] = 101
            #expect(try await status(.post, "/simulation/unit_test/", test) == .unprocessableContent)
            // Versions: the next number only.
            let version: [String: Any] = [
                "background": "Ada again.", "user_models": [String](), "nonsensitive_user_variables": [String: Any](), "sensitive_user_variables": [String: Any](),
            ]
            #expect(try await status(.post, "/simulation/persona/\(fixture.persona)/version/?version=3", version) == .badRequest)
            let created = try await admin.client.call(.post, "/v1/\(org)/simulation/persona/\(fixture.persona)/version/?version=2", token: admin.token, json: version)
            #expect(created.status == .created)
            #expect(try created.object()["version"] as? Int == 2)
            let latest = try await admin.client.call(.get, "/v1/\(org)/simulation/persona/\(fixture.persona)/version/?version=latest", token: admin.token).object()
            #expect((latest["simulation_persona_versions"] as? [[String: Any]])?.map { $0["background"] as? String } == ["Ada again."])
            // Once the set and the unit test are gone, everything can go.
            #expect(try await status(.delete, "/simulation/unit_test_set/\(fixture.set)") == .noContent)
            #expect(try await status(.delete, "/simulation/unit_test/\(fixture.unitTest)/") == .noContent)
            #expect(try await status(.delete, "/simulation/unit_test/\(fixture.unitTest)/") == .notFound)
            #expect(try await status(.delete, "/metric/\(fixture.metric)/") == .ok)
            #expect(try await status(.delete, "/simulation/persona/\(fixture.persona)/") == .noContent)
            // A deleted persona still reads by id, with is_deleted.
            let listed = try await admin.client.call(.get, "/v1/\(org)/simulation/persona/?id=\(fixture.persona)", token: admin.token).object()
            #expect((listed["simulation_personas"] as? [[String: Any]])?.first?["is_deleted"] as? Bool == true)
        }
    }

    /// The file names of a tar archive.
    static func tarNames(_ data: Data) -> [String] {
        var names: [String] = []
        var offset = 0
        let bytes = [UInt8](data)
        while offset + 512 <= bytes.count {
            let header = bytes[offset..<offset + 512]
            if header.allSatisfy({ $0 == 0 }) { break }
            func field(_ start: Int, _ length: Int) -> String {
                String(decoding: header[(offset + start)..<(offset + start + length)].prefix { $0 != 0 }, as: UTF8.self)
            }
            let prefix = field(345, 155)
            names.append(prefix.isEmpty ? field(0, 100) : "\(prefix)/\(field(0, 100))")
            let size = Int(field(124, 12).trimmingCharacters(in: .whitespaces), radix: 8) ?? 0
            offset += 512 + (size + 511) / 512 * 512
        }
        return names
    }
}

/// Replays of recorded conversations against another version set.
@Suite("Conversation replays")
struct ReplayTests {
    /// The test graph, starting in a new `welcome` state instead of `greet`.
    static var reroutedGraph: [String: Any] {
        var graph = validGraph
        graph["new_user_initial_state"] = "welcome"
        graph["returning_user_initial_state"] = "welcome"
        var states = graph["states"] as! [[String: Any]]
        states.append([
            "type": "action", "name": "welcome", "objective": "Welcome the user", "actions": ["Say welcome"],
            "intra_state_navigation_guidelines": [String](), "action_guidelines": [String](), "boundary_constraints": [String](),
            "exit_conditions": [["description": "The user answered", "next_state": "greet"]],
            "action_tool_call_specs": [String](), "exit_condition_tool_call_specs": [String](), "skip_active_memory_retrieval": false,
        ])
        graph["states"] = states
        return graph
    }

    func replay(_ admin: SignedInAdmin, _ conversation: String, versionSet: String) async throws -> [String: Any] {
        let created = try await admin.client.call(.post, "/v1/\(admin.org)/compadre/replay/", token: admin.token, json: [
            "conversation_id": conversation, "service_version_set_name": versionSet,
        ])
        #expect(created.status == .created, "\(created.text)")
        let id = try created.object()["replay_id"] as? String ?? ""
        let runner = JobRunner(store: admin.server.api.store, handlers: admin.server.api.simulations.handlers, logger: Logger(label: "test"))
        #expect(await runner.runNext())
        return try await admin.client.call(.get, "/v1/\(admin.org)/compadre/replay/\(id)/", token: admin.token).object()
    }

    @Test func aReplayOnTheSameVersionsFollowsTheSamePathAndOneOnARoutedGraphReportsWhereItLeaves() async throws {
        let model = ScriptedModel()
        try await SignedInAdmin.with(model: model) { admin in
            let org = admin.org
            let (_, graph, service) = try await makeService(admin.client, org: org, token: admin.token)
            let metric = try await admin.client.call(.post, "/v1/\(org)/metric/", token: admin.token, json: [
                "name": "Polite", "description": "Whether the agent was polite", "applied_to_services": [service], "tags": [String: Any](),
                "metric_value": ["type": "boolean"],
            ]).object()["id"] as? String ?? ""
            // The recorded conversation: the agent's greeting and two exchanges, on graph version 1.
            let created = try await admin.client.call(.post, "/v1/\(org)/conversation/?response_format=text", token: admin.token, json: ["service_id": service])
            let conversation = try created.events().first?["conversation_id"] as? String ?? ""
            for text in ["My invoice is wrong", "Thanks"] {
                #expect(try await admin.client.interact(org: org, conversation: conversation, token: admin.token, text: text).status == .ok)
            }
            // Version 2 routes differently; `stable` keeps version 1, `next` takes version 2.
            let second = try await admin.client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine/\(graph)/", token: admin.token, json: Self.reroutedGraph)
            #expect(second.status == .created, "\(second.text)")
            for (name, version) in [("stable", 1), ("next", 2)] {
                let pin: [String: Any] = ["version_set": ["agent_version_number": 1, "service_hierarchical_state_machine_version_number": version, "llm_model_preferences": [String: Any]()]]
                #expect(try await admin.client.call(.put, "/v1/\(org)/service/\(service)/version_sets/\(name)/", token: admin.token, json: pin).status == .noContent)
            }

            model.script(.evaluateMetric, ScriptedModel.Answer.raw(#"{"value": true, "justification": "Kind.", "messages": [1]}"#))
            model.script(.evaluateMetric, ScriptedModel.Answer.raw(#"{"value": true, "justification": "Kind.", "messages": [1]}"#))
            let same = try await replay(admin, conversation, versionSet: "stable")
            #expect(same["status"] as? String == "completed", "\(same)")
            #expect(same["first_divergence"] is NSNull)
            let steps = same["steps"] as? [[String: Any]] ?? []
            #expect(steps.count == 3)
            #expect(steps.allSatisfy { $0["diverged"] as? Bool == false })
            #expect(steps.map { $0["input"] as? [String] } == [[], ["user: My invoice is wrong"], ["user: Thanks"]])
            let metrics = same["metrics"] as? [[String: Any]] ?? []
            #expect(metrics.map { $0["metric_id"] as? String } == [metric])
            #expect(metrics.first?["before"] as? Bool == true && metrics.first?["after"] as? Bool == true)

            model.script(.evaluateMetric, ScriptedModel.Answer.raw(#"{"value": true, "justification": "Kind.", "messages": [1]}"#))
            model.script(.evaluateMetric, ScriptedModel.Answer.raw(#"{"value": false, "justification": "Curt.", "messages": [1]}"#))
            let moved = try await replay(admin, conversation, versionSet: "next")
            #expect(moved["status"] as? String == "completed", "\(moved)")
            #expect(moved["first_divergence"] as? Int == 0)
            let first = (moved["steps"] as? [[String: Any]])?.first
            #expect((first?["original"] as? [String: Any])?["states"] as? [String] == ["greet"])
            #expect((first?["replay"] as? [String: Any])?["states"] as? [String] == ["welcome"])
            #expect((moved["metrics"] as? [[String: Any]])?.first?["after"] as? Bool == false)

            // The replays ran under synthetic users, finished and not analysed; the original is untouched.
            let store = admin.server.api.store
            let conversations = try await store.read { try await $0.conversations.list(orgID: org, filter: .init(), sort: [], page: .init(limit: 10, offset: 0)) }.items
            let replays = conversations.filter { $0.id != conversation }
            #expect(replays.count == 2)
            #expect(replays.allSatisfy { $0.isFinished && $0.simulation != nil && $0.userID != admin.credentials.userID })
            #expect(conversations.first { $0.id == conversation }?.isFinished == false)
            for replay in replays { #expect(try await store.read { try await $0.jobs.jobs(subject: replay.id, orgID: org) }.isEmpty) }
            // Nothing of a replay is stored as a metric result.
            let stored = try await admin.client.call(.get, "/v1/\(org)/metric/metric_evaluation_result", token: admin.token).object()
            #expect((stored["metric_evaluation_results"] as? [Any])?.isEmpty == true)
            // A version set the service lacks: 404; a conversation of another id: 404.
            let missing = try await admin.client.call(.post, "/v1/\(org)/compadre/replay/", token: admin.token, json: [
                "conversation_id": conversation, "service_version_set_name": "nope",
            ])
            #expect(missing.status == .notFound)
            let unknown = try await admin.client.call(.post, "/v1/\(org)/compadre/replay/", token: admin.token, json: [
                "conversation_id": ObjectID.generate(), "service_version_set_name": "stable",
            ])
            #expect(unknown.status == .notFound)
        }
    }

    @Test func theReportReadsAsADiff() throws {
        let info = VersionSetInfo(name: "release", agentVersionInfo: VersionInfo(id: "a", version: 1), serviceHierarchicalStateMachineVersionInfo: VersionInfo(id: "g", version: 1))
        var report = ReplayReport(
            id: "r", orgID: "o", createdAt: Date(), creator: UserInfo(orgID: "o", userID: "u"), conversationID: "c", serviceID: "s",
            original: info, replayed: VersionSetInfo(name: "next", agentVersionInfo: info.agentVersionInfo, serviceHierarchicalStateMachineVersionInfo: VersionInfo(id: "g", version: 2))
        )
        report.status = .completed
        report.steps = [
            ReplayStep(index: 0, input: [], original: ReplaySide(states: ["greet"], agentMessage: "Hi"), replay: ReplaySide(states: ["greet"], agentMessage: "Hi")),
            ReplayStep(index: 1, input: ["user: refund"], original: ReplaySide(states: ["greet", "route"], agentMessage: "Sure"), replay: ReplaySide(states: ["greet", "billing"], agentMessage: "Billing here")),
        ]
        report.firstDivergence = 1
        report.metrics = [ReplayMetric(metricID: "m", name: "Resolved", before: .bool(true), after: .bool(false), error: nil)]
        let text = report.summary
        #expect(text.contains("First divergence at interaction 2: greet → route became greet → billing"))
        #expect(text.contains("= Interaction 1"))
        #expect(text.contains("≠ Interaction 2"))
        #expect(text.contains("Resolved: true → false"))
    }
}
