import AmigoWire
import Engine
import Foundation
import Logging
import Storage

/// Replays: a recorded conversation's user turns (user messages and external events, interaction by
/// interaction) played against another version set of its service, and where the agent's path diverges.
///
/// Rules:
/// - Creating a replay needs `Conversation:GetMessage` on the conversation, which must have interactions,
///   and a version set of its service (404); the versions are pinned then, and a `replay-conversation`
///   job (on the simulation runner) plays it.
/// - The replay is a simulated conversation: a synthetic user (so the real user's one-unfinished-
///   conversation rule is untouched) with the original's user model, tools in simulation mode, no
///   analysis, finished at the end. Its clock runs at the original's times, so events keep their offsets.
/// - Each interaction is compared by the states the agent went through (the state it started in, then
///   each one it moved to); the first that differs is the divergence. A replay whose graph ends early
///   stops there (`ended_early`).
/// - Metrics applied to the service: `before` is the original's latest stored result, else judged now;
///   `after` is judged on the replay. Nothing of a replay is stored as a metric result.
public struct ConversationReplays: Sendable {
    public static let kind = "replay-conversation"

    let store: Store
    let conversations: Conversations
    let metrics: ConversationMetrics
    let logger: Logger
    let now: @Sendable () -> Date
    let doorbell: JobDoorbell

    init(store: Store, conversations: Conversations, metrics: ConversationMetrics, doorbell: JobDoorbell, logger: Logger, now: @escaping @Sendable () -> Date) {
        self.store = store
        self.conversations = conversations
        self.metrics = metrics
        self.doorbell = doorbell
        self.logger = logger
        self.now = now
    }

    public func create(_ request: CreateReplayRequest, caller: Principal) async throws -> String {
        let orgID = caller.orgID
        let id = try await store.write { repositories in
            let record = try await repositories.conversation(request.conversationID, orgID: orgID, caller: caller, requiring: "Conversation:GetMessage")
            if record.interactionCount == 0 { throw PlatformError.badRequest("The conversation has no interactions to replay.") }
            let setting = try await ConversationSetting.resolve(
                serviceID: record.serviceID, versionSetName: request.serviceVersionSetName, orgID: orgID, repositories: repositories
            )
            let date = now()
            let replay = ReplayReport(
                id: ObjectID.generate(now: date), orgID: orgID, createdAt: date, creator: caller.userInfo, conversationID: record.id,
                serviceID: record.serviceID, original: record.versionSetInfo, replayed: setting.versionSetInfo
            )
            try await repositories.simulations.insert(replay)
            _ = try await repositories.jobs.enqueue(JobRecord(
                id: ObjectID.generate(now: date), orgID: orgID, kind: Self.kind, subject: replay.id,
                payload: try WireEncoder().string(["replay_id": replay.id]), idempotencyKey: "replay/\(replay.id)", maxAttempts: 2,
                runAfter: date, createdAt: date
            ))
            return replay.id
        }
        doorbell.ring()
        return id
    }

    /// The replay, to a caller who may read the replayed conversation's messages (else 404, as for a
    /// replay that does not exist: the report repeats them).
    public func get(_ id: String, caller: Principal) async throws -> ReplayReport {
        let orgID = caller.orgID
        return try await store.read { repositories in
            guard let replay = try await repositories.simulations.replay(id: id, orgID: orgID) else {
                throw PlatformError.notFound("Replay `\(id)` does not exist.")
            }
            do {
                _ = try await repositories.conversation(replay.conversationID, orgID: orgID, caller: caller, requiring: "Conversation:GetMessage")
            } catch let error as PlatformError where error.kind == .forbidden || error.kind == .notFound {
                throw PlatformError.notFound("Replay `\(id)` does not exist.")
            }
            return replay
        }
    }

    // MARK: - Playing

    func play(_ job: JobRecord) async throws {
        let orgID = job.orgID
        let loaded = try await store.read { repositories -> (ReplayReport, ConversationRecord, [MessageInstance], [InteractionRecord])? in
            guard let replay = try await repositories.simulations.replay(id: job.subject, orgID: orgID), replay.status == .running else { return nil }
            guard let record = try await repositories.conversations.get(id: replay.conversationID, orgID: orgID) else {
                throw PlatformError.notFound("The conversation to replay was deleted.")
            }
            let messages = try await repositories.conversations.recentMessages(conversationID: record.id, orgID: orgID, limit: 10_000)
            let interactions = try await repositories.conversations.recentInteractions(conversationID: record.id, orgID: orgID, limit: 10_000)
            return (replay, record, messages, interactions)
        }
        guard var (replay, original, messages, interactions) = loaded else { return }
        do {
            try await play(&replay, original: original, messages: messages, interactions: interactions)
            replay.status = .completed
        } catch {
            replay.status = .failed
            replay.error = PlatformError(error).message
        }
        let finished = replay
        try await store.write { try await $0.simulations.update(finished) }
        logger.info("replayed a conversation", metadata: [
            "replay_id": "\(replay.id)", "conversation_id": "\(replay.conversationID)", "status": "\(replay.status.rawValue)",
            "first_divergence": "\(replay.firstDivergence.map(String.init) ?? "none")",
        ])
    }

