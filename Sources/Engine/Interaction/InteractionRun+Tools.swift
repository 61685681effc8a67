import AmigoWire
import Foundation

/// A tool offered to one LLM call: the graph's spec and the version it resolved to.
struct OfferedTool: Sendable {
    var spec: ToolCallSpec
    var tool: ResolvedTool

    var definition: ToolDefinition {
        var description = tool.description
        if !spec.additionalInstruction.isEmpty { description += "\n" + spec.additionalInstruction }
        return ToolDefinition(name: tool.name, description: description, parameters: tool.inputSchema)
    }
}

/// The longest result a `persisted` tool call may keep (`persisted-preferred` keeps shorter ones only).
let persistedResultLimit = 5_000

extension InteractionRun {
    // MARK: - Helper tools

    /// Resolves the tools a state offers; the first spec naming a tool wins.
    func resolve(_ specs: [ToolCallSpec]) async throws -> [OfferedTool] {
        var offered: [OfferedTool] = []
        for spec in specs where !offered.contains(where: { $0.spec.toolID == spec.toolID }) {
            offered.append(OfferedTool(spec: spec, tool: try await runner.tools.resolve(spec)))
        }
        return offered
    }

    /// Runs an LLM call that may call `tools`: each round of calls runs, its results go back to the
    /// model, and after `maxToolRounds` rounds the model must answer without tools.
    mutating func completeWithTools(_ prompt: ModelRequest, tools specs: [ToolCallSpec]) async throws -> (text: String, toolLogs: [[ToolCallLog]]) {
        var request = prompt
        let offered = try await resolve(specs)
        request.tools = offered.map(\.definition)
        let call = model(for: request)
        var logs: [[ToolCallLog]] = []
        var round = 0
        while true {
            let response = try await call.complete(request)
            if response.toolCalls.isEmpty || request.tools.isEmpty { return (response.text, logs) }
            let site = ToolCallSite.stateTransition(
                graph: navigator.position.graph, state: navigator.position.state,
                stateTransitionIndex: stateIndex, round: round
            )
            logs.append(try await runToolCalls(response.toolCalls, offered: offered, round: round, site: site, into: &request))
            round += 1
            if round >= runner.maxToolRounds { request.tools = [] }
        }
    }

    /// Runs one round of the model's tool calls and appends the call and every result to `request`.
    /// A call the model got wrong (unknown tool, arguments that are not a JSON object) is answered with
    /// an error the model can correct; it runs nothing.
    mutating func runToolCalls(
        _ calls: [ToolCall], offered: [OfferedTool], round: Int, site: ToolCallSite, into request: inout ModelRequest
    ) async throws -> [ToolCallLog] {
        request.messages.append(ChatMessage(role: .assistant, content: "", toolCalls: calls))
        var logs: [ToolCallLog] = []
        for call in calls {
            let answer: String
            if let tool = offered.first(where: { $0.tool.name == call.name }) {
                if let input = Self.arguments(call.arguments) {
                    let (result, log) = try await invoke(tool, input: input, round: round, site: site)
                    logs.append(log)
                    answer = result.output
                } else {
                    answer = "Error: the arguments of `\(call.name)` must be a JSON object."
                }
            } else {
                answer = "Error: there is no tool named `\(call.name)`."
            }
            request.messages.append(ChatMessage(role: .tool, content: answer, toolCallID: call.id))
        }
        return logs
    }

    /// Calls one tool with events, a filler when it runs long, and `result_persistence` applied.
    mutating func invoke(
        _ offered: OfferedTool, input: [String: JSONValue], round: Int, site: ToolCallSite
    ) async throws -> (ToolResult, ToolCallLog) {
        let tool = offered.tool
        let started = AgentAction.toolCallStarted(roundIndex: round, toolID: tool.id, toolVersion: tool.version, inputParams: input)
        try await act(started)
        let filler = startFiller(offered.spec.audioFillers, after: offered.spec.audioFillerTriggeredAfter, for: started)
        let call = ToolCallContext(conversationID: request.conversationID, interactionID: request.interactionID, userID: request.userID, site: site)
        let tools = runner.tools
        var result = try await filler.covering { try await tools.invoke(tool, input: input, call: call) }

        let kept: Bool
        switch offered.spec.resultPersistence {
        case .ephemeral:
            kept = false
        case .persistedPreferred:
            kept = result.output.count < persistedResultLimit
        case .persisted:
            if result.output.count > persistedResultLimit {
                result.output = "Error: the tool's result has \(result.output.count) characters; a persisted result may have at most \(persistedResultLimit)."
                result.succeeded = false
            }
            kept = true
        }
        try await act(.toolCallEnded(
            roundIndex: round, toolID: tool.id, toolVersion: tool.version, inputParameters: input,
            result: result.output, duration: result.duration
        ))
        if kept {
            context.toolResults.append(ToolResultNote(
                toolName: tool.name, input: JSONValue.object(input).compactJSON, output: result.output
            ))
        }
        let log = ToolCallLog(
            toolName: tool.name, toolID: tool.id, toolVersion: tool.version, input: input,
            output: kept ? result.output : nil, duration: result.duration
        )
        return (result, log)
    }

