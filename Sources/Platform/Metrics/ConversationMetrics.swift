import AmigoWire
import Engine
import Foundation
import Storage

/// The organization's metrics (measures that judge conversations): their rules (a name unique among
/// metrics that are not deleted, services that exist, name and value type fixed once created, deletion
/// soft), their listings, and their evaluation.
///
/// Evaluation is the model as a judge: one call per metric over the transcript (user and agent messages
/// and external events, up to the interaction asked for), its answer constrained by a schema made from
/// the metric's type. An answer that still does not fit (wrong type, out of bounds, not a category) is
/// asked again, up to ``judgeAttempts`` times; then the evaluation fails (503) and stores nothing — a
/// value is never made up. `null` means "not applicable" and is a result like any other.
public struct ConversationMetrics: Sendable {
    public let store: Store
    let models: LanguageModels?
    let now: @Sendable () -> Date
    static let judgeAttempts = 3

    public init(store: Store, models: LanguageModels? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.models = models
        self.now = now
    }

    // MARK: - Evaluation

    /// Judges `request.metricIDs` over the conversation (up to `evaluate_to_interaction_id`), stores each
    /// result with source `manual` (replacing the caller's earlier manual result for the same conversation
    /// and metric), and answers them in request order.
    public func evaluate(_ request: EvaluateMetricsRequest, caller: Principal) async throws -> [MetricEvaluation] {
        let orgID = caller.orgID
        guard let models else { throw PlatformError.unavailable("This server has no language model to judge metrics with.") }
        let (record, metrics, messages) = try await store.read { repositories in
            let record = try await repositories.conversation(
                request.conversationID, orgID: orgID, caller: caller, requiring: "Conversation:GetMessage"
            )
            let found = try await repositories.metrics.get(ids: request.metricIDs, orgID: orgID)
            let metrics = try request.metricIDs.uniqued.map { id in
                guard let metric = found.first(where: { $0.id == id }) else { throw PlatformError.notFound("Metric `\(id)` does not exist.") }
                if metric.isDeleted { throw PlatformError.notFound("Metric `\(id)` was deleted.") }
                return metric
            }
            if record.interactionCount == 0 { throw PlatformError.badRequest("The conversation has no interactions.") }
            var messages = try await repositories.conversations.recentMessages(conversationID: record.id, orgID: orgID, limit: 2_000)
            if let last = request.evaluateToInteractionID {
                guard let end = messages.lastIndex(where: { $0.interactionID == last }) else {
                    throw PlatformError.notFound("Interaction `\(last)` is not part of this conversation.")
                }
                messages = Array(messages[...end])
            }
            return (record, metrics, messages.filter { $0.messageType != .agentInnerThought })
        }
        var judged: [String: Prompts.Judgement] = [:]
        for metric in metrics {
            judged[metric.id] = try await judge(metric, messages: messages, preferences: record.versionSetInfo.llmModelPreferences, models: models)
        }
        let date = now()
        let results = metrics.map { metric in
            let judgement = judged[metric.id]!
            return MetricEvaluationResultInstance(
                id: ObjectID.generate(now: date), orgID: orgID, createdAt: date, metricID: metric.id, result: judgement.value,
                justification: judgement.justification,
                source: .manual(
                    conversationID: record.id, evaluateToInteractionID: request.evaluateToInteractionID, invokedBy: caller.userInfo,
                    references: judgement.messages.map { messages[$0 - 1].id }
                )
            )
        }
        try await store.write { repositories in
            // One writer of a conversation's results at a time: a result replaces the earlier one of its kind.
            try await repositories.serialize("metric-results/\(record.id)")
            for result in results { try await repositories.metrics.save(result) }
        }
        return request.metricIDs.map { id in
            let (metric, result) = zip(metrics, results).first { $0.0.id == id }!
            return MetricEvaluation(
                metricID: id, name: metric.name, value: result.result, references: result.source.references, justification: result.justification
            )
        }
    }

