import AmigoWire
import Foundation

/// How the Engine reaches an organization's tools: it resolves the tool a context graph names and runs it.
///
/// Implementations: the Server's `PublishedTools` (published versions run in a sandbox, every invocation
/// recorded) and `ScriptedTools` in `CompadreTesting`.
///
/// Contract:
/// - `resolve` picks the highest published, non-deprecated version that satisfies the spec's
///   `version_constraint`; it throws ``ToolResolutionError`` when none does.
/// - `invoke` never throws for anything the tool does: a crash, a timeout or garbage output is a
///   failed ``ToolResult`` whose `output` tells the model what went wrong. It throws only when the
///   interaction itself is cancelled.
public protocol ToolRunner: Sendable {
    func resolve(_ spec: ToolCallSpec) async throws -> ResolvedTool
    func invoke(_ tool: ResolvedTool, input: [String: JSONValue], call: ToolCallContext) async throws -> ToolResult
}

/// A tool version chosen for a call, with what the model is told about it.
public struct ResolvedTool: Sendable, Hashable {
    public var id: String
    /// The tool's name, which is also the function name the model calls (`^[a-z0-9_]+$`).
    public var name: String
    public var description: String
    /// `major.minor.patch`.
    public var version: String
    /// JSON Schema of the input parameters, recorded when the version was published.
    public var inputSchema: JSONValue

    public init(id: String, name: String, description: String, version: String, inputSchema: JSONValue) {
        self.id = id
        self.name = name
        self.description = description
        self.version = version
        self.inputSchema = inputSchema
    }
}

/// Where in an interaction a tool is called, as invocation records report it.
public enum ToolCallSite: Sendable, Hashable {
    /// While choosing a transition (action or decision state), writing a reflection, or generating a
    /// designated tool's parameters. `stateTransitionIndex` counts the states processed in this
    /// navigation, the first being 1.
    case stateTransition(graph: VersionInfo, state: String, stateTransitionIndex: Int, round: Int)
    /// While writing the reply.
    case engageUser(graph: VersionInfo, round: Int)
    /// The designated tool of a tool-call state.
    case toolCallState(graph: VersionInfo, state: String)
}

/// Who and what a tool invocation belongs to.
public struct ToolCallContext: Sendable, Hashable {
    public var conversationID: String
    public var interactionID: String
    public var userID: String
    public var site: ToolCallSite

    public init(conversationID: String, interactionID: String, userID: String, site: ToolCallSite) {
        self.conversationID = conversationID
        self.interactionID = interactionID
        self.userID = userID
        self.site = site
    }
}

/// What a tool call produced. A failure's `output` is the error text the model sees.
public struct ToolResult: Sendable, Hashable {
    public var output: String
    public var succeeded: Bool
    /// Seconds.
    public var duration: Double

    public init(output: String, succeeded: Bool, duration: Double) {
        self.output = output
        self.succeeded = succeeded
        self.duration = duration
    }
}

/// No usable version of a tool a context graph names.
public struct ToolResolutionError: Error, Sendable, Hashable, CustomStringConvertible {
    public var toolID: String
    public var message: String

    public init(toolID: String, message: String) {
        self.toolID = toolID
        self.message = message
    }

    public var description: String { message }
}

/// The runner of a server without tools: every resolution fails with a message saying so.
public struct NoToolRunner: ToolRunner {
    public init() {}

    public func resolve(_ spec: ToolCallSpec) async throws -> ResolvedTool {
        throw ToolResolutionError(toolID: spec.toolID, message: "This server has no tool runner configured.")
    }

    public func invoke(_ tool: ResolvedTool, input: [String: JSONValue], call: ToolCallContext) async throws -> ToolResult {
        ToolResult(output: "Error: tools are not available.", succeeded: false, duration: 0)
    }
}

/// A tool result later LLM calls may see (`result_persistence` other than `ephemeral`).
public struct ToolResultNote: Sendable, Hashable {
    public var toolName: String
    /// The input as JSON text.
    public var input: String
    public var output: String

    public init(toolName: String, input: String, output: String) {
        self.toolName = toolName
        self.input = input
        self.output = output
    }
}

extension JSONValue {
    /// Compact JSON text with sorted keys (prompts, logs).
    var compactJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "null"
    }
}

extension ToolResultNote {
    /// The tool results earlier interactions kept for later LLM calls (the logs whose output was
    /// stored), oldest first, so a new interaction's prompts can show them.
    public static func persisted(in insights: [InteractionInsights]) -> [ToolResultNote] {
        var notes: [ToolResultNote] = []
        for insight in insights {
            var logs: [ToolCallLog] = []
            for transition in insight.stateTransitionLogs {
                switch transition.detail {
                case .action(_, let rounds), .decision(_, let rounds), .reflection(_, let rounds):
                    logs += rounds.joined()
                case .toolCall(let rounds, let designated):
                    logs += rounds.joined()
                    logs.append(designated)
                default:
                    continue
                }
            }
            // An action state's exit-condition tool calls are in both its transition log and here.
            for log in insight.selectNextActionToolCallLogs.joined() where !logs.contains(log) { logs.append(log) }
            logs += insight.engageUserToolCallLogs.joined()
            for log in logs {
                guard let output = log.output else { continue }
                notes.append(ToolResultNote(toolName: log.toolName, input: JSONValue.object(log.input).compactJSON, output: output))
            }
        }
        return notes
    }
}
