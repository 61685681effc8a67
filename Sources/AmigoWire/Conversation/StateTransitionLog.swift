import Foundation

/// One transition between context-graph states during an interaction. On the wire it is a flat object
/// whose `type` names the kind of state left (`action`, `decision`, `recall`, `jumpback`, `annotation`,
/// `reflection`, `tool-call`) and whose other fields depend on it.
public struct StateTransitionLog: Codable, Sendable, Hashable {
    public var previousState: String
    /// `previous_service_hierarchical_state_machine_version_info`: the graph the previous state is in.
    public var previousGraph: VersionInfo
    public var nextState: String
    /// `next_service_hierarchical_state_machine_version_info`: the graph the next state is in.
    public var nextGraph: VersionInfo
    public var detail: Detail

    /// What happened in the state that was left. `toolCallLogs` holds one list per round of tool calls.
    public enum Detail: Sendable, Hashable {
        case action(exitConditionDescription: String, toolCallLogs: [[ToolCallLog]])
        case decision(exitConditionDescription: String, toolCallLogs: [[ToolCallLog]])
        /// Only the queries actually run, not those already answered earlier in the conversation.
        case recall(performedQueries: [String])
        case jumpback
        case annotation(innerThoughtMessageID: String)
        case reflection(innerThoughtMessageID: String, toolCallLogs: [[ToolCallLog]])
        /// `toolCallLogs` excludes the designated tool's call, which is `designatedToolCallLog`.
        case toolCall(toolCallLogs: [[ToolCallLog]], designatedToolCallLog: ToolCallLog)

        /// The wire `type`.
        public var type: String {
            switch self {
            case .action: "action"
            case .decision: "decision"
            case .recall: "recall"
            case .jumpback: "jumpback"
            case .annotation: "annotation"
            case .reflection: "reflection"
            case .toolCall: "tool-call"
            }
        }
    }

    public init(previousState: String, previousGraph: VersionInfo, nextState: String, nextGraph: VersionInfo, detail: Detail) {
        self.previousState = previousState
        self.previousGraph = previousGraph
        self.nextState = nextState
        self.nextGraph = nextGraph
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey {
        case previousState = "previous_state"
        case previousGraph = "previous_service_hierarchical_state_machine_version_info"
        case nextState = "next_state"
        case nextGraph = "next_service_hierarchical_state_machine_version_info"
        case type
        case exitConditionDescription = "previous_state_exit_condition_description"
        case toolCallLogs = "tool_call_logs"
        case performedQueries = "performed_queries"
        case innerThoughtMessageID = "inner_thought_message_id"
        case designatedToolCallLog = "designated_tool_call_log"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        previousState = try c.decode(String.self, forKey: .previousState)
        previousGraph = try c.decode(VersionInfo.self, forKey: .previousGraph)
        nextState = try c.decode(String.self, forKey: .nextState)
        nextGraph = try c.decode(VersionInfo.self, forKey: .nextGraph)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "action":
            detail = .action(
                exitConditionDescription: try c.decode(String.self, forKey: .exitConditionDescription),
                toolCallLogs: try c.decode([[ToolCallLog]].self, forKey: .toolCallLogs))
        case "decision":
            detail = .decision(
                exitConditionDescription: try c.decode(String.self, forKey: .exitConditionDescription),
                toolCallLogs: try c.decode([[ToolCallLog]].self, forKey: .toolCallLogs))
        case "recall":
            detail = .recall(performedQueries: try c.decode([String].self, forKey: .performedQueries))
        case "jumpback":
            detail = .jumpback
        case "annotation":
            detail = .annotation(innerThoughtMessageID: try c.decode(String.self, forKey: .innerThoughtMessageID))
        case "reflection":
            detail = .reflection(
                innerThoughtMessageID: try c.decode(String.self, forKey: .innerThoughtMessageID),
                toolCallLogs: try c.decode([[ToolCallLog]].self, forKey: .toolCallLogs))
        case "tool-call":
            detail = .toolCall(
                toolCallLogs: try c.decode([[ToolCallLog]].self, forKey: .toolCallLogs),
                designatedToolCallLog: try c.decode(ToolCallLog.self, forKey: .designatedToolCallLog))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "Unknown state transition log type '\(type)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(previousState, forKey: .previousState)
        try c.encode(previousGraph, forKey: .previousGraph)
        try c.encode(nextState, forKey: .nextState)
        try c.encode(nextGraph, forKey: .nextGraph)
        try c.encode(detail.type, forKey: .type)
        switch detail {
        case .action(let description, let logs), .decision(let description, let logs):
            try c.encode(description, forKey: .exitConditionDescription)
            try c.encode(logs, forKey: .toolCallLogs)
        case .recall(let queries):
            try c.encode(queries, forKey: .performedQueries)
        case .jumpback:
            break
        case .annotation(let messageID):
            try c.encode(messageID, forKey: .innerThoughtMessageID)
        case .reflection(let messageID, let logs):
            try c.encode(messageID, forKey: .innerThoughtMessageID)
            try c.encode(logs, forKey: .toolCallLogs)
        case .toolCall(let logs, let designated):
            try c.encode(logs, forKey: .toolCallLogs)
            try c.encode(designated, forKey: .designatedToolCallLog)
        }
    }
}
