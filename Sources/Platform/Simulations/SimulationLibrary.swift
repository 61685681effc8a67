import AmigoWire
import Foundation
import Storage

/// What simulations are made of: personas and scenarios (with numbered versions), unit tests and unit
/// test sets, with their rules.
///
/// Rules:
/// - A name is unique among the documents of its kind that are not deleted (409).
/// - Personas, scenarios and unit tests are deleted softly: their ids still read, they cannot change or
///   be used in anything new. A persona or scenario used by a unit test that is not deleted cannot be
///   deleted (400), nor a unit test used by a set that is not deleted (400), nor a metric used by a unit
///   test (400, in ``ConversationMetrics``). A deleted set is gone from listings; its runs go on.
/// - A unit test names things that exist and are not deleted (404): the service and its version set,
///   the persona, the scenario, each criterion's metric; a criterion's type is its metric's type (400).
/// - A new version is the next number; a caller that names the number it expects gets 400 otherwise.
public struct SimulationLibrary: Sendable {
    let store: Store
    let now: @Sendable () -> Date

    public init(store: Store, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.now = now
    }

    // MARK: - Personas

    public func createPersona(_ request: CreateSimulationPersonaRequest, caller: Principal) async throws -> String {
        let orgID = caller.orgID
        let date = now()
        let persona = SimulationPersona(
            id: ObjectID.generate(now: date), name: request.name.stripped, role: request.role.stripped, tags: request.tags.strippedTags,
            createdAt: date, creator: caller.userInfo
        )
        let version = SimulationPersonaVersion(
            id: ObjectID.generate(now: date), orgID: orgID, createdAt: date, personaID: persona.id, version: 1,
            body: request.initialVersion, creator: caller.userInfo
        )
        try await store.write { repositories in
            let personas = repositories.simulations.personas
            try await repositories.serialize("simulation-persona-names/\(orgID)")
            if try await personas.live(named: persona.name, orgID: orgID) != nil {
                throw PlatformError.conflict("A simulation persona named `\(persona.name)` already exists.")
            }
            try await personas.insert(persona, id: persona.id, orgID: orgID, name: persona.name)
            try await repositories.simulations.personaVersions.insert(version, number: 1, of: persona.id, orgID: orgID)
        }
        return persona.id
    }

    public func updatePersona(_ id: String, _ request: UpdateSimulationTagsRequest, caller: Principal) async throws {
        try await store.write { repositories in
            var persona = try await Self.livePersona(id, orgID: caller.orgID, in: repositories)
            if let tags = request.tags { persona.tags = tags.strippedTags }
            persona.updatedAt = now()
            persona.updatedBy = caller.userInfo
            try await repositories.simulations.personas.update(persona, id: id, orgID: caller.orgID, name: persona.name, isDeleted: false)
        }
    }

    public func deletePersona(_ id: String, caller: Principal) async throws {
        try await store.write { repositories in
            var persona = try await Self.livePersona(id, orgID: caller.orgID, in: repositories)
            let tests = try await repositories.simulations.unitTests.all(orgID: caller.orgID)
            if let test = tests.first(where: { !$0.isDeleted && $0.personaID == id }) {
                throw PlatformError.badRequest("The simulation persona is used by the unit test `\(test.name)`.")
            }
            persona.isDeleted = true
            persona.updatedAt = now()
            persona.updatedBy = caller.userInfo
            try await repositories.simulations.personas.update(persona, id: id, orgID: caller.orgID, name: persona.name, isDeleted: true)
        }
    }

    public func createPersonaVersion(of id: String, _ body: SimulationPersonaVersionInput, expected: Int?, caller: Principal) async throws -> Int {
        let orgID = caller.orgID
        return try await store.write { repositories in
            _ = try await Self.livePersona(id, orgID: orgID, in: repositories)
            try await repositories.serialize("simulation-persona-versions/\(id)")
            let versions = repositories.simulations.personaVersions
            let next = (try await versions.latestNumber(of: id, orgID: orgID) ?? 0) + 1
            if let expected, expected != next {
                throw PlatformError.badRequest("Version \(expected) is not the next version of this simulation persona (expected \(next)).")
            }
            let date = now()
            let version = SimulationPersonaVersion(
                id: ObjectID.generate(now: date), orgID: orgID, createdAt: date, personaID: id, version: next, body: body, creator: caller.userInfo
            )
            try await versions.insert(version, number: next, of: id, orgID: orgID)
            return next
        }
    }

