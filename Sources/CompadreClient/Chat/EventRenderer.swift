import AmigoWire

/// Turns conversation events into the text a terminal shows, with no I/O: the caller writes each
/// returned string as it is (no newline is added) and flushes.
///
/// The agent's reply is written piece by piece as it streams and its line ends at
/// `interaction-complete`. Agent actions are dimmed, one per line (a state transition as
/// `→ state transition: greet → triage`, others as `· action: <type>`; message fragments are skipped
/// as the reply itself shows them, and so are the steps of dynamic-behavior selection that selected
/// nothing unless ``showsEveryAction``); errors are red. Lines of actions or errors that arrive in the
/// middle of the reply start on a line of their own.
public struct EventRenderer: Sendable {
    public var style: TerminalStyle
    /// Also show the dynamic-behavior selection steps that every interaction goes through.
    public var showsEveryAction: Bool
    /// Agent text was written and its line not ended yet.
    private var midLine = false
    /// Whether the current interaction's reply came as `new-message` pieces.
    private var wroteReply = false

    public init(style: TerminalStyle, showsEveryAction: Bool = false) {
        self.style = style
        self.showsEveryAction = showsEveryAction
    }

    public mutating func render(_ event: ConversationEvent) -> String {
        switch event {
        case .conversationCreated(let conversationID):
            return line(style.dim("· conversation \(conversationID)"))
        case .userMessageAvailable:
            wroteReply = false
            return ""
        case .newMessage(let message):
            guard !message.message.isEmpty else { return "" }
            midLine = true
            wroteReply = true
            return message.message
        case .interactionComplete(let complete):
            var output = ""
            if midLine {
                output = "\n"
                midLine = false
            } else if !wroteReply, !complete.fullMessage.isEmpty {
                output = complete.fullMessage + "\n"
            }
            wroteReply = false
            if complete.conversationCompleted {
                output += style.dim("· the agent finished the conversation") + "\n"
            }
            return output
        case .currentAgentAction(let action):
            switch action {
            case .messageFragmentGenerated:
                return ""
            case .selectDynamicBehaviorVectorGenerated, .selectDynamicBehaviorRelevanceRetrievalCompleted,
                 .selectDynamicBehaviorCompleted(selected: nil, _):
                return showsEveryAction ? line(style.dim("· action: \(action.type)")) : ""
            case .stateTransitioned(let previous, _, let next, _):
                return line(style.dim("→ state transition: \(previous) → \(next)"))
            default:
                return line(style.dim("· action: \(action.type)"))
            }
        case .error(let code, let description):
            return line(style.red("✗ error \(code): \(description)"))
        }
    }

    /// A note of the chat itself (`/help`, a finished conversation), dimmed, on its own line.
    public mutating func note(_ text: String) -> String {
        line(style.dim(text))
    }

    /// A failure of the chat (a request that failed), red, on its own line.
    public mutating func failure(_ text: String) -> String {
        line(style.red("✗ " + text))
    }

    /// Insights of an interaction, compactly.
    public mutating func render(_ insights: InteractionInsights) -> String {
        var lines = ["state: \(insights.currentStateName) (\(insights.currentStateAction))"]
        if !insights.currentStateObjective.isEmpty { lines.append("objective: \(insights.currentStateObjective)") }
        if let first = insights.stateTransitionLogs.first {
            let path = [first.previousState] + insights.stateTransitionLogs.map(\.nextState)
            lines.append("transitions: " + path.joined(separator: " → "))
        }
        for reflection in insights.reflections { lines.append("reflection: \(reflection)") }
        for memory in insights.workingMemory { lines.append("memory: \(memory.content)") }
        if let behavior = insights.triggeredDynamicBehaviorSetVersionInfo {
            lines.append("dynamic behavior: \(behavior.id) v\(behavior.version)")
        }
        let toolCalls = (insights.selectNextActionToolCallLogs + insights.engageUserToolCallLogs).joined().count
        if toolCalls > 0 { lines.append("tool calls: \(toolCalls)") }
        return lines.map { self.line(style.dim($0)) }.joined()
    }

    private mutating func line(_ text: String) -> String {
        defer { midLine = false }
        return (midLine ? "\n" : "") + text + "\n"
    }
}
