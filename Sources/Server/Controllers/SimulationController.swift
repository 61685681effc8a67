import AmigoWire
import Foundation
import Hummingbird
import NIOCore
import Platform
import Storage

/// Simulations: personas, scenarios, unit tests, unit test sets and their runs, under
/// `/v1/{organization}/simulation/` (28 operations), and the download of a run's artifacts at a signed link.
struct SimulationController {
    let api: API

    static func permission(_ verb: String, _ kind: String) -> String { "Simulation:\(verb)Simulation\(kind)" }
    static let createRun = "Simulation:CreateSimulationUnitTestSetRun"
    static let getRun = "Simulation:GetSimulationUnitTestSetRun"
    static let cancelRun = "Simulation:CancelSimulationUnitTestSetRun"

    func addRoutes(to router: Router<AppContext>) {
        let api = api
        let library = SimulationLibrary(store: api.store)
        let base = "/v1/:organization/simulation"
        addPersonaRoutes(to: router, library: library, base: base)
        addScenarioRoutes(to: router, library: library, base: base)
        addUnitTestRoutes(to: router, library: library, base: base)
        addSetRoutes(to: router, library: library, base: base)
        addRunRoutes(to: router, base: base)
        addReplayRoutes(to: router)
    }

    // MARK: - Replays (Compadre's own)

    private func addReplayRoutes(to router: Router<AppContext>) {
        let api = api
        let replays = api.simulations.replays

        router.operation(.post, "/v1/:organization/compadre/replay/", "create-conversation-replay", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.createRun)
            let body = try await call.body(CreateReplayRequest.self)
            return try .json(CreateReplayResponse(replayID: try await replays.create(body, caller: caller)), status: .created)
        }

