import Foundation

/// Response of `GET /v1/{org}/conversation/{id}/interaction/{interaction_id}/insights`: how the agent
/// navigated the context graph during one interaction.
public struct InteractionInsights: Codable, Sendable, Hashable {
    public var currentStateName: String
    public var currentStateAction: String
    public var currentStateObjective: String
    /// In the order the transitions happened.
    public var stateTransitionLogs: [StateTransitionLog]
    public var workingMemory: [WorkingMemory]
    public var reflections: [String]
    /// The dynamic behavior set activated in this interaction; always encoded, `null` when none.
    public var triggeredDynamicBehaviorSetVersionInfo: VersionInfo?
    /// One list per round of tool calls.
    public var selectNextActionToolCallLogs: [[ToolCallLog]]
    public var engageUserToolCallLogs: [[ToolCallLog]]

    public init(
        currentStateName: String, currentStateAction: String, currentStateObjective: String,
        stateTransitionLogs: [StateTransitionLog] = [], workingMemory: [WorkingMemory] = [], reflections: [String] = [],
        triggeredDynamicBehaviorSetVersionInfo: VersionInfo? = nil,
        selectNextActionToolCallLogs: [[ToolCallLog]] = [], engageUserToolCallLogs: [[ToolCallLog]] = []
    ) {
        self.currentStateName = currentStateName
        self.currentStateAction = currentStateAction
        self.currentStateObjective = currentStateObjective
        self.stateTransitionLogs = stateTransitionLogs
        self.workingMemory = workingMemory
        self.reflections = reflections
        self.triggeredDynamicBehaviorSetVersionInfo = triggeredDynamicBehaviorSetVersionInfo
        self.selectNextActionToolCallLogs = selectNextActionToolCallLogs
        self.engageUserToolCallLogs = engageUserToolCallLogs
    }

    enum CodingKeys: String, CodingKey {
        case currentStateName = "current_state_name"
        case currentStateAction = "current_state_action"
        case currentStateObjective = "current_state_objective"
        case stateTransitionLogs = "state_transition_logs"
        case workingMemory = "working_memory"
        case reflections
        case triggeredDynamicBehaviorSetVersionInfo = "triggered_dynamic_behavior_set_version_info"
        case selectNextActionToolCallLogs = "select_next_action_tool_call_logs"
        case engageUserToolCallLogs = "engage_user_tool_call_logs"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(currentStateName, forKey: .currentStateName)
        try c.encode(currentStateAction, forKey: .currentStateAction)
        try c.encode(currentStateObjective, forKey: .currentStateObjective)
        try c.encode(stateTransitionLogs, forKey: .stateTransitionLogs)
        try c.encode(workingMemory, forKey: .workingMemory)
        try c.encode(reflections, forKey: .reflections)
        try c.encode(triggeredDynamicBehaviorSetVersionInfo, forKey: .triggeredDynamicBehaviorSetVersionInfo)
        try c.encode(selectNextActionToolCallLogs, forKey: .selectNextActionToolCallLogs)
        try c.encode(engageUserToolCallLogs, forKey: .engageUserToolCallLogs)
    }
}
