import Foundation

// Replays: Compadre's own API (outside the Amigo paths) that plays a recorded conversation's user turns
// against another version set of its service and reports where the agent's path diverges.

/// Body of `POST /v1/{org}/compadre/replay/`.
public struct CreateReplayRequest: Codable, Sendable, ValidatableRequest {
    public var conversationID: String
    /// The version set of the conversation's service to replay against.
    public var serviceVersionSetName: String

    public init(conversationID: String, serviceVersionSetName: String) {
        self.conversationID = conversationID
        self.serviceVersionSetName = serviceVersionSetName
    }

    enum CodingKeys: String, CodingKey {
        case conversationID = "conversation_id"
        case serviceVersionSetName = "service_version_set_name"
    }

    public func validate(into c: inout ValidationCollector) {
        c.objectID(conversationID, at: ["conversation_id"])
        c.nonEmpty(serviceVersionSetName, at: ["service_version_set_name"])
    }
}

/// One side of a replayed interaction: the states the agent went through and what it said.
public struct ReplaySide: Codable, Sendable, Hashable {
    /// The state the interaction started in, then each state it moved to.
    public var states: [String]
    public var agentMessage: String

    public init(states: [String], agentMessage: String) {
        self.states = states
        self.agentMessage = agentMessage
    }

    enum CodingKeys: String, CodingKey {
        case states
        case agentMessage = "agent_message"
    }
}

/// One interaction, side by side.
public struct ReplayStep: Codable, Sendable, Hashable {
    /// 0-based, in the order of the original conversation.
    public var index: Int
    /// What the user (or the user's systems) sent: `user: …` / `event: …`.
    public var input: [String]
    public var original: ReplaySide
    /// Nil when the replay ended before this interaction.
    public var replay: ReplaySide?
    /// Whether the states differ.
    public var diverged: Bool

    public init(index: Int, input: [String], original: ReplaySide, replay: ReplaySide?) {
        self.index = index
        self.input = input
        self.original = original
        self.replay = replay
        self.diverged = replay?.states != original.states
    }

    enum CodingKeys: String, CodingKey {
        case index, input, original, replay, diverged
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(input, forKey: .input)
        try c.encode(original, forKey: .original)
        try c.encode(replay, forKey: .replay)
        try c.encode(diverged, forKey: .diverged)
    }
}

/// A metric's value on the original conversation and on the replay.
public struct ReplayMetric: Codable, Sendable, Hashable {
    public var metricID: String
    public var name: String
    public var before: MetricResult?
    public var after: MetricResult?
    /// Why a value is missing (the judge failed).
    public var error: String?

    public init(metricID: String, name: String, before: MetricResult?, after: MetricResult?, error: String?) {
        self.metricID = metricID
        self.name = name
        self.before = before
        self.after = after
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case metricID = "metric_id"
        case name, before, after, error
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(metricID, forKey: .metricID)
        try c.encode(name, forKey: .name)
        try c.encode(before ?? .notApplicable, forKey: .before)
        try c.encode(after ?? .notApplicable, forKey: .after)
        try c.encode(error, forKey: .error)
    }
}