        router.operation(.get, "/v1/:organization/compadre/replay/:replay_id/", "get-conversation-replay", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.getRun)
            return try .json(try await replays.get(try call.objectID("replay_id"), caller: caller))
        }
    }

    // MARK: - Personas

    private func addPersonaRoutes(to router: Router<AppContext>, library: SimulationLibrary, base: String) {
        let api = api
        let get = Self.permission("Get", "Persona"), modify = Self.permission("Modify", "Persona")

        router.operation(.post, "\(base)/persona/", "create-simulation-persona", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.permission("Create", "Persona"))
            try caller.require(modify)
            let body = try await call.body(CreateSimulationPersonaRequest.self)
            return try .json(["simulation_persona_id": try await library.createPersona(body, caller: caller)], status: .created)
        }

        router.operation(.get, "\(base)/persona/", "get-simulation-personas", api: api) { call in
            let caller = try call.caller
            let query = call.query
            var filter = try Self.filter(query)
            filter.ids = try query.objectIDs("id")
            filter.isDeleted = try query.bool("is_deleted")
            filter.roles = query.all("role")
            let sort = try Self.sort(query)
            let page = try query.page(defaultLimit: 50, maxLimit: 50, minLimit: 0)
            guard caller.can(get) else { return try .json(Self.empty(SimulationPersona.self, "simulation_personas")) }
            return try .json(try await library.personas(orgID: call.orgID, filter: filter, sort: sort, page: PageRequest(limit: page.limit, offset: page.offset)))
        }

        router.operation(.get, "\(base)/persona/search", "search-simulation-personas", api: api) { call in
            let caller = try call.caller
            let query = call.query
            let text = try query.required("query", nonBlank: true)
            var filter = try Self.filter(query)
            filter.roles = query.all("role")
            let found = caller.can(get) ? try await library.searchPersonas(text, orgID: call.orgID, filter: filter) : []
            return try .json(["simulation_personas": found])
        }

        router.operation(.post, "\(base)/persona/:simulation_persona_id/", "update-simulation-persona", api: api) { call in
            let caller = try call.caller
            try caller.require(modify)
            let id = try call.objectID("simulation_persona_id")
            try await library.updatePersona(id, try await call.body(UpdateSimulationTagsRequest.self), caller: caller)
            return .empty(.noContent)
        }

        router.operation(.delete, "\(base)/persona/:simulation_persona_id/", "delete-simulation-persona", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.permission("Delete", "Persona"))
            try await library.deletePersona(try call.objectID("simulation_persona_id"), caller: caller)
            return .empty(.noContent)
        }

        router.operation(.post, "\(base)/persona/:simulation_persona_id/version/", "create-simulation-persona-version", api: api) { call in
            let caller = try call.caller
            try caller.require(modify)
            let id = try call.objectID("simulation_persona_id")
            let expected = try Self.expectedVersion(call.query)
            let body = try await call.body(SimulationPersonaVersionInput.self)
            return try .json(["version": try await library.createPersonaVersion(of: id, body, expected: expected, caller: caller)], status: .created)
        }

        router.operation(.get, "\(base)/persona/:simulation_persona_id/version/", "get-simulation-persona-versions", api: api) { call in
            let caller = try call.caller
            try caller.require(get)
            let id = try call.objectID("simulation_persona_id")
            let (selector, ascending, page) = try call.query.versionListing()
            let result = try await library.personaVersions(
                of: id, orgID: call.orgID, selecting: { selector.range(latest: $0) }, ascending: ascending, page: page
            )
            return try .json(Page(itemsKey: "simulation_persona_versions", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }
    }

    // MARK: - Scenarios

    private func addScenarioRoutes(to router: Router<AppContext>, library: SimulationLibrary, base: String) {
        let api = api
        let get = Self.permission("Get", "Scenario"), modify = Self.permission("Modify", "Scenario")

        router.operation(.post, "\(base)/scenario/", "create-simulation-scenario", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.permission("Create", "Scenario"))
            try caller.require(modify)
            let body = try await call.body(CreateSimulationScenarioRequest.self)
            return try .json(["simulation_scenario_id": try await library.createScenario(body, caller: caller)], status: .created)
        }

        router.operation(.get, "\(base)/scenario/", "get-simulation-scenarios", api: api) { call in
            let caller = try call.caller
            let query = call.query
            var filter = try Self.filter(query)
            filter.ids = try query.objectIDs("id")
            filter.isDeleted = try query.bool("is_deleted")
            let sort = try Self.sort(query)
            let page = try query.page(defaultLimit: 50, maxLimit: 200, minLimit: 0)
            guard caller.can(get) else { return try .json(Self.empty(SimulationScenario.self, "simulation_scenarios")) }
            return try .json(try await library.scenarios(orgID: call.orgID, filter: filter, sort: sort, page: PageRequest(limit: page.limit, offset: page.offset)))
        }

        router.operation(.get, "\(base)/scenario/search", "search-simulation-scenarios", api: api) { call in
            let caller = try call.caller
            let query = call.query
            let text = try query.required("query", nonBlank: true)
            let filter = try Self.filter(query)
            let found = caller.can(get) ? try await library.searchScenarios(text, orgID: call.orgID, filter: filter) : []
            return try .json(["simulation_scenarios": found])
        }

        router.operation(.post, "\(base)/scenario/:simulation_scenario_id/", "update-simulation-scenario", api: api) { call in
            let caller = try call.caller
            try caller.require(modify)
            let id = try call.objectID("simulation_scenario_id")
            try await library.updateScenario(id, try await call.body(UpdateSimulationTagsRequest.self), caller: caller)
            return .empty(.noContent)
        }

        router.operation(.delete, "\(base)/scenario/:simulation_scenario_id/", "delete-simulation-scenario", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.permission("Delete", "Scenario"))
            try await library.deleteScenario(try call.objectID("simulation_scenario_id"), caller: caller)
            return .empty(.noContent)
        }

        router.operation(.post, "\(base)/scenario/:simulation_scenario_id/version/", "create-simulation-scenario-version", api: api) { call in
            let caller = try call.caller
            try caller.require(modify)
            let id = try call.objectID("simulation_scenario_id")
            let expected = try Self.expectedVersion(call.query)
            let body = try await call.body(SimulationScenarioVersionInput.self)
            return try .json(["version": try await library.createScenarioVersion(of: id, body, expected: expected, caller: caller)], status: .created)
        }

        router.operation(.get, "\(base)/scenario/:simulation_scenario_id/version/", "get-simulation-scenario-versions", api: api) { call in
            let caller = try call.caller
            try caller.require(get)
            let id = try call.objectID("simulation_scenario_id")
            let (selector, ascending, page) = try call.query.versionListing()
            let result = try await library.scenarioVersions(
                of: id, orgID: call.orgID, selecting: { selector.range(latest: $0) }, ascending: ascending, page: page
            )
            return try .json(Page(itemsKey: "simulation_scenario_versions", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }
    }

    // MARK: - Unit tests

    private func addUnitTestRoutes(to router: Router<AppContext>, library: SimulationLibrary, base: String) {
        let api = api
        let get = Self.permission("Get", "UnitTest")

        router.operation(.post, "\(base)/unit_test/", "create-simulation-unit-test", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.permission("Create", "UnitTest"))
            let body = try await call.body(CreateSimulationUnitTestRequest.self)
            return try .json(["simulation_unit_test_id": try await library.createUnitTest(body, caller: caller)], status: .created)
        }

        router.operation(.get, "\(base)/unit_test/", "get-simulation-unit-tests", api: api) { call in
            let caller = try call.caller
            let query = call.query
            var filter = try Self.unitTestFilter(query)
            filter.ids = try query.objectIDs("id")
            filter.isDeleted = try query.bool("is_deleted")
            let sort = try Self.sort(query)
            let page = try query.page(defaultLimit: 50, maxLimit: 500, minLimit: 0)
            guard caller.can(get) else { return try .json(Self.empty(SimulationUnitTest.self, "simulation_unit_tests")) }
            return try .json(try await library.unitTests(orgID: call.orgID, filter: filter, sort: sort, page: PageRequest(limit: page.limit, offset: page.offset)))
        }

        router.operation(.get, "\(base)/unit_test/search/", "search-simulation-unit-tests", api: api) { call in
            let caller = try call.caller
            let query = call.query
            let text = try query.required("query", nonBlank: true)
            let filter = try Self.unitTestFilter(query)
            let found = caller.can(get) ? try await library.searchUnitTests(text, orgID: call.orgID, filter: filter) : []
            return try .json(["simulation_unit_tests": found.map(\.searchResult)])
        }

        router.operation(.post, "\(base)/unit_test/:simulation_unit_test_id/", "update-simulation-unit-test", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.permission("Modify", "UnitTest"))
            let id = try call.objectID("simulation_unit_test_id")
            try await library.updateUnitTest(id, try await call.body(UpdateSimulationUnitTestRequest.self), caller: caller)
            return .empty(.noContent)
        }

        router.operation(.delete, "\(base)/unit_test/:simulation_unit_test_id/", "delete-simulation-unit-test", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.permission("Delete", "UnitTest"))
            try await library.deleteUnitTest(try call.objectID("simulation_unit_test_id"), caller: caller)
            return .empty(.noContent)
        }
    }

    // MARK: - Unit test sets

    private func addSetRoutes(to router: Router<AppContext>, library: SimulationLibrary, base: String) {
        let api = api
        let get = Self.permission("Get", "UnitTestSet")

        router.operation(.post, "\(base)/unit_test_set/", "create-simulation-unit-test-set", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.permission("Create", "UnitTestSet"))
            let body = try await call.body(CreateSimulationUnitTestSetRequest.self)
            return try .json(["simulation_unit_test_set_id": try await library.createUnitTestSet(body, caller: caller)], status: .created)
        }

        router.operation(.get, "\(base)/unit_test_set/", "get-simulation-unit-test-sets", api: api) { call in
            let caller = try call.caller
            let query = call.query
            var filter = try Self.filter(query)
            filter.ids = try query.objectIDs("id")
            filter.isDeleted = try query.bool("is_deleted")
            filter.unitTestIDs = try query.objectIDs("unit_test_id")
            let sort = try Self.sort(query)
            let page = try query.page(defaultLimit: 20, maxLimit: 20, minLimit: 0)
            guard caller.can(get) else { return try .json(Self.empty(SimulationUnitTestSet.self, "simulation_unit_test_sets")) }
            return try .json(try await library.unitTestSets(orgID: call.orgID, filter: filter, sort: sort, page: PageRequest(limit: page.limit, offset: page.offset)))
        }

        router.operation(.get, "\(base)/unit_test_set/search/", "search-simulation-unit-test-sets", api: api) { call in
            let caller = try call.caller
            let query = call.query
            let text = try query.required("query", nonBlank: true)
            var filter = try Self.filter(query)
            filter.unitTestIDs = try query.objectIDs("unit_test_id")
            let found = caller.can(get) ? try await library.searchUnitTestSets(text, orgID: call.orgID, filter: filter) : []
            return try .json(["simulation_unit_test_sets": found.map(\.searchResult)])
        }

        router.operation(.post, "\(base)/unit_test_set/:simulation_unit_test_set_id", "update-simulation-unit-test-set", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.permission("Modify", "UnitTestSet"))
            let id = try call.objectID("simulation_unit_test_set_id")
            try await library.updateUnitTestSet(id, try await call.body(UpdateSimulationUnitTestSetRequest.self), caller: caller)
            return .empty(.noContent)
        }

        router.operation(.delete, "\(base)/unit_test_set/:simulation_unit_test_set_id", "delete-simulation-unit-test-set", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.permission("Delete", "UnitTestSet"))
            try await library.deleteUnitTestSet(try call.objectID("simulation_unit_test_set_id"), caller: caller)
            return .empty(.noContent)
        }
    }

    // MARK: - Runs

    static func artifactPath(org: String, run: String) -> String {
        "/media/simulation/\(org)/\(run)/artifacts.tar"
    }

    private func addRunRoutes(to router: Router<AppContext>, base: String) {
        let api = api
        let runs = api.simulations

        router.operation(.post, "\(base)/unit_test_set_run/", "create-simulation-unit-test-set-run", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.createRun)
            let body = try await call.body(CreateSimulationUnitTestSetRunRequest.self)
            return try .json(["simulation_unit_test_set_run_id": try await runs.create(setID: body.setID, caller: caller)], status: .created)
        }

        router.operation(.get, "\(base)/unit_test_set_run/", "get-simulation-unit-test-set-runs", api: api) { call in
            let caller = try call.caller
            let query = call.query
            var filter = SimulationRunFilter()
            filter.ids = try query.objectIDs("id")
            filter.creators = query.all("creator")
            filter.setIDs = try query.objectIDs("simulation_unit_test_set_id")
            filter.isCompleted = try query.bool("is_completed")
            filter.failedMetrics = try query.bool("failed_metrics")
            filter.errored = try query.bool("errored")
            filter.createdAfter = try query.date("created_after")
            filter.createdBefore = try query.date("created_before")
            let sort = try query.sort(allowed: ["created_at": "created_at"])
            let page = try query.page(defaultLimit: 50, maxLimit: 50, minLimit: 0)
            guard caller.can(Self.getRun) else { return try .json(Self.empty(SimulationUnitTestSetRun.self, "simulation_unit_test_set_runs")) }
            return try .json(try await runs.list(
                orgID: call.orgID, filter: filter, ascending: sort.first?.ascending ?? false, page: PageRequest(limit: page.limit, offset: page.offset),
                seesSets: caller.can(Self.permission("Get", "UnitTestSet")), seesTests: caller.can(Self.permission("Get", "UnitTest"))
            ))
        }

        router.operation(.delete, "\(base)/unit_test_set_run/:simulation_unit_test_set_run_id/", "cancel-simulation-unit-test-set-run", api: api) { call in
            let caller = try call.caller
            try caller.require(Self.cancelRun)
            try await runs.cancel(runID: try call.objectID("simulation_unit_test_set_run_id"), caller: caller)
            return .empty(.noContent)
        }

        router.operation(
            .get, "\(base)/unit_test_set_run/:simulation_unit_test_set_run_id/artifacts/", "get-simulation-unit-test-set-run-artifacts", api: api
        ) { call in
            let caller = try call.caller
            try caller.require(Self.getRun)
            try caller.require("Organization:GetServiceHierarchicalStateMachine")
            let runID = try call.objectID("simulation_unit_test_set_run_id")
            try await runs.requireArtifacts(runID: runID, orgID: call.orgID)
            // A link Compadre serves itself (there is no object store), good for an hour.
            let expires = Date().addingTimeInterval(3600)
            let path = Self.artifactPath(org: call.orgID, run: runID)
            let url = "\(MediaRoutes.origin(of: call.request))\(path)?\(api.links.query(path: path, expires: expires))"
            return try .json(SimulationArtifactsLink(presignedURL: url, urlExpiresAt: expires))
        }

        router.get("/media/simulation/:organization/:run_id/artifacts.tar") { request, context -> Response in
            let query = request.uri.queryParameters
            guard api.links.allows(
                path: request.uri.path, expires: query["expires"].map(String.init), signature: query["signature"].map(String.init), now: Date()
            ),
                let org = context.parameters.get("organization"), let runID = context.parameters.get("run_id")
            else {
                throw PlatformError.forbidden("The link is not valid, or it has expired: ask for the run's artifacts again.")
            }
            guard let archive = try await runs.artifacts(runID: runID, orgID: org) else {
                throw PlatformError.notFound("The artifacts of this run are no longer stored.")
            }
            return Response(
                status: .ok,
                headers: [
                    .contentType: archive.contentType, .cacheControl: "private, max-age=3600",
                    .contentDisposition: "attachment; filename=\"simulation-run-\(runID).tar\"",
                ],
                body: .init(byteBuffer: ByteBuffer(bytes: archive.data))
            )
        }
    }

    // MARK: - Helpers

    static func empty<Item>(_ type: Item.Type, _ key: String) -> Page<Item> {
        Page(itemsKey: key, items: [], hasMore: false, continuationToken: nil, filterValues: nil)
    }

    /// The filters every simulation listing and search has.
    static func filter(_ query: Query) throws -> SimulationFilter {
        var filter = SimulationFilter()
        filter.creators = query.all("creator")
        filter.tags = try query.keyValues("tag").map { TagMatch(key: $0.key, value: $0.value) }
        return filter
    }

    static func unitTestFilter(_ query: Query) throws -> SimulationFilter {
        var filter = try Self.filter(query)
        filter.serviceIDs = try query.objectIDs("service_id")
        filter.personaIDs = try query.objectIDs("persona_id")
        filter.scenarioIDs = try query.objectIDs("scenario_id")
        filter.metricIDs = try query.objectIDs("metric_id")
        return filter
    }

    static func sort(_ query: Query) throws -> [SortKey] {
        try query.sort(allowed: ["updated_at": "updated_at"]).map { SortKey(column: $0.column, ascending: $0.ascending) }
    }

    /// `?version=N` of a version creation: the number the caller expects to create.
    static func expectedVersion(_ query: Query) throws -> Int? {
        query.string("version") == nil ? nil : try query.int("version", default: 0, range: 1...Int(Int32.max))
    }
}
