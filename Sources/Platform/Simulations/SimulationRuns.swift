import AmigoWire
import Engine
import Foundation
import Logging
import Storage

/// Runs of unit test sets: each unit test of the set, `run_count` times, as a real conversation between
/// the service (pinned to the unit test's version set) and a user played by the model from the persona's
/// and scenario's latest versions; then judged by the unit test's success criteria.
///
/// Rules:
/// - A caller has at most one unfinished run per set (409). Creating a run fixes what it runs on (the
///   specs: graph, agent, persona and scenario versions, model preferences, metrics) and enqueues one
///   `simulate-unit-test` job per repetition, in the transaction that stores the run. The jobs run on
///   their own runner, at most `concurrency` at once, and survive a restart (a repetition cut by a crash
///   runs again from the start, in a new conversation).
/// - A repetition starts as the scenario says (the simulated user's message, an external event, or the
///   agent), then alternates simulated user and agent until the graph reaches its terminal state or the
///   simulated user is done. Still going after `max_interactions` interactions fails it (the simulated
///   user is asked once more, so a conversation that ends exactly there passes).
/// - The conversation is finished, never analysed; its tools run in simulation mode with the persona's
///   variables. Each criterion's metric is judged (source `simulation`); a judge that fails after its
///   retries records an error for that criterion, never a value; a `null` result does not meet it.
/// - A repetition passes when every criterion is met and nothing failed. `failed_metrics` is true as soon
///   as one does not pass; `errored` when one went wrong (a failed interaction or judge, a cancel).
///   A unit test's results appear when all its repetitions are done; the run completes when all are,
///   and a `simulation-artifacts` job then builds its archive.
/// - Cancel (409 unless in progress) completes the run at once: queued repetitions do not start, running
///   ones stop after their current interaction; the archive holds what ran.
public struct SimulationRuns: Sendable {
    public static let simulate = "simulate-unit-test"
    public static let archive = "simulation-artifacts"

    let store: Store
    let conversations: Conversations
    let metrics: ConversationMetrics
    let logger: Logger
    let now: @Sendable () -> Date
    /// Rings the simulation runner after a commit that enqueued work.
    public let doorbell: JobDoorbell
    /// Replays of recorded conversations, played by the same runner.
    public let replays: ConversationReplays

    public init(store: Store, conversations: Conversations, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.conversations = conversations
        self.metrics = ConversationMetrics(store: store, models: conversations.models, now: now)
        self.logger = logger
        self.now = now
        let doorbell = JobDoorbell()
        self.doorbell = doorbell
        self.replays = ConversationReplays(
            store: store, conversations: conversations, metrics: metrics, doorbell: doorbell, logger: logger, now: now
        )
    }

    /// The runner's handlers of the simulation kinds (unit test repetitions, archives, replays).
    public var handlers: [String: JobRunner.Handler] {
        [
            Self.simulate: { job in try await simulate(job) },
            Self.archive: { job in try await buildArchive(job) },
            ConversationReplays.kind: { job in try await replays.play(job) },
        ]
    }

    struct Repetition: Codable {
        var runID: String
        var spec: Int
        var repetition: Int
        var serviceID: String
        var versionSetName: String

        enum CodingKeys: String, CodingKey {
            case runID = "run_id"
            case spec, repetition
            case serviceID = "service_id"
            case versionSetName = "version_set_name"
        }
    }

    // MARK: - Create, list, cancel