    /// The persona's versions in `range`; 404 for a persona that does not exist.
    public func personaVersions(
        of id: String, orgID: String, selecting range: @escaping @Sendable (_ latest: Int?) -> ClosedRange<Int>?, ascending: Bool, page: PageRequest
    ) async throws -> PageResult<SimulationPersonaVersion> {
        try await store.read { repositories in
            guard try await repositories.simulations.personas.get(id: id, orgID: orgID) != nil else {
                throw PlatformError.notFound("Simulation persona `\(id)` does not exist.")
            }
            let versions = repositories.simulations.personaVersions
            let latest = try await versions.latestNumber(of: id, orgID: orgID)
            return try await versions.versions(of: id, orgID: orgID, range: range(latest), ascending: ascending, page: page)
        }
    }

    public func personas(orgID: String, filter: SimulationFilter, sort: [SortKey], page: PageRequest) async throws -> Page<SimulationPersona> {
        let personas = try await store.read { try await $0.simulations.personas.all(orgID: orgID) }
            .filter { filter.matches(id: $0.id, isDeleted: $0.isDeleted, creator: $0.creator, tags: $0.tags.tagList) && filter.matches(role: $0.role) }
        let result = PageResult(all: SimulationFilter.sorted(personas, by: sort, updatedAt: \.updatedAt), page: page)
        let values = page.offset != 0 ? nil : PersonaFilterValues(
            creators: personas.map(\.creator).uniqued, tags: Set(personas.flatMap(\.tags.keys)).sorted(), roles: Set(personas.map(\.role)).sorted()
        )
        return Page(itemsKey: "simulation_personas", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken, filterValues: values)
    }

    /// Personas (not deleted) whose name or latest background contain the query's words, best first, at most 50.
    public func searchPersonas(_ query: String, orgID: String, filter: SimulationFilter) async throws -> [SimulationPersona] {
        let terms = SearchText.words(query)
        guard !terms.isEmpty else { return [] }
        let found = try await store.read { repositories in
            var found: [(SimulationPersona, String)] = []
            for persona in try await repositories.simulations.personas.all(orgID: orgID)
            where !persona.isDeleted && filter.matches(id: persona.id, isDeleted: false, creator: persona.creator, tags: persona.tags.tagList)
                && filter.matches(role: persona.role)
            {
                let background = try await repositories.simulations.personaVersions.latest(of: persona.id, orgID: orgID)?.background ?? ""
                found.append((persona, background))
            }
            return found
        }
        return SimulationFilter.best(found.map { ($0.0, SearchText.score(terms, name: $0.0.name, other: $0.1)) }, updatedAt: \.updatedAt)
    }

    static func livePersona(_ id: String, orgID: String, in repositories: Repositories) async throws -> SimulationPersona {
        guard let persona = try await repositories.simulations.personas.get(id: id, orgID: orgID), !persona.isDeleted else {
            throw PlatformError.notFound("Simulation persona `\(id)` does not exist.")
        }
        return persona
    }

    // MARK: - Scenarios

    public func createScenario(_ request: CreateSimulationScenarioRequest, caller: Principal) async throws -> String {
        let orgID = caller.orgID
        let date = now()
        let scenario = SimulationScenario(
            id: ObjectID.generate(now: date), name: request.name.stripped, tags: request.tags.strippedTags, createdAt: date, creator: caller.userInfo
        )
        let version = SimulationScenarioVersion(
            id: ObjectID.generate(now: date), orgID: orgID, createdAt: date, scenarioID: scenario.id, version: 1,
            body: request.initialVersion, creator: caller.userInfo
        )
        try await store.write { repositories in
            let scenarios = repositories.simulations.scenarios
            try await repositories.serialize("simulation-scenario-names/\(orgID)")
            if try await scenarios.live(named: scenario.name, orgID: orgID) != nil {
                throw PlatformError.conflict("A simulation scenario named `\(scenario.name)` already exists.")
            }
            try await scenarios.insert(scenario, id: scenario.id, orgID: orgID, name: scenario.name)
            try await repositories.simulations.scenarioVersions.insert(version, number: 1, of: scenario.id, orgID: orgID)
        }
        return scenario.id
    }

