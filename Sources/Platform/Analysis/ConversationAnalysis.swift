import AmigoWire
import Engine
import Foundation
import Logging
import Storage
import Synchronization

/// Post-conversation analysis as durable jobs: when a conversation ends, `extract-memories` keeps
/// what is worth remembering about the user, then `generate-user-models` rewrites the user's model
/// along the organization's user dimensions from the memories and `additional_context`; beside them
/// `compute-metrics` judges the conversation by the metrics applied to its service.
///
/// Rules:
/// - Ending a conversation enqueues `extract-memories` and `compute-metrics` in the transaction that
///   ends it (one of each per conversation: the idempotency keys are the conversation's); the success of
///   `extract-memories` enqueues `generate-user-models` in the transaction that stores the memories.
/// - `compute-metrics` stores one `post-session` result per metric (not deleted) applied to the service,
///   replacing an earlier post-session result of that metric; a metric the model cannot judge fails the
///   job after the others are stored, so it runs again (and, failed for good, keeps its error).
/// - Each type, once done, is added to the conversation's `completed_post_processings` (under a lock of
///   the conversation's analysis: the jobs run at once); the conversation `is_analyzed` when all three are.
/// - A job runs again after a crash or a failure (see ``JobRunner``); extracting again replaces the
///   conversation's memories, so a rerun never duplicates them.
/// - Finishing a finished conversation whose analysis failed for good queues the failed jobs again.
public struct ConversationAnalysis: Sendable {
    public static let extractMemories = "extract-memories"
    public static let generateUserModels = "generate-user-models"
    public static let computeMetrics = "compute-metrics"
    static let types = [extractMemories, generateUserModels, computeMetrics]

    let store: Store
    let models: LanguageModels
    let embedder: (any Embedder)?
    let logger: Logger
    let now: @Sendable () -> Date
    /// Rings the job runner after a commit that enqueued work.
    public let doorbell = JobDoorbell()
    /// Where finished analysis types are announced (nil: nowhere).
    public var webhooks: Webhooks?

    public init(
        store: Store, models: LanguageModels, embedder: (any Embedder)?, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.models = models
        self.embedder = embedder
        self.logger = logger
        self.now = now
    }

    /// The runner's handlers of the analysis kinds.
    public var handlers: [String: JobRunner.Handler] {
        [
            Self.extractMemories: { job in try await extractMemories(job); webhooks?.doorbell.ring() },
            Self.generateUserModels: { job in try await generateUserModels(job); webhooks?.doorbell.ring() },
            Self.computeMetrics: { job in try await computeMetrics(job); webhooks?.doorbell.ring() },
        ]
    }

    /// Enqueues the analysis of `record`, which ends in the transaction of `repositories`.
    func enqueue(_ record: ConversationRecord, in repositories: Repositories) async throws {
        try await enqueue(Self.extractMemories, for: record, in: repositories)
        try await enqueue(Self.computeMetrics, for: record, in: repositories)
    }

    private func enqueue(_ kind: String, for record: ConversationRecord, in repositories: Repositories) async throws {
        let date = now()
        _ = try await repositories.jobs.enqueue(JobRecord(
            id: ObjectID.generate(now: date), orgID: record.orgID, kind: kind, subject: record.id,
            payload: try WireEncoder().string(["conversation_id": record.id]), idempotencyKey: "analysis/\(record.id)/\(kind)",
            runAfter: date, createdAt: date
        ))
    }

    /// What a finish of the finished `record` does: queues its failed analysis again (true), or nothing
    /// when the analysis is done or still running (false).
    func retryFailed(_ record: ConversationRecord, in repositories: Repositories) async throws -> Bool {
        let failed = try await repositories.jobs.jobs(subject: record.id, orgID: record.orgID)
            .filter { Self.types.contains($0.kind) && $0.state == .failed }
        for job in failed { try await repositories.jobs.requeue(job.id, now: now()) }
        return !failed.isEmpty
    }

    // MARK: - extract-memories

    func extractMemories(_ job: JobRecord) async throws {
        let (record, messages) = try await store.read { repositories -> (ConversationRecord?, [MessageInstance]) in
            guard let record = try await repositories.conversations.get(id: job.subject, orgID: job.orgID) else { return (nil, []) }
            let messages = try await repositories.conversations.recentMessages(conversationID: record.id, orgID: job.orgID, limit: 400)
            return (record, messages.filter { $0.messageType != .agentInnerThought })
        }
        // A conversation deleted since has nothing to analyse.
        guard let record else { return }
        var found: [Prompts.FoundMemory] = []
        if messages.contains(where: { $0.messageType == .userMessage || $0.messageType == .externalEvent }) {
            let request = Prompts.conversationMemories(messages, persona: Persona(name: "", role: "assistant"))
            let answer = try await models.call(.extractMemories, preferences: record.versionSetInfo.llmModelPreferences).complete(request)
            found = try Prompts.memories(in: answer.text, messageCount: messages.count)
        }
        let vectors = await embed(found.map(\.content))
        let date = now()
        let memories = found.enumerated().map { index, memory in
            StoredMemory(
                memory: Memory(
                    id: ObjectID.generate(now: date), createdAt: date, conversationID: record.id,
                    references: memory.messages.map { messages[$0 - 1].id }, content: memory.content, context: memory.context
                ),
                userID: record.userID,
                vector: vectors.map { TriggerVectors(model: $0.model, vectors: [$0.vectors[index]]) }
            )
        }
        try await store.write { repositories in
            guard var current = try await Self.lockedRecord(record, in: repositories) else { return }
            try await repositories.memories.deleteMemories(conversationID: record.id, orgID: record.orgID)
            for memory in memories { try await repositories.memories.insert(memory, orgID: record.orgID) }
            if !current.completedPostProcessings.contains(Self.extractMemories) {
                try await complete(Self.extractMemories, in: &current, repositories)
                try await repositories.conversations.update(current)
            }
            try await enqueue(Self.generateUserModels, for: current, in: repositories)
        }
        doorbell.ring()
        logger.info("memories extracted", metadata: ["conversation_id": "\(record.id)", "memories": "\(memories.count)"])
    }