    public func create(setID: String, caller: Principal) async throws -> String {
        let orgID = caller.orgID
        let runID = try await store.write { repositories in
            try await repositories.serialize("simulation-runs/\(setID)/\(caller.user.userID)")
            var set = try await SimulationLibrary.liveSet(setID, orgID: orgID, in: repositories)
            if try await repositories.simulations.unfinishedRun(setID: setID, creatorID: caller.user.userID, orgID: orgID) != nil {
                throw PlatformError.conflict("You already have an unfinished run of this simulation unit test set.")
            }
            var specs: [UnitTestRunSpec] = []
            var targets: [(serviceID: String, versionSetName: String)] = []
            for descriptor in set.unitTestRuns {
                let test = try await SimulationLibrary.liveUnitTest(descriptor.unitTestID, orgID: orgID, in: repositories)
                let setting = try await ConversationSetting.resolve(
                    serviceID: test.serviceID, versionSetName: test.serviceVersionSetName, orgID: orgID, repositories: repositories
                )
                let simulations = repositories.simulations
                guard let persona = try await simulations.personaVersions.latestNumber(of: test.personaID, orgID: orgID),
                      let scenario = try await simulations.scenarioVersions.latestNumber(of: test.scenarioID, orgID: orgID)
                else { throw PlatformError.notFound("The unit test `\(test.name)` names a persona or scenario without versions.") }
                specs.append(UnitTestRunSpec(
                    unitTestID: test.id, runCount: descriptor.runCount,
                    graph: setting.versionSetInfo.serviceHierarchicalStateMachineVersionInfo, agent: setting.versionSetInfo.agentVersionInfo,
                    scenario: VersionInfo(id: test.scenarioID, version: scenario), persona: VersionInfo(id: test.personaID, version: persona),
                    llmModelPreferences: setting.versionSetInfo.llmModelPreferences, maxInteractions: test.maxInteractions,
                    metricsToEvaluate: test.successCriterions.map {
                        MetricToEvaluate(metricID: $0.metricID, successCriterionName: $0.name, successCriterion: $0.criterion)
                    }
                ))
                targets.append((test.serviceID, test.serviceVersionSetName))
            }
            let date = now()
            let run = SimulationUnitTestSetRun(
                orgID: orgID, id: ObjectID.generate(now: date), setID: setID, specs: specs, createdAt: date, creator: caller.userInfo
            )
            try await repositories.simulations.insert(SimulationRunRecord(run: run))
            set.lastTriggeredRunID = run.id
            try await repositories.simulations.unitTestSets.update(set, id: set.id, orgID: orgID, name: set.name, isDeleted: false)
            for (index, spec) in specs.enumerated() {
                for repetition in 0..<spec.runCount {
                    let payload = Repetition(
                        runID: run.id, spec: index, repetition: repetition, serviceID: targets[index].serviceID,
                        versionSetName: targets[index].versionSetName
                    )
                    _ = try await repositories.jobs.enqueue(JobRecord(
                        id: ObjectID.generate(now: date), orgID: orgID, kind: Self.simulate, subject: run.id,
                        payload: try WireEncoder().string(payload), idempotencyKey: "simulation/\(run.id)/\(index)/\(repetition)",
                        maxAttempts: 3, runAfter: date, createdAt: date
                    ))
                }
            }
            return run.id
        }
        doorbell.ring()
        return runID
    }

    /// A page of the organization's runs matching `filter`, by creation time.
    public func list(
        orgID: String, filter: SimulationRunFilter, ascending: Bool, page: PageRequest, seesSets: Bool, seesTests: Bool
    ) async throws -> Page<SimulationUnitTestSetRun> {
        var runs = try await store.read { try await $0.simulations.runs(orgID: orgID) }.map(\.run).filter(filter.matches)
        if ascending { runs.reverse() }
        let result = PageResult(all: runs, page: page)
        let values = page.offset != 0 ? nil : RunFilterValues(
            creators: runs.map(\.creator).uniqued, setIDs: runs.map(\.setID).uniqued.sorted(), tags: []
        )
        return Page(
            itemsKey: "simulation_unit_test_set_runs", items: result.items.map { $0.visible(seesSets: seesSets, seesTests: seesTests) },
            hasMore: result.hasMore, continuationToken: result.nextToken, filterValues: values
        )
    }