    public func updateScenario(_ id: String, _ request: UpdateSimulationTagsRequest, caller: Principal) async throws {
        try await store.write { repositories in
            var scenario = try await Self.liveScenario(id, orgID: caller.orgID, in: repositories)
            if let tags = request.tags { scenario.tags = tags.strippedTags }
            scenario.updatedAt = now()
            scenario.updatedBy = caller.userInfo
            try await repositories.simulations.scenarios.update(scenario, id: id, orgID: caller.orgID, name: scenario.name, isDeleted: false)
        }
    }

    public func deleteScenario(_ id: String, caller: Principal) async throws {
        try await store.write { repositories in
            var scenario = try await Self.liveScenario(id, orgID: caller.orgID, in: repositories)
            let tests = try await repositories.simulations.unitTests.all(orgID: caller.orgID)
            if let test = tests.first(where: { !$0.isDeleted && $0.scenarioID == id }) {
                throw PlatformError.badRequest("The simulation scenario is used by the unit test `\(test.name)`.")
            }
            scenario.isDeleted = true
            scenario.updatedAt = now()
            scenario.updatedBy = caller.userInfo
            try await repositories.simulations.scenarios.update(scenario, id: id, orgID: caller.orgID, name: scenario.name, isDeleted: true)
        }
    }

    public func createScenarioVersion(of id: String, _ body: SimulationScenarioVersionInput, expected: Int?, caller: Principal) async throws -> Int {
        let orgID = caller.orgID
        return try await store.write { repositories in
            _ = try await Self.liveScenario(id, orgID: orgID, in: repositories)
            try await repositories.serialize("simulation-scenario-versions/\(id)")
            let versions = repositories.simulations.scenarioVersions
            let next = (try await versions.latestNumber(of: id, orgID: orgID) ?? 0) + 1
            if let expected, expected != next {
                throw PlatformError.badRequest("Version \(expected) is not the next version of this simulation scenario (expected \(next)).")
            }
            let date = now()
            let version = SimulationScenarioVersion(
                id: ObjectID.generate(now: date), orgID: orgID, createdAt: date, scenarioID: id, version: next, body: body, creator: caller.userInfo
            )
            try await versions.insert(version, number: next, of: id, orgID: orgID)
            return next
        }
    }

    public func scenarioVersions(
        of id: String, orgID: String, selecting range: @escaping @Sendable (_ latest: Int?) -> ClosedRange<Int>?, ascending: Bool, page: PageRequest
    ) async throws -> PageResult<SimulationScenarioVersion> {
        try await store.read { repositories in
            guard try await repositories.simulations.scenarios.get(id: id, orgID: orgID) != nil else {
                throw PlatformError.notFound("Simulation scenario `\(id)` does not exist.")
            }
            let versions = repositories.simulations.scenarioVersions
            let latest = try await versions.latestNumber(of: id, orgID: orgID)
            return try await versions.versions(of: id, orgID: orgID, range: range(latest), ascending: ascending, page: page)
        }
    }

    public func scenarios(orgID: String, filter: SimulationFilter, sort: [SortKey], page: PageRequest) async throws -> Page<SimulationScenario> {
        let scenarios = try await store.read { try await $0.simulations.scenarios.all(orgID: orgID) }
            .filter { filter.matches(id: $0.id, isDeleted: $0.isDeleted, creator: $0.creator, tags: $0.tags.tagList) }
        let result = PageResult(all: SimulationFilter.sorted(scenarios, by: sort, updatedAt: \.updatedAt), page: page)
        let values = page.offset != 0 ? nil : ScenarioFilterValues(
            creators: scenarios.map(\.creator).uniqued, tags: Set(scenarios.flatMap(\.tags.keys)).sorted()
        )
        return Page(itemsKey: "simulation_scenarios", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken, filterValues: values)
    }