    /// Judges `record` by every metric (not deleted) applied to its service and stores each result with
    /// source `post-session`, replacing an earlier one; returns how many were judged. A metric the model
    /// cannot judge is not stored: after the others are, the call throws naming it.
    func computePostSession(_ record: ConversationRecord) async throws -> Int {
        guard let models else { throw PlatformError.unavailable("This server has no language model to judge metrics with.") }
        let (metrics, messages) = try await store.read { repositories in
            let metrics = try await repositories.metrics.all(orgID: record.orgID)
                .filter { !$0.isDeleted && $0.appliedToServices.contains(record.serviceID) }
            let messages = metrics.isEmpty ? [] : try await repositories.conversations.recentMessages(conversationID: record.id, orgID: record.orgID, limit: 2_000)
            return (metrics, messages.filter { $0.messageType != .agentInnerThought })
        }
        guard !metrics.isEmpty, !messages.isEmpty else { return 0 }
        var results: [MetricEvaluationResultInstance] = []
        var failures: [String] = []
        for metric in metrics {
            do {
                let judgement = try await judge(metric, messages: messages, preferences: record.versionSetInfo.llmModelPreferences, models: models)
                let date = now()
                results.append(MetricEvaluationResultInstance(
                    id: ObjectID.generate(now: date), orgID: record.orgID, createdAt: date, metricID: metric.id, result: judgement.value,
                    justification: judgement.justification,
                    source: .postSession(conversationID: record.id, references: judgement.messages.map { messages[$0 - 1].id })
                ))
            } catch {
                failures.append("\(metric.name): \(PlatformError(error).message)")
            }
        }
        try await store.write { [results] repositories in
            try await repositories.serialize("metric-results/\(record.id)")
            for result in results { try await repositories.metrics.save(result) }
        }
        if !failures.isEmpty { throw PlatformError.unavailable("Metrics not judged: \(failures.joined(separator: "; "))") }
        return results.count
    }

    /// One metric judged over `messages`: asked again while the answer does not fit the metric.
    func judge(
        _ metric: MetricInstance, messages: [MessageInstance], preferences: [String: LLMConfig], models: LanguageModels
    ) async throws -> Prompts.Judgement {
        let request = Prompts.metricJudgement(
            name: metric.name, description: metric.description, notes: metric.additionalNotes, value: metric.metricValue, transcript: messages
        )
        var problem = ""
        for _ in 0..<Self.judgeAttempts {
            let answer = try await models.call(.evaluateMetric, preferences: preferences).complete(request)
            do {
                return try Prompts.judgement(in: answer.text, for: metric.metricValue, messageCount: messages.count)
            } catch let error as LanguageModelError {
                problem = error.description
            }
        }
        throw PlatformError.unavailable("The model could not judge metric `\(metric.name)` in \(Self.judgeAttempts) attempts: \(problem)")
    }

    /// A page of stored results.
    public func results(
        orgID: String, filter: MetricResultFilter, ascending: Bool, page: PageRequest
    ) async throws -> Page<MetricEvaluationResultInstance> {
        let (result, metricIDs) = try await store.read { repositories in
            (
                try await repositories.metrics.results(orgID: orgID, filter: filter, ascending: ascending, page: page),
                page.offset == 0 ? try await repositories.metrics.resultMetricIDs(orgID: orgID, filter: filter) : nil
            )
        }
        return Page(
            itemsKey: "metric_evaluation_results", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken,
            filterValues: metricIDs.map { ["metric_ids": $0] }
        )
    }

    // MARK: - Metrics

    public func create(_ request: CreateMetricRequest, caller: Principal) async throws -> String {
        let orgID = caller.orgID
        let name = request.name.trimmingCharacters(in: .whitespacesAndNewlines)
        let metric = MetricInstance(
            id: ObjectID.generate(now: now()), orgID: orgID, createdAt: now(), name: name,
            description: request.description.trimmingCharacters(in: .whitespacesAndNewlines),
            appliedToServices: request.appliedToServices.uniqued,
            additionalNotes: request.additionalNotes?.trimmingCharacters(in: .whitespacesAndNewlines), tags: request.tagList,
            creator: caller.userInfo, metricValue: request.storedValue
        )
        try await store.write { repositories in
            try await repositories.serialize("metric-names/\(orgID)")
            try await repositories.requireServices(metric.appliedToServices, orgID: orgID)
            if try await repositories.metrics.live(named: name, orgID: orgID) != nil {
                throw PlatformError.conflict("A metric named `\(name)` already exists.")
            }
            try await repositories.metrics.insert(metric)
        }
        return metric.id
    }