    public func cancel(runID: String, caller: Principal) async throws {
        let orgID = caller.orgID
        try await store.write { repositories in
            try await repositories.serialize("simulation-run/\(runID)")
            guard var record = try await repositories.simulations.run(id: runID, orgID: orgID) else {
                throw PlatformError.notFound("Simulation unit test set run `\(runID)` does not exist.")
            }
            guard record.state == .running else { throw PlatformError.conflict("The run is not in progress.") }
            record.state = .cancelled
            Self.summarize(&record)
            try await repositories.simulations.update(record)
            try await enqueueArchive(of: record, in: repositories)
        }
        doorbell.ring()
    }

    /// Whether the run's archive exists (404 for no such run, 400 until it is built).
    public func requireArtifacts(runID: String, orgID: String) async throws {
        guard let record = try await store.read({ try await $0.simulations.run(id: runID, orgID: orgID) }) else {
            throw PlatformError.notFound("Simulation unit test set run `\(runID)` does not exist.")
        }
        if !record.run.artifactsGenerated { throw PlatformError.badRequest("The artifacts of this run are not available yet.") }
    }

    public func artifacts(runID: String, orgID: String) async throws -> (contentType: String, data: Data)? {
        try await store.read { try await $0.simulations.artifacts(runID: runID, orgID: orgID) }
    }

    // MARK: - A repetition