    /// Scenarios (not deleted) whose name contains the query's words, best first, at most 50.
    public func searchScenarios(_ query: String, orgID: String, filter: SimulationFilter) async throws -> [SimulationScenario] {
        let terms = SearchText.words(query)
        guard !terms.isEmpty else { return [] }
        let scenarios = try await store.read { try await $0.simulations.scenarios.all(orgID: orgID) }
            .filter { !$0.isDeleted && filter.matches(id: $0.id, isDeleted: false, creator: $0.creator, tags: $0.tags.tagList) }
        return SimulationFilter.best(scenarios.map { ($0, SearchText.score(terms, name: $0.name, other: "")) }, updatedAt: \.updatedAt)
    }

    static func liveScenario(_ id: String, orgID: String, in repositories: Repositories) async throws -> SimulationScenario {
        guard let scenario = try await repositories.simulations.scenarios.get(id: id, orgID: orgID), !scenario.isDeleted else {
            throw PlatformError.notFound("Simulation scenario `\(id)` does not exist.")
        }
        return scenario
    }

    // MARK: - Unit tests

    public func createUnitTest(_ request: CreateSimulationUnitTestRequest, caller: Principal) async throws -> String {
        let orgID = caller.orgID
        let date = now()
        let test = SimulationUnitTest(id: ObjectID.generate(now: date), orgID: orgID, createdAt: date, request: request, creator: caller.userInfo)
        try await store.write { repositories in
            let tests = repositories.simulations.unitTests
            try await repositories.serialize("simulation-unit-test-names/\(orgID)")
            if try await tests.live(named: test.name, orgID: orgID) != nil {
                throw PlatformError.conflict("A simulation unit test named `\(test.name)` already exists.")
            }
            try await Self.checkReferences(of: test, in: repositories)
            try await tests.insert(test, id: test.id, orgID: orgID, name: test.name)
        }
        return test.id
    }

    public func updateUnitTest(_ id: String, _ request: UpdateSimulationUnitTestRequest, caller: Principal) async throws {
        try await store.write { repositories in
            var test = try await Self.liveUnitTest(id, orgID: caller.orgID, in: repositories)
            if let description = request.description { test.description = description.stripped }
            if let serviceID = request.serviceID { test.serviceID = serviceID }
            if let name = request.serviceVersionSetName { test.serviceVersionSetName = name }
            if let personaID = request.personaID { test.personaID = personaID }
            if let scenarioID = request.scenarioID { test.scenarioID = scenarioID }
            if let maxInteractions = request.maxInteractions { test.maxInteractions = maxInteractions }
            if let criteria = request.successCriterions {
                test.successCriterions = criteria.map { SuccessCriterion(name: $0.name.stripped, metricID: $0.metricID, criterion: $0.criterion) }
            }
            if let tags = request.tags { test.tags = tags.strippedTags.tagList }
            try await Self.checkReferences(of: test, in: repositories)
            test.updatedAt = now()
            test.updatedBy = caller.userInfo
            try await repositories.simulations.unitTests.update(test, id: id, orgID: caller.orgID, name: test.name, isDeleted: false)
        }
    }

    public func deleteUnitTest(_ id: String, caller: Principal) async throws {
        try await store.write { repositories in
            var test = try await Self.liveUnitTest(id, orgID: caller.orgID, in: repositories)
            let sets = try await repositories.simulations.unitTestSets.all(orgID: caller.orgID)
            if let set = sets.first(where: { !$0.isDeleted && $0.unitTestRuns.contains { $0.unitTestID == id } }) {
                throw PlatformError.badRequest("The simulation unit test is used by the unit test set `\(set.name)`.")
            }
            test.isDeleted = true
            test.updatedAt = now()
            test.updatedBy = caller.userInfo
            try await repositories.simulations.unitTests.update(test, id: id, orgID: caller.orgID, name: test.name, isDeleted: true)
        }
    }