    /// Changes what may change (description, services, notes, tags); a deleted metric cannot.
    public func update(_ id: String, _ request: UpdateMetricRequest, caller: Principal) async throws -> MetricInstance {
        let orgID = caller.orgID
        return try await store.write { repositories in
            var metric = try await Self.existing(id, orgID: orgID, in: repositories)
            if metric.isDeleted { throw PlatformError.notFound("Metric `\(id)` was deleted.") }
            if let description = request.description { metric.description = description.trimmingCharacters(in: .whitespacesAndNewlines) }
            if let services = request.appliedToServices {
                metric.appliedToServices = services.uniqued
                try await repositories.requireServices(metric.appliedToServices, orgID: orgID)
            }
            switch request.additionalNotes {
            case .unset: break
            case .null: metric.additionalNotes = nil
            case .value(let notes): metric.additionalNotes = notes.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if let tags = request.tags {
                metric.tags = tags.keys.sorted().map { key in
                    Tag(key: key.trimmingCharacters(in: .whitespacesAndNewlines), value: (tags[key] ?? nil)?.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
            metric.updatedAt = now()
            metric.updatedBy = caller.userInfo
            try await repositories.metrics.update(metric)
            return metric
        }
    }

    /// Soft delete: the metric keeps its id and results, can no longer change or be evaluated, and its
    /// name is free again. Deleting it twice is 404; a metric a simulation unit test (not deleted) uses is 400.
    public func delete(_ id: String, caller: Principal) async throws {
        let orgID = caller.orgID
        try await store.write { repositories in
            var metric = try await Self.existing(id, orgID: orgID, in: repositories)
            if metric.isDeleted { throw PlatformError.notFound("Metric `\(id)` was already deleted.") }
            let tests = try await repositories.simulations.unitTests.all(orgID: orgID)
            if let test = tests.first(where: { !$0.isDeleted && $0.successCriterions.contains { $0.metricID == id } }) {
                throw PlatformError.badRequest("The metric is used by the simulation unit test `\(test.name)`.")
            }
            metric.isDeleted = true
            metric.updatedAt = now()
            metric.updatedBy = caller.userInfo
            try await repositories.metrics.update(metric)
        }
    }

    public func list(orgID: String, filter: MetricFilter, sort: [SortKey], page: PageRequest) async throws -> Page<MetricInstance> {
        let all = try await store.read { try await $0.metrics.all(orgID: orgID) }
        var metrics = all.filter(filter.matches)
        metrics.sort { lhs, rhs in
            // The one sort field is `updated_at`.
            for key in sort where lhs.updatedAt != rhs.updatedAt {
                return key.ascending == (lhs.updatedAt < rhs.updatedAt)
            }
            return lhs.id < rhs.id
        }
        let result = PageResult(all: metrics, page: page)
        var filterValues: MetricFilterValues?
        if page.offset == 0 {
            filterValues = .init(
                appliedToServicesIDs: Set(metrics.flatMap(\.appliedToServices)).sorted(), creators: metrics.map(\.creator).uniqued,
                tags: Set(metrics.flatMap { $0.tags.map(\.key) }).sorted(), types: Set(metrics.map(\.metricValue.type)).sorted()
            )
        }
        return Page(itemsKey: "metrics", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken, filterValues: filterValues)
    }

    /// The metrics (not deleted) whose name or description contain the query's words, best first, at most 50.
    public func search(_ query: String, orgID: String, filter: MetricFilter) async throws -> [MetricInstance] {
        let terms = SearchText.words(query)
        guard !terms.isEmpty else { return [] }
        let metrics = try await store.read { try await $0.metrics.all(orgID: orgID) }.filter { !$0.isDeleted && filter.matches($0) }
        let scored = metrics.compactMap { metric -> (MetricInstance, Int)? in
            let score = SearchText.score(terms, name: metric.name, other: metric.description)
            return score > 0 ? (metric, score) : nil
        }
        return scored.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.updatedAt > $1.0.updatedAt }.prefix(50).map(\.0)
    }

    // MARK: - Helpers

    static func existing(_ id: String, orgID: String, in repositories: Repositories) async throws -> MetricInstance {
        guard let metric = try await repositories.metrics.get(id: id, orgID: orgID) else {
            throw PlatformError.notFound("Metric `\(id)` does not exist.")
        }
        return metric
    }
}

/// Filters of the metric listing and search.
public struct MetricFilter: Sendable {
    public var ids: [String] = []
    public var isDeleted: Bool?
    public var appliedToServices: [String] = []
    public var types: [String] = []
    /// `org_id,user_id` pairs, or bare user ids.
    public var creators: [String] = []
    public var tags: [TagMatch] = []

    public init() {}

    func matches(_ metric: MetricInstance) -> Bool {
        (ids.isEmpty || ids.contains(metric.id))
            && (isDeleted.map { $0 == metric.isDeleted } ?? true)
            && (appliedToServices.isEmpty || appliedToServices.contains { metric.appliedToServices.contains($0) })
            && (types.isEmpty || types.contains(metric.metricValue.type))
            && (creators.isEmpty || creators.contains { $0 == "\(metric.creator.orgID),\(metric.creator.userID)" || $0 == metric.creator.userID })
            && tags.allSatisfy { $0.matches(metric.tags) }
    }
}