    func simulate(_ job: JobRecord) async throws {
        let task = try WireCoding.decoder().decode(Repetition.self, from: Data(job.payload.utf8))
        let orgID = job.orgID
        let loaded = try await store.read { repositories -> (SimulationRunRecord, SimulationPersona, SimulationPersonaVersion, SimulationScenarioVersion, [MetricInstance])? in
            guard let record = try await repositories.simulations.run(id: task.runID, orgID: orgID), record.state == .running,
                  record.outcomes[task.spec][task.repetition] == nil
            else { return nil }
            let spec = record.run.unitTestRunSpecs[task.spec]
            let simulations = repositories.simulations
            guard let personaInfo = spec.persona, let scenarioInfo = spec.scenario,
                  let persona = try await simulations.personas.get(id: personaInfo.id, orgID: orgID),
                  let personaVersion = try await simulations.personaVersions.version(personaInfo.version, of: personaInfo.id, orgID: orgID),
                  let scenarioVersion = try await simulations.scenarioVersions.version(scenarioInfo.version, of: scenarioInfo.id, orgID: orgID)
            else { throw PlatformError.notFound("The persona or scenario version of this run no longer exists.") }
            let metrics = try await repositories.metrics.get(ids: spec.metricsToEvaluate.map(\.metricID).uniqued, orgID: orgID)
            return (record, persona, personaVersion, scenarioVersion, metrics)
        }
        // Cancelled, already done, or gone.
        guard let (record, persona, personaVersion, scenarioVersion, metrics) = loaded else { return }
        let spec = record.run.unitTestRunSpecs[task.spec]
        let clock = ContinuousClock()
        let started = clock.now
        let conversation = await converse(task, spec: spec, persona: persona, personaVersion: personaVersion, scenario: scenarioVersion)
        var outcome = SimulationOutcome(
            conversationID: conversation.conversationID, verdicts: [], error: conversation.error, passed: conversation.error == nil,
            errored: conversation.errored, interactions: conversation.interactions, modelCalls: conversation.modelCalls, seconds: 0
        )
        var results: [MetricEvaluationResultInstance] = []
        if let conversationID = conversation.conversationID, !conversation.errored, !conversation.cancelled {
            let messages = try await store.read { repositories in
                try await repositories.conversations.recentMessages(conversationID: conversationID, orgID: orgID, limit: 2_000)
                    .filter { $0.messageType != .agentInnerThought }
            }
            var problems: [String] = []
            for criterion in spec.metricsToEvaluate {
                guard let metric = metrics.first(where: { $0.id == criterion.metricID }) else {
                    problems.append("Criterion `\(criterion.successCriterionName)`: its metric no longer exists.")
                    outcome.verdicts.append(nil)
                    outcome.errored = true
                    continue
                }
                do {
                    let judgement = try await self.metrics.judge(
                        metric, messages: messages, preferences: spec.llmModelPreferences, models: conversations.models
                    )
                    outcome.modelCalls += 1
                    let date = now()
                    let result = MetricEvaluationResultInstance(
                        id: ObjectID.generate(now: date), orgID: orgID, createdAt: date, metricID: metric.id, result: judgement.value,
                        justification: judgement.justification,
                        source: .simulation(
                            runID: task.runID, unitTestID: spec.unitTestID, runIndex: task.repetition,
                            references: judgement.messages.map { messages[$0 - 1].id }
                        )
                    )
                    results.append(result)
                    let met = criterion.successCriterion.isMet(by: judgement.value)
                    outcome.verdicts.append(.init(resultID: result.id, passed: met))
                    if !met {
                        outcome.passed = false
                        if judgement.value == .notApplicable {
                            problems.append(
                                "Criterion `\(criterion.successCriterionName)`: metric `\(metric.name)` was judged not applicable (null), which does not meet it."
                            )
                        }
                    }
                } catch {
                    problems.append("Criterion `\(criterion.successCriterionName)`: \(PlatformError(error).message)")
                    outcome.verdicts.append(nil)
                    outcome.passed = false
                    outcome.errored = true
                }
            }
            if !problems.isEmpty { outcome.error = ([outcome.error].compactMap { $0 } + problems).joined(separator: " ") }
        } else if conversation.cancelled {
            outcome.error = "The run was cancelled."
            outcome.passed = false
            outcome.errored = true
        }
        outcome.passed = outcome.passed && outcome.error == nil
        outcome.seconds = (clock.now - started).timeInterval
        let done = outcome
        let stored = results
        try await store.write { repositories in
            try await repositories.serialize("simulation-run/\(task.runID)")
            // A run cancelled meanwhile still records how this repetition ended (its archive may follow).
            guard var current = try await repositories.simulations.run(id: task.runID, orgID: orgID), current.state != .completed,
                  current.outcomes[task.spec][task.repetition] == nil
            else { return }
            for result in stored { try await repositories.metrics.save(result) }
            current.outcomes[task.spec][task.repetition] = done
            if current.state == .running, current.outcomes.allSatisfy({ $0.allSatisfy { $0 != nil } }) { current.state = .completed }
            Self.summarize(&current)
            try await repositories.simulations.update(current)
            if current.state == .completed { try await enqueueArchive(of: current, in: repositories) }
        }
        doorbell.ring()
        logger.info("simulated a unit test", metadata: [
            "run_id": "\(task.runID)", "unit_test_id": "\(spec.unitTestID)", "run_index": "\(task.repetition)", "passed": "\(done.passed)",
            "interactions": "\(done.interactions)", "seconds": "\(done.seconds)",
        ])
    }

    struct Conversation {
        var conversationID: String?
        var interactions = 0
        var modelCalls = 0
        /// Why it did not end on its own terms.
        var error: String?
        var errored = false
        var cancelled = false
    }