    public func unitTests(orgID: String, filter: SimulationFilter, sort: [SortKey], page: PageRequest) async throws -> Page<SimulationUnitTest> {
        let tests = try await store.read { try await $0.simulations.unitTests.all(orgID: orgID) }.filter(filter.matches)
        let result = PageResult(all: SimulationFilter.sorted(tests, by: sort, updatedAt: \.updatedAt), page: page)
        let values = page.offset != 0 ? nil : UnitTestFilterValues(
            creators: tests.map(\.creator).uniqued, tags: Set(tests.flatMap { $0.tags.map(\.key) }).sorted(),
            serviceIDs: Set(tests.map(\.serviceID)).sorted(), personaIDs: Set(tests.map(\.personaID)).sorted(),
            scenarioIDs: Set(tests.map(\.scenarioID)).sorted(), metricIDs: Set(tests.flatMap { $0.successCriterions.map(\.metricID) }).sorted()
        )
        return Page(itemsKey: "simulation_unit_tests", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken, filterValues: values)
    }

    /// Unit tests (not deleted) whose name or description contain the query's words, best first, at most 50.
    public func searchUnitTests(_ query: String, orgID: String, filter: SimulationFilter) async throws -> [SimulationUnitTest] {
        let terms = SearchText.words(query)
        guard !terms.isEmpty else { return [] }
        let tests = try await store.read { try await $0.simulations.unitTests.all(orgID: orgID) }.filter { !$0.isDeleted && filter.matches($0) }
        return SimulationFilter.best(tests.map { ($0, SearchText.score(terms, name: $0.name, other: $0.description)) }, updatedAt: \.updatedAt)
    }

    /// 400 when a unit test that is not deleted uses the service (`versionSet` nil) or that version set of it.
    public static func requireUnused(serviceID: String, versionSet: String?, orgID: String, in repositories: Repositories) async throws {
        let tests = try await repositories.simulations.unitTests.all(orgID: orgID)
        if let test = tests.first(where: { !$0.isDeleted && $0.serviceID == serviceID && (versionSet == nil || $0.serviceVersionSetName == versionSet) }) {
            throw PlatformError.badRequest("The simulation unit test `\(test.name)` uses this \(versionSet == nil ? "service" : "version set").")
        }
    }

    static func liveUnitTest(_ id: String, orgID: String, in repositories: Repositories) async throws -> SimulationUnitTest {
        guard let test = try await repositories.simulations.unitTests.get(id: id, orgID: orgID), !test.isDeleted else {
            throw PlatformError.notFound("Simulation unit test `\(id)` does not exist.")
        }
        return test
    }

    /// What a unit test names exists and is not deleted (404), and each criterion fits its metric (400).
    static func checkReferences(of test: SimulationUnitTest, in repositories: Repositories) async throws {
        let orgID = test.orgID
        guard let service = try await repositories.services.get(id: test.serviceID, orgID: orgID) else {
            throw PlatformError.notFound("Service `\(test.serviceID)` does not exist.")
        }
        if service.versionSets[test.serviceVersionSetName] == nil {
            throw PlatformError.notFound("The service has no version set named `\(test.serviceVersionSetName)`.")
        }
        _ = try await livePersona(test.personaID, orgID: orgID, in: repositories)
        _ = try await liveScenario(test.scenarioID, orgID: orgID, in: repositories)
        let metrics = try await repositories.metrics.get(ids: test.successCriterions.map(\.metricID).uniqued, orgID: orgID)
        for criterion in test.successCriterions {
            guard let metric = metrics.first(where: { $0.id == criterion.metricID }), !metric.isDeleted else {
                throw PlatformError.notFound("Metric `\(criterion.metricID)` does not exist.")
            }
            if metric.metricValue.type != criterion.criterion.type {
                throw PlatformError.badRequest(
                    "Success criterion `\(criterion.name)` is \(criterion.criterion.type), but metric `\(metric.name)` is \(metric.metricValue.type)."
                )
            }
        }
    }

    // MARK: - Unit test sets