    /// The vectors of `texts`, or nil without an embedder or when it failed (memories are then found
    /// by recency only).
    private func embed(_ texts: [String]) async -> TriggerVectors? {
        guard let embedder, !texts.isEmpty else { return nil }
        guard let vectors = try? await embedder.embed(texts), vectors.count == texts.count else { return nil }
        return TriggerVectors(model: embedder.model, vectors: vectors)
    }

    // MARK: - generate-user-models

    func generateUserModels(_ job: JobRecord) async throws {
        let loaded = try await store.read { repositories -> (ConversationRecord, User?, Organization?, [StoredMemory], StoredUserModel?)? in
            guard let record = try await repositories.conversations.get(id: job.subject, orgID: job.orgID) else { return nil }
            return (
                record,
                try await repositories.users.get(id: record.userID, orgID: job.orgID),
                try await repositories.organizations.get(job.orgID),
                try await repositories.memories.memories(userID: record.userID, orgID: job.orgID),
                try await repositories.memories.userModel(userID: record.userID, orgID: job.orgID)
            )
        }
        guard let (record, user, organization, stored, previous) = loaded, let user else { return }
        let memories = Array(stored.prefix(50))
        let dimensions = organization?.userDimensions ?? []
        var userModels: [UserModel] = []
        if !memories.isEmpty || !user.additionalContext.isEmpty {
            let request = Prompts.userModel(
                memories: memories.map(\.memory.content), additionalContext: user.additionalContext,
                dimensions: dimensions.map(\.description), previous: previous?.userModels.map(\.content) ?? []
            )
            let answer = try await models.call(.generateUserModels, preferences: record.versionSetInfo.llmModelPreferences).complete(request)
            let descriptions = try Prompts.userModelDescriptions(in: answer.text, count: max(1, dimensions.count))
            let insightIDs = memories.map(\.memory.id)
            userModels = dimensions.isEmpty
                ? [UserModel(content: descriptions[0], insightIDs: insightIDs, dimensions: [])]
                : zip(descriptions, dimensions).map { UserModel(content: $0, insightIDs: insightIDs, dimensions: [$1]) }
        }
        let date = now()
        try await store.write { [userModels] repositories in
            try await repositories.memories.save(StoredUserModel(userModels: userModels, updatedAt: date), userID: record.userID, orgID: record.orgID)
            guard var current = try await Self.lockedRecord(record, in: repositories) else { return }
            try await complete(Self.generateUserModels, in: &current, repositories)
            try await repositories.conversations.update(current)
        }
        logger.info("user model generated", metadata: ["conversation_id": "\(record.id)", "user_models": "\(userModels.count)"])
    }

    // MARK: - compute-metrics

    func computeMetrics(_ job: JobRecord) async throws {
        guard let record = try await store.read({ try await $0.conversations.get(id: job.subject, orgID: job.orgID) }) else { return }
        let judged = try await ConversationMetrics(store: store, models: models, now: now).computePostSession(record)
        try await store.write { repositories in
            guard var current = try await Self.lockedRecord(record, in: repositories) else { return }
            try await complete(Self.computeMetrics, in: &current, repositories)
            try await repositories.conversations.update(current)
        }
        logger.info("metrics computed", metadata: ["conversation_id": "\(record.id)", "metrics": "\(judged)"])
    }

    /// The conversation's record read again under a lock of its analysis: the analysis jobs of one
    /// conversation run at once and each adds itself to `completed_post_processings` (on PostgreSQL two of
    /// them reading the record before either wrote lost one addition).
    static func lockedRecord(_ record: ConversationRecord, in repositories: Repositories) async throws -> ConversationRecord? {
        try await repositories.serialize("conversation-analysis/\(record.id)")
        return try await repositories.conversations.get(id: record.id, orgID: record.orgID)
    }

    /// Adds `kind` to the conversation's completed post-processings; analysed once all are.
    static func complete(_ kind: String, in record: inout ConversationRecord) {
        if !record.completedPostProcessings.contains(kind) { record.completedPostProcessings.append(kind) }
        record.isAnalyzed = types.allSatisfy(record.completedPostProcessings.contains)
    }

    /// Adds `kind` to the record's completed types and, the first time, tells the organization's webhook
    /// destinations (`conversation-post-processing-complete`) in the same transaction.
    func complete(_ kind: String, in record: inout ConversationRecord, _ repositories: Repositories) async throws {
        let first = !record.completedPostProcessings.contains(kind)
        Self.complete(kind, in: &record)
        guard first, let webhooks else { return }
        try await webhooks.emit(.conversationPostProcessingComplete, content: [
            "post_processing_type": .string(kind), "conversation_id": .string(record.id), "org_id": .string(record.orgID),
        ], orgID: record.orgID, in: repositories)
    }
}

/// How work enqueued in a transaction reaches the job runner without waiting for its next poll.
public final class JobDoorbell: Sendable {
    private let handlers = Mutex<[@Sendable () -> Void]>([])

    public init() {}

    /// Calls `handler` at every ring (the runner's ``JobRunner/wake()``).
    public func onRing(_ handler: @escaping @Sendable () -> Void) {
        handlers.withLock { $0.append(handler) }
    }

    public func ring() {
        for handler in handlers.withLock({ $0 }) { handler() }
    }
}