    /// Plays the conversation of one repetition.
    func converse(
        _ task: Repetition, spec: UnitTestRunSpec, persona: SimulationPersona, personaVersion: SimulationPersonaVersion,
        scenario: SimulationScenarioVersion
    ) async -> Conversation {
        var result = Conversation()
        let orgID = personaVersion.orgID
        let models = conversations.models
        let started = now()
        let startsAt = scenario.conversationStartsAt ?? started
        let offset = startsAt.timeIntervalSince(started)
        var preferences = Preferences()
        preferences.preferredLanguage = personaVersion.preferredLanguage
        preferences.timezone = personaVersion.timezone
        let user = User(
            orgID: orgID, userID: ObjectID.generate(now: started), firstName: persona.name, lastName: "", email: "", roleID: "",
            preferences: preferences, createdAt: started
        )
        let caller = Principal.simulatedUser(user)
        let simulated = Prompts.SimulatedUser(
            name: persona.name, role: persona.role, background: personaVersion.background, userModels: personaVersion.userModels,
            language: personaVersion.preferredLanguage, timezone: personaVersion.timezone, objective: scenario.objective,
            instructions: scenario.instructions
        )
        let tag = SimulationTag(
            runID: task.runID, unitTestID: spec.unitTestID, runIndex: task.repetition,
            nonsensitiveVariables: personaVersion.nonsensitiveUserVariables, sensitiveVariables: personaVersion.sensitiveUserVariables,
            clockOffset: offset
        )
        var transcript: [MessageInstance] = []
        var ended = false
        /// The simulated user's next turn; nil (with `result.error` set) when the model could not play it.
        func nextTurn(opening: Bool = false, event: Bool = false) async -> Prompts.SimulatedTurn? {
            let request = Prompts.simulatedUserTurn(
                simulated, transcript: transcript, now: Date().addingTimeInterval(offset), opening: opening, event: event
            )
            var problem = ""
            for _ in 0..<3 {
                do {
                    result.modelCalls += 1
                    let answer = try await models.call(.simulateUser, preferences: spec.llmModelPreferences).complete(request)
                    return try Prompts.simulatedTurn(in: answer.text)
                } catch {
                    problem = PlatformError(error).message
                }
            }
            result.error = "The model could not play the simulated user: \(problem)"
            result.errored = true
            return nil
        }
        /// Runs one interaction; false (with `result.error` set) when it failed.
        func interact(_ pending: Conversations.PendingInteraction) async -> Bool {
            let sink = CollectingSink()
            guard let outcome = await conversations.run(pending, events: sink) else {
                result.error = "An interaction failed: \(sink.failure?.message ?? "unknown error")"
                result.errored = true
                return false
            }
            result.interactions += 1
            transcript += outcome.messages.filter { $0.messageType == .agentMessage }
            if outcome.conversationCompleted { ended = true }
            return true
        }

        // The opening.
        var initial: (type: MessageType, text: String)?
        switch scenario.initialMessageType {
        case .skip: break
        case .userMessage, .externalEvent:
            let event = scenario.initialMessageType == .externalEvent
            guard let turn = await nextTurn(opening: true, event: event) else { return result }
            let text = turn.message.isEmpty ? "Hello." : turn.message
            initial = (event ? .externalEvent : .userMessage, text)
        }
        if await isCancelled(task.runID, orgID: orgID) {
            result.cancelled = true
            return result
        }
        do {
            let pending = try await conversations.prepareSimulated(
                orgID: orgID, serviceID: task.serviceID,
                versionSetInfo: VersionSetInfo(
                    name: task.versionSetName, agentVersionInfo: spec.agent, serviceHierarchicalStateMachineVersionInfo: spec.graph,
                    llmModelPreferences: spec.llmModelPreferences
                ),
                user: user, userModel: personaVersion.userModels, simulation: tag, initial: initial.map { [($0.type, $0.text, started)] } ?? [],
                at: started
            )
            result.conversationID = pending.record.id
            if let (type, text) = initial {
                transcript.append(Conversations.message(type, text, at: started, sender: type == .userMessage ? user.userID : "external"))
            }
            guard await interact(pending) else { return result }
        } catch {
            result.error = "The conversation could not start: \(PlatformError(error).message)"
            result.errored = true
            return result
        }
        let conversationID = result.conversationID!

        // User and agent in turn, until the graph or the simulated user ends it.
        while !ended {
            if await isCancelled(task.runID, orgID: orgID) {
                result.cancelled = true
                break
            }
            guard let turn = await nextTurn() else { break }
            if turn.finished { break }
            if result.interactions >= spec.maxInteractions {
                result.error = "The conversation was still going after max_interactions (\(spec.maxInteractions)) interactions."
                break
            }
            transcript.append(Conversations.message(.userMessage, turn.message, at: Date(), sender: user.userID))
            do {
                let pending = try await conversations.prepareInteract(
                    orgID: orgID, conversationID: conversationID, caller: caller, turn: .init(message: (.userMessage, turn.message))
                )
                guard await interact(pending) else { break }
            } catch {
                result.error = "An interaction could not start: \(PlatformError(error).message)"
                result.errored = true
                break
            }
        }
        if !ended { try? await conversations.finish(orgID: orgID, conversationID: conversationID, caller: caller) }
        return result
    }