    public func createUnitTestSet(_ request: CreateSimulationUnitTestSetRequest, caller: Principal) async throws -> String {
        let orgID = caller.orgID
        let date = now()
        let set = SimulationUnitTestSet(id: ObjectID.generate(now: date), orgID: orgID, createdAt: date, request: request, creator: caller.userInfo)
        try await store.write { repositories in
            let sets = repositories.simulations.unitTestSets
            try await repositories.serialize("simulation-unit-test-set-names/\(orgID)")
            if try await sets.live(named: set.name, orgID: orgID) != nil {
                throw PlatformError.conflict("A simulation unit test set named `\(set.name)` already exists.")
            }
            for run in set.unitTestRuns { _ = try await Self.liveUnitTest(run.unitTestID, orgID: orgID, in: repositories) }
            try await sets.insert(set, id: set.id, orgID: orgID, name: set.name)
        }
        return set.id
    }

    public func updateUnitTestSet(_ id: String, _ request: UpdateSimulationUnitTestSetRequest, caller: Principal) async throws {
        let orgID = caller.orgID
        try await store.write { repositories in
            let sets = repositories.simulations.unitTestSets
            try await repositories.serialize("simulation-unit-test-set-names/\(orgID)")
            var set = try await Self.liveSet(id, orgID: orgID, in: repositories)
            if let name = request.name?.stripped, name != set.name {
                if try await sets.live(named: name, orgID: orgID) != nil {
                    throw PlatformError.conflict("A simulation unit test set named `\(name)` already exists.")
                }
                set.name = name
            }
            switch request.description {
            case .unset: break
            case .null: set.description = nil
            case .value(let description): set.description = description.stripped
            }
            if let runs = request.unitTestRuns {
                for run in runs { _ = try await Self.liveUnitTest(run.unitTestID, orgID: orgID, in: repositories) }
                set.unitTestRuns = runs
            }
            if let tags = request.tags { set.tags = tags.strippedTags.tagList }
            set.updatedAt = now()
            set.updatedBy = caller.userInfo
            try await sets.update(set, id: id, orgID: orgID, name: set.name, isDeleted: false)
        }
    }

    public func deleteUnitTestSet(_ id: String, caller: Principal) async throws {
        try await store.write { repositories in
            var set = try await Self.liveSet(id, orgID: caller.orgID, in: repositories)
            set.isDeleted = true
            set.updatedAt = now()
            set.updatedBy = caller.userInfo
            try await repositories.simulations.unitTestSets.update(set, id: id, orgID: caller.orgID, name: set.name, isDeleted: true)
        }
    }

    public func unitTestSets(orgID: String, filter: SimulationFilter, sort: [SortKey], page: PageRequest) async throws -> Page<SimulationUnitTestSet> {
        let sets = try await store.read { try await $0.simulations.unitTestSets.all(orgID: orgID) }.filter(filter.matches)
        let result = PageResult(all: SimulationFilter.sorted(sets, by: sort, updatedAt: \.updatedAt), page: page)
        let values = page.offset != 0 ? nil : UnitTestSetFilterValues(
            creators: sets.map(\.creator).uniqued, unitTestIDs: Set(sets.flatMap { $0.unitTestRuns.map(\.unitTestID) }).sorted(),
            tags: Set(sets.flatMap { $0.tags.map(\.key) }).sorted()
        )
        return Page(
            itemsKey: "simulation_unit_test_sets", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken, filterValues: values
        )
    }

    /// Sets (not deleted) whose name or description contain the query's words, best first, at most 50.
    public func searchUnitTestSets(_ query: String, orgID: String, filter: SimulationFilter) async throws -> [SimulationUnitTestSet] {
        let terms = SearchText.words(query)
        guard !terms.isEmpty else { return [] }
        let sets = try await store.read { try await $0.simulations.unitTestSets.all(orgID: orgID) }.filter { !$0.isDeleted && filter.matches($0) }
        return SimulationFilter.best(sets.map { ($0, SearchText.score(terms, name: $0.name, other: $0.description ?? "")) }, updatedAt: \.updatedAt)
    }

    static func liveSet(_ id: String, orgID: String, in repositories: Repositories) async throws -> SimulationUnitTestSet {
        guard let set = try await repositories.simulations.unitTestSets.get(id: id, orgID: orgID), !set.isDeleted else {
            throw PlatformError.notFound("Simulation unit test set `\(id)` does not exist.")
        }
        return set
    }
}