/// A replay and, once it ran, its report.
public struct ReplayReport: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable {
        case running
        case completed
        case failed
    }

    public var id: String
    public var orgID: String
    public var createdAt: Date
    public var creator: UserInfo
    public var status: Status
    public var error: String?
    public var conversationID: String
    public var replayConversationID: String?
    public var serviceID: String
    public var original: VersionSetInfo
    public var replayed: VersionSetInfo
    public var steps: [ReplayStep]
    /// The first interaction whose states differ; nil when none does.
    public var firstDivergence: Int?
    /// Set when the replay reached its graph's end before the original's turns ran out.
    public var endedEarly: Bool
    public var metrics: [ReplayMetric]

    public init(
        id: String, orgID: String, createdAt: Date, creator: UserInfo, conversationID: String, serviceID: String, original: VersionSetInfo,
        replayed: VersionSetInfo
    ) {
        self.id = id
        self.orgID = orgID
        self.createdAt = createdAt
        self.creator = creator
        self.status = .running
        self.error = nil
        self.conversationID = conversationID
        self.replayConversationID = nil
        self.serviceID = serviceID
        self.original = original
        self.replayed = replayed
        self.steps = []
        self.firstDivergence = nil
        self.endedEarly = false
        self.metrics = []
    }

    enum CodingKeys: String, CodingKey {
        case id
        case orgID = "org_id"
        case createdAt = "created_at"
        case creator, status, error
        case conversationID = "conversation_id"
        case replayConversationID = "replay_conversation_id"
        case serviceID = "service_id"
        case original = "original_version_set_info"
        case replayed = "replay_version_set_info"
        case steps
        case firstDivergence = "first_divergence"
        case endedEarly = "ended_early"
        case metrics
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        orgID = try c.decode(String.self, forKey: .orgID)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        creator = try c.decode(UserInfo.self, forKey: .creator)
        status = try c.decode(Status.self, forKey: .status)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        conversationID = try c.decode(String.self, forKey: .conversationID)
        replayConversationID = try c.decodeIfPresent(String.self, forKey: .replayConversationID)
        serviceID = try c.decode(String.self, forKey: .serviceID)
        original = try c.decode(VersionSetInfo.self, forKey: .original)
        replayed = try c.decode(VersionSetInfo.self, forKey: .replayed)
        steps = try c.decode([ReplayStep].self, forKey: .steps)
        firstDivergence = try c.decodeIfPresent(Int.self, forKey: .firstDivergence)
        endedEarly = try c.decode(Bool.self, forKey: .endedEarly)
        metrics = try c.decode([ReplayMetric].self, forKey: .metrics)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(creator, forKey: .creator)
        try c.encode(status, forKey: .status)
        try c.encode(error, forKey: .error)
        try c.encode(conversationID, forKey: .conversationID)
        try c.encode(replayConversationID, forKey: .replayConversationID)
        try c.encode(serviceID, forKey: .serviceID)
        try c.encode(original, forKey: .original)
        try c.encode(replayed, forKey: .replayed)
        try c.encode(steps, forKey: .steps)
        try c.encode(firstDivergence, forKey: .firstDivergence)
        try c.encode(endedEarly, forKey: .endedEarly)
        try c.encode(metrics, forKey: .metrics)
    }

    /// The report as text: the first divergence, then each interaction side by side, then the metrics.
    public var summary: String {
        var text = "Replay \(id) of conversation \(conversationID) on version set `\(replayed.name)` (was `\(original.name)`): \(status.rawValue)\n"
        if let error { text += "Error: \(error)\n" }
        if status == .completed {
            if let first = firstDivergence, let step = steps.first(where: { $0.index == first }) {
                text += "First divergence at interaction \(first + 1): \(step.original.states.joined(separator: " → ")) "
                text += "became \(step.replay.map { $0.states.joined(separator: " → ") } ?? "(no interaction)")\n"
            } else {
                text += "No divergence: every interaction went through the same states.\n"
            }
            if endedEarly { text += "The replay reached the end of its graph before the original's turns ran out.\n" }
        }
        for step in steps {
            text += "\n\(step.diverged ? "≠" : "=") Interaction \(step.index + 1)\n"
            for input in step.input { text += "    \(input)\n" }
            text += "    original: \(step.original.states.joined(separator: " → "))\n      agent: \(step.original.agentMessage)\n"
            if let replay = step.replay {
                text += "    replay:   \(replay.states.joined(separator: " → "))\n      agent: \(replay.agentMessage)\n"
            } else {
                text += "    replay:   (ended before this interaction)\n"
            }
        }
        if !metrics.isEmpty { text += "\nMetrics (before → after):\n" }
        for metric in metrics {
            func show(_ value: MetricResult?) -> String {
                switch value {
                case .none, .notApplicable?: "n/a"
                case .bool(let flag)?: "\(flag)"
                case .number(let number)?: number == number.rounded() ? "\(Int(number))" : "\(number)"
                case .category(let name)?: name
                }
            }
            text += "    \(metric.name): \(show(metric.before)) → \(show(metric.after))\(metric.error.map { " (\($0))" } ?? "")\n"
        }
        return text
    }
}

/// Answer of `POST /v1/{org}/compadre/replay/`.
public struct CreateReplayResponse: Codable, Sendable {
    public var replayID: String

    public init(replayID: String) { self.replayID = replayID }

    enum CodingKeys: String, CodingKey { case replayID = "replay_id" }
}