    func isCancelled(_ runID: String, orgID: String) async -> Bool {
        let state = try? await store.read { try await $0.simulations.run(id: runID, orgID: orgID)?.state }
        return state != .running
    }

    // MARK: - Summary and archive

    /// The wire fields of a run from its outcomes so far.
    static func summarize(_ record: inout SimulationRunRecord) {
        let done = record.outcomes.flatMap { $0.compactMap { $0 } }
        let cancelled = record.state == .cancelled
        record.run.failedMetrics = done.contains { !$0.passed }
        record.run.errored = done.contains(where: \.errored) || (cancelled && record.outcomes.contains { $0.contains { $0 == nil } })
        record.run.isCompleted = record.state != .running
        for (index, spec) in record.run.unitTestRunSpecs.enumerated() {
            let outcomes = record.outcomes[index]
            guard record.run.isCompleted || outcomes.allSatisfy({ $0 != nil }) else { continue }
            var byMetric: [(String, [UnitTestMetricResults.Verdict])] = []
            for (criterionIndex, criterion) in spec.metricsToEvaluate.enumerated() {
                let verdicts = outcomes.compactMap { $0?.verdicts.indices.contains(criterionIndex) == true ? $0?.verdicts[criterionIndex] : nil }
                if let at = byMetric.firstIndex(where: { $0.0 == criterion.metricID }) {
                    byMetric[at].1 += verdicts
                } else {
                    byMetric.append((criterion.metricID, verdicts))
                }
            }
            record.run.unitTestRunResults[index] = UnitTestRunResult(
                unitTestID: spec.unitTestID, metricEvaluationResults: byMetric.map { UnitTestMetricResults(metricID: $0.0, results: $0.1) },
                runErrors: outcomes.map { $0.map(\.error) ?? "The run was cancelled before this repetition ran." }
            )
        }
    }

    func enqueueArchive(of record: SimulationRunRecord, in repositories: Repositories) async throws {
        let date = now()
        _ = try await repositories.jobs.enqueue(JobRecord(
            id: ObjectID.generate(now: date), orgID: record.run.orgID, kind: Self.archive, subject: record.run.id,
            payload: try WireEncoder().string(["run_id": record.run.id]), idempotencyKey: "simulation/\(record.run.id)/artifacts",
            runAfter: date, createdAt: date
        ))
    }