/// The filters of the simulation listings and searches (each listing reads the ones it has).
public struct SimulationFilter: Sendable {
    public var ids: [String] = []
    public var isDeleted: Bool?
    /// `org_id,user_id` pairs, or bare user ids.
    public var creators: [String] = []
    public var tags: [TagMatch] = []
    public var roles: [String] = []
    public var serviceIDs: [String] = []
    public var personaIDs: [String] = []
    public var scenarioIDs: [String] = []
    public var metricIDs: [String] = []
    public var unitTestIDs: [String] = []

    public init() {}

    func matches(id: String, isDeleted: Bool, creator: UserInfo, tags: [Tag]) -> Bool {
        (ids.isEmpty || ids.contains(id))
            && (self.isDeleted.map { $0 == isDeleted } ?? true)
            && (creators.isEmpty || creators.contains { $0 == "\(creator.orgID),\(creator.userID)" || $0 == creator.userID })
            && self.tags.allSatisfy { $0.matches(tags) }
    }

    func matches(role: String) -> Bool { roles.isEmpty || roles.contains(role) }

    func matches(_ test: SimulationUnitTest) -> Bool {
        matches(id: test.id, isDeleted: test.isDeleted, creator: test.creator, tags: test.tags)
            && (serviceIDs.isEmpty || serviceIDs.contains(test.serviceID))
            && (personaIDs.isEmpty || personaIDs.contains(test.personaID))
            && (scenarioIDs.isEmpty || scenarioIDs.contains(test.scenarioID))
            && (metricIDs.isEmpty || test.successCriterions.contains { metricIDs.contains($0.metricID) })
    }

    func matches(_ set: SimulationUnitTestSet) -> Bool {
        // A deleted set is gone from the listings.
        !set.isDeleted && matches(id: set.id, isDeleted: set.isDeleted, creator: set.creator, tags: set.tags)
            && (unitTestIDs.isEmpty || set.unitTestRuns.contains { unitTestIDs.contains($0.unitTestID) })
    }

    /// Sorted by `updated_at` as `sort` asks (the one sort field), oldest id first otherwise.
    static func sorted<Item>(_ items: [Item], by sort: [SortKey], updatedAt: KeyPath<Item, Date>) -> [Item] {
        guard let key = sort.first else { return items }
        return items.sorted { lhs, rhs in
            let (l, r) = (lhs[keyPath: updatedAt], rhs[keyPath: updatedAt])
            return l == r ? false : key.ascending == (l < r)
        }
    }

    /// The matches (score > 0), best first, then most recently updated, at most 50.
    static func best<Item>(_ scored: [(Item, Int)], updatedAt: KeyPath<Item, Date>) -> [Item] {
        scored.filter { $0.1 > 0 }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0[keyPath: updatedAt] > $1.0[keyPath: updatedAt] }
            .prefix(50).map(\.0)
    }
}

/// The `filter_values` of the simulation listings.
struct PersonaFilterValues: Encodable, Sendable {
    var creators: [UserInfo]
    var tags: [String]
    var roles: [String]
}

struct ScenarioFilterValues: Encodable, Sendable {
    var creators: [UserInfo]
    var tags: [String]
}

struct UnitTestFilterValues: Encodable, Sendable {
    var creators: [UserInfo]
    var tags: [String]
    var serviceIDs: [String]
    var personaIDs: [String]
    var scenarioIDs: [String]
    var metricIDs: [String]

    enum CodingKeys: String, CodingKey {
        case creators, tags
        case serviceIDs = "service_ids"
        case personaIDs = "persona_ids"
        case scenarioIDs = "scenario_ids"
        case metricIDs = "metric_ids"
    }
}

struct UnitTestSetFilterValues: Encodable, Sendable {
    var creators: [UserInfo]
    var unitTestIDs: [String]
    var tags: [String]

    enum CodingKeys: String, CodingKey {
        case creators
        case unitTestIDs = "unit_test_ids"
        case tags
    }
}
