import AmigoWire
import Engine
import Foundation
import Synchronization

/// A `ToolRunner` for tests: tools are Swift closures, resolved by id whatever the version constraint.
/// Every invocation is recorded so tests can assert what the Engine called and where.
public final class ScriptedTools: ToolRunner {
    public typealias Handler = @Sendable ([String: JSONValue]) async -> ToolResult

    public struct Invocation: Sendable {
        public var tool: ResolvedTool
        public var input: [String: JSONValue]
        public var call: ToolCallContext
    }

    private struct State {
        var tools: [String: (ResolvedTool, Handler)] = [:]
        var invocations: [Invocation] = []
    }

    private let state = Mutex(State())
    /// The clock tool delays sleep on (a ``ManualClock`` makes a slow tool without waiting).
    private let clock: AnyClock

    public init(clock: AnyClock = .continuous) {
        self.clock = clock
    }

    /// Adds a tool whose calls answer `handler`'s result.
    public func add(_ tool: ResolvedTool, handler: @escaping Handler) {
        state.withLock { $0.tools[tool.id] = (tool, handler) }
    }

    /// Adds a tool that answers `output` to every call, after `delay` if given.
    public func add(_ tool: ResolvedTool, output: String, delay: Duration? = nil) {
        let clock = clock
        add(tool) { _ in
            if let delay { try? await clock.sleep(for: delay) }
            return ToolResult(output: output, succeeded: true, duration: delay.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0.001)
        }
    }

    public var invocations: [Invocation] { state.withLock { $0.invocations } }

    public func resolve(_ spec: ToolCallSpec) async throws -> ResolvedTool {
        guard let (tool, _) = state.withLock({ $0.tools[spec.toolID] }) else {
            throw ToolResolutionError(toolID: spec.toolID, message: "No tool `\(spec.toolID)`.")
        }
        return tool
    }

    public func invoke(_ tool: ResolvedTool, input: [String: JSONValue], call: ToolCallContext) async throws -> ToolResult {
        let handler = state.withLock { state -> Handler? in
            state.invocations.append(Invocation(tool: tool, input: input, call: call))
            return state.tools[tool.id]?.1
        }
        guard let handler else { return ToolResult(output: "Error: unknown tool", succeeded: false, duration: 0) }
        return await handler(input)
    }
}

extension ResolvedTool {
    /// A tool for tests taking one required string parameter `city`.
    public static func example(id: String, name: String, version: String = "1.0.0") -> ResolvedTool {
        ResolvedTool(
            id: id, name: name, description: "Looks up \(name) for a city.", version: version,
            inputSchema: [
                "type": "object",
                "properties": ["city": ["type": "string"]],
                "required": ["city"],
            ]
        )
    }
}