    private func play(_ replay: inout ReplayReport, original: ConversationRecord, messages: [MessageInstance], interactions: [InteractionRecord]) async throws {
        let orgID = replay.orgID
        let started = now()
        let user = User(
            orgID: orgID, userID: ObjectID.generate(now: started), firstName: "Replay", lastName: "", email: "", roleID: "", createdAt: started
        )
        let caller = Principal.simulatedUser(user)
        let tag = SimulationTag(runID: nil, unitTestID: nil, runIndex: nil, clockOffset: original.createdAt.timeIntervalSince(started))
        let byInteraction = Dictionary(grouping: messages, by: \.interactionID)
        var conversationID: String?
        var ended = false
        for (index, interaction) in interactions.enumerated() {
            let recorded = byInteraction[interaction.id] ?? []
            let inputs = recorded.filter { $0.messageType == .userMessage || $0.messageType == .externalEvent }
            let originalSide = ReplaySide(
                states: Self.states(interaction.insights),
                agentMessage: recorded.last { $0.messageType == .agentMessage }?.message ?? ""
            )
            let shown = inputs.map { ($0.messageType == .userMessage ? "user: " : "event: ") + $0.message }
            guard !ended else {
                replay.steps.append(ReplayStep(index: index, input: shown, original: originalSide, replay: nil))
                continue
            }
            let pending: Conversations.PendingInteraction
            if let conversationID {
                let userMessage = inputs.last { $0.messageType == .userMessage }
                let events = inputs.filter { $0.messageType == .externalEvent }.map { (text: $0.message, at: $0.createdAt) }
                pending = try await conversations.prepareInteract(
                    orgID: orgID, conversationID: conversationID, caller: caller,
                    turn: .init(events: events, message: userMessage.map { (.userMessage, $0.message) }, checksEventTimes: false)
                )
            } else {
                pending = try await conversations.prepareSimulated(
                    orgID: orgID, serviceID: replay.serviceID, versionSetInfo: replay.replayed, user: user, userModel: original.userModel ?? [],
                    simulation: tag, initial: inputs.map { ($0.messageType, $0.message, $0.createdAt) }, at: started
                )
                conversationID = pending.record.id
                replay.replayConversationID = pending.record.id
            }
            let sink = CollectingSink()
            guard let outcome = await conversations.run(pending, events: sink) else {
                throw PlatformError.unavailable("Interaction \(index + 1) of the replay failed: \(sink.failure?.message ?? "unknown error")")
            }
            replay.steps.append(ReplayStep(
                index: index, input: shown, original: originalSide,
                replay: ReplaySide(states: Self.states(outcome.insights), agentMessage: outcome.agentMessage.message)
            ))
            if outcome.conversationCompleted, index < interactions.count - 1 {
                ended = true
                replay.endedEarly = true
            } else if outcome.conversationCompleted {
                ended = true
            }
        }
        if let conversationID, !ended { try? await conversations.finish(orgID: orgID, conversationID: conversationID, caller: caller) }
        replay.firstDivergence = replay.steps.first { $0.diverged }?.index
        if let conversationID { replay.metrics = try await judge(original: original, replayID: conversationID, orgID: orgID) }
    }

    /// The state an interaction started in, then each state it moved to.
    static func states(_ insights: InteractionInsights) -> [String] {
        guard let first = insights.stateTransitionLogs.first else { return [insights.currentStateName] }
        return [first.previousState] + insights.stateTransitionLogs.map(\.nextState)
    }

    /// Each metric applied to the service, before (stored, else judged) and after.
    private func judge(original: ConversationRecord, replayID: String, orgID: String) async throws -> [ReplayMetric] {
        guard let models = metrics.models else { return [] }
        let (applied, stored, before, after) = try await store.read { repositories in
            let applied = try await repositories.metrics.all(orgID: orgID).filter { !$0.isDeleted && $0.appliedToServices.contains(original.serviceID) }
            var filter = MetricResultFilter()
            filter.conversationIDs = [original.id]
            let stored = applied.isEmpty ? [] : try await repositories.metrics.results(
                orgID: orgID, filter: filter, ascending: false, page: PageRequest(limit: 500, offset: 0)
            ).items
            func transcript(_ id: String) async throws -> [MessageInstance] {
                try await repositories.conversations.recentMessages(conversationID: id, orgID: orgID, limit: 2_000)
                    .filter { $0.messageType != .agentInnerThought }
            }
            return (applied, stored, applied.isEmpty ? [] : try await transcript(original.id), applied.isEmpty ? [] : try await transcript(replayID))
        }
        var compared: [ReplayMetric] = []
        for metric in applied {
            var problems: [String] = []
            var beforeValue = stored.first { $0.metricID == metric.id }?.result
            if beforeValue == nil {
                do {
                    beforeValue = try await metrics.judge(metric, messages: before, preferences: original.versionSetInfo.llmModelPreferences, models: models).value
                } catch {
                    problems.append("before: \(PlatformError(error).message)")
                }
            }
            var afterValue: MetricResult?
            do {
                afterValue = try await metrics.judge(metric, messages: after, preferences: original.versionSetInfo.llmModelPreferences, models: models).value
            } catch {
                problems.append("after: \(PlatformError(error).message)")
            }
            compared.append(ReplayMetric(
                metricID: metric.id, name: metric.name, before: beforeValue, after: afterValue, error: problems.isEmpty ? nil : problems.joined(separator: "; ")
            ))
        }
        return compared
    }
}