    /// Builds the run's archive (a tar file): the run, and per repetition its transcript, its
    /// interactions (state transitions, tool calls) and its metric results.
    func buildArchive(_ job: JobRecord) async throws {
        let orgID = job.orgID
        let runID = job.subject
        let data = try await store.read { repositories -> Data? in
            guard let record = try await repositories.simulations.run(id: runID, orgID: orgID) else { return nil }
            var archive = TarArchive()
            let encoder = WireEncoder()
            var archived = record
            archived.run.artifactsGenerated = true
            archive.add("run.json", Data(try encoder.encode(SimulationArchiveRun(record: archived))))
            var filter = MetricResultFilter()
            filter.runIDs = [runID]
            let results = try await repositories.metrics.results(orgID: orgID, filter: filter, ascending: true, page: PageRequest(limit: 10_000, offset: 0)).items
            for (index, spec) in record.run.unitTestRunSpecs.enumerated() {
                for (repetition, outcome) in record.outcomes[index].enumerated() {
                    let folder = "unit_tests/\(index + 1)-\(spec.unitTestID)/run-\(repetition + 1)"
                    guard let outcome else { continue }
                    archive.add("\(folder)/outcome.json", Data(try encoder.encode(outcome)))
                    let mine = results.filter {
                        if case .simulation(_, let unitTestID, let runIndex, _) = $0.source { return unitTestID == spec.unitTestID && runIndex == repetition }
                        return false
                    }
                    archive.add("\(folder)/metric_results.json", Data(try encoder.encode(mine)))
                    guard let conversationID = outcome.conversationID else { continue }
                    let messages = try await repositories.conversations.recentMessages(conversationID: conversationID, orgID: orgID, limit: 2_000)
                    archive.add("\(folder)/transcript.json", Data(try encoder.encode(messages)))
                    let interactions = try await repositories.conversations.recentInteractions(conversationID: conversationID, orgID: orgID, limit: 200)
                    archive.add("\(folder)/interactions.json", Data(try encoder.encode(interactions.map { ArchivedInteraction(id: $0.id, createdAt: $0.createdAt, insights: $0.insights) })))
                }
            }
            return archive.bytes
        }
        guard let data else { return }
        try await store.write { repositories in
            try await repositories.serialize("simulation-run/\(runID)")
            guard var record = try await repositories.simulations.run(id: runID, orgID: orgID) else { return }
            try await repositories.simulations.saveArtifacts(runID: runID, orgID: orgID, contentType: "application/x-tar", data: data)
            record.run.artifactsGenerated = true
            try await repositories.simulations.update(record)
        }
    }
}

/// The filters of the run listing.
public struct SimulationRunFilter: Sendable {
    public var ids: [String] = []
    public var creators: [String] = []
    public var setIDs: [String] = []
    public var isCompleted: Bool?
    public var failedMetrics: Bool?
    public var errored: Bool?
    public var createdAfter: Date?
    public var createdBefore: Date?

    public init() {}

    func matches(_ run: SimulationUnitTestSetRun) -> Bool {
        (ids.isEmpty || ids.contains(run.id))
            && (creators.isEmpty || creators.contains { $0 == "\(run.creator.orgID),\(run.creator.userID)" || $0 == run.creator.userID })
            && (setIDs.isEmpty || setIDs.contains(run.setID))
            && (isCompleted.map { $0 == run.isCompleted } ?? true)
            && (failedMetrics.map { $0 == run.failedMetrics } ?? true)
            && (errored.map { $0 == run.errored } ?? true)
            && (createdAfter.map { run.createdAt > $0 } ?? true)
            && (createdBefore.map { run.createdAt < $0 } ?? true)
    }
}

struct RunFilterValues: Encodable, Sendable {
    var creators: [UserInfo]
    var setIDs: [String]
    var tags: [String]

    enum CodingKeys: String, CodingKey {
        case creators
        case setIDs = "simulation_unit_test_set_ids"
        case tags
    }
}

/// `run.json` of an archive: the run and how each repetition went.
struct SimulationArchiveRun: Encodable {
    var record: SimulationRunRecord

    enum CodingKeys: String, CodingKey { case run, state, outcomes }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(record.run, forKey: .run)
        try c.encode(record.state.rawValue, forKey: .state)
        try c.encode(record.outcomes, forKey: .outcomes)
    }
}

struct ArchivedInteraction: Encodable {
    var id: String
    var createdAt: Date
    var insights: InteractionInsights

    enum CodingKeys: String, CodingKey {
        case id
        case createdAt = "created_at"
        case insights
    }
}

/// Collects nothing but the failure of an interaction (a simulation reads what it stored).
final class CollectingSink: ConversationEventSink, @unchecked Sendable {
    private let lock = NSLock()
    private var error: PlatformError?

    var failure: PlatformError? { lock.withLock { error } }

    func write(_ event: ConversationEvent) async throws {}

    func fail(_ error: PlatformError) async throws {
        lock.withLock { self.error = error }
    }
}