    static func arguments(_ text: String) -> [String: JSONValue]? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return [:] }
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(trimmed.utf8)) else {
            return nil
        }
        return object
    }

    // MARK: - Tool-call states

    /// A tool-call state: the model writes the designated tool's input (helper tools allowed), the
    /// tool runs, its output becomes available to the rest of the conversation, and the state passes on.
    mutating func callDesignatedTool(_ state: ToolCallState) async throws -> GraphNavigator.Step {
        let spec = state.designatedTool
        let tool = try await runner.tools.resolve(spec)
        let retrieved = AgentAction.designatedToolRetrieved(toolID: tool.id, toolVersion: tool.version)
        try await act(retrieved)

        let prompt = Prompts.generateToolParams(state, tool: tool, context: context)
        let filler = startFiller(
            state.designatedToolCallParamsGenerationAudioFillers,
            after: state.designatedToolCallParamsGenerationAudioFillerTriggeredAfter, for: retrieved
        )
        let (text, helperLogs) = try await filler.covering { try await completeWithTools(prompt, tools: state.toolCallSpecs) }
        let input = try Self.toolInput(text, for: tool)
        try await act(.designatedToolCallParamsGenerated(toolID: tool.id, toolVersion: tool.version, toolCallParams: input))

        let site = ToolCallSite.toolCallState(graph: navigator.position.graph, state: state.name)
        let (result, log) = try await invoke(OfferedTool(spec: spec, tool: tool), input: input, round: 0, site: site)
        try await act(.toolOutputAvailable(
            toolID: tool.id, toolVersion: tool.version, toolOutput: result.output, duration: result.duration,
            inputArguments: input
        ))
        pendingDetail = .toolCall(toolCallLogs: helperLogs, designatedToolCallLog: log)
        return navigator.finishPassthrough()
    }

    /// The model's answer as the tool's input: a JSON object with every property the schema requires.
    static func toolInput(_ text: String, for tool: ResolvedTool) throws -> [String: JSONValue] {
        guard let input = arguments(StructuredAnswer.jsonBody(of: text)) else {
            throw LanguageModelError(
                .invalidResponse, "the model's input for tool `\(tool.name)` is not a JSON object: \(text.prefix(200))"
            )
        }
        if case .object(let schema) = tool.inputSchema, case .array(let required)? = schema["required"] {
            let missing = required.compactMap { value -> String? in
                guard case .string(let key) = value, input[key] == nil else { return nil }
                return key
            }
            if !missing.isEmpty {
                throw LanguageModelError(
                    .invalidResponse,
                    "the model's input for tool `\(tool.name)` lacks \(missing.joined(separator: ", ")): \(text.prefix(200))"
                )
            }
        }
        return input
    }

    // MARK: - Fillers

    /// Arms a timer that emits one `action-too-long` event with a random filler if the work that
    /// `started` announced is still running after `seconds`. Call `stop()` when the work ends.
    func startFiller(_ fillers: [String], after seconds: Double, for started: AgentAction) -> FillerTimer {
        guard seconds > 0, let filler = fillers.randomElement() else { return FillerTimer(task: nil) }
        let events = self.events
        let clock = runner.clock
        // The deadline counts from now, not from when the timer task first runs (it may start late on a busy machine).
        let deadline = clock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
        return FillerTimer(task: Task {
            guard (try? await clock.sleep(until: deadline)) != nil else { return }
            let startedEvent = (try? JSONDecoder().decode(JSONValue.self, from: WireCoding.encoder().encode(started))) ?? .null
            try? await events.send(.currentAgentAction(.actionTooLong(filler: filler, previouslyStartedEvent: startedEvent)))
        })
    }
}

/// A running filler timer.
struct FillerTimer: Sendable {
    let task: Task<Void, Never>?

    /// Cancels the timer, or waits for a filler it is already sending, so no event follows the work's end.
    func stop() async {
        guard let task else { return }
        task.cancel()
        await task.value
    }

    /// Runs `work` while the timer runs, and stops the timer when it ends, whichever way.
    func covering<Result>(_ work: () async throws -> Result) async throws -> Result {
        do {
            let result = try await work()
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }
}

/// Hands events to the sink one at a time: a filler timer may emit while the interaction does, and
/// sinks (an HTTP response writer, a socket) are not reentrant.
actor SerialEmitter {
    private let emit: InteractionRunner.Emit
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ emit: @escaping InteractionRunner.Emit) { self.emit = emit }

    func send(_ event: ConversationEvent) async throws {
        while busy { await withCheckedContinuation { waiting.append($0) } }
        busy = true
        defer {
            busy = false
            if !waiting.isEmpty { waiting.removeFirst().resume() }
        }
        try await emit(event)
    }
}
