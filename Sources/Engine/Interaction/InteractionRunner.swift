import AmigoWire
import Foundation

/// Runs one interaction: behaviour selection, active memory, graph navigation, the reply.
///
/// Events are handed to `emit` as the Engine performs each step (the caller filters and forwards them);
/// the result is returned only when the reply is complete, and the caller commits it before it sends
/// `interaction-complete`. A thrown error means nothing of the interaction may be stored.
public struct InteractionRunner: Sendable {
    public typealias Emit = @Sendable (ConversationEvent) async throws -> Void

    public var models: LanguageModels
    public var tools: any ToolRunner
    public var maxTransitions: Int
    /// Rounds of tool calls one LLM call may make; the last round's answer is taken without tools.
    public var maxToolRounds: Int
    public var now: @Sendable () -> Date
    /// The clock of filler timers.
    public var clock: AnyClock

    public init(
        models: LanguageModels, tools: any ToolRunner = NoToolRunner(), maxTransitions: Int = 25,
        maxToolRounds: Int = 5, now: @escaping @Sendable () -> Date = { Date() }, clock: AnyClock = .continuous
    ) {
        self.models = models
        self.tools = tools
        self.maxTransitions = maxTransitions
        self.maxToolRounds = maxToolRounds
        self.now = now
        self.clock = clock
    }

    public func run(
        _ request: InteractionRequest, interruption: Interruption? = nil, emit: @escaping Emit
    ) async throws -> InteractionOutcome {
        var run = InteractionRun(runner: self, request: request, emit: emit, interruption: interruption)
        do {
            return try await run.perform()
        } catch let error as InteractionError {
            throw error
        } catch {
            throw InteractionError(error)
        }
    }
}

/// The mutable bookkeeping of one interaction.
struct InteractionRun {
    let runner: InteractionRunner
    let request: InteractionRequest
    /// Every event goes through here: a filler timer may emit while the interaction does.
    let events: SerialEmitter
    let interruption: Interruption?
    var context: PromptContext
    var navigator: GraphNavigator
    var transitionLogs: [StateTransitionLog] = []
    var newMessages: [MessageInstance] = []
    var recalled: [WorkingMemory] = []
    /// States processed in this navigation, the first being 1 (tool invocation metadata).
    var stateIndex = 0
    var selectNextActionToolCallLogs: [[ToolCallLog]] = []
    var engageUserToolCallLogs: [[ToolCallLog]] = []
    /// The dynamic behavior selected for this interaction.
    var behavior: DynamicBehavior?
    var announcedNavigationOverride = false

    init(runner: InteractionRunner, request: InteractionRequest, emit: @escaping InteractionRunner.Emit, interruption: Interruption?) {
        self.runner = runner
        self.request = request
        self.events = SerialEmitter(emit)
        self.interruption = interruption
        self.context = request.context
        self.navigator = GraphNavigator(
            graphs: request.graphs, position: request.position, maxTransitions: runner.maxTransitions
        )
    }

    mutating func perform() async throws -> InteractionOutcome {
        if let message = request.userMessage {
            try await events.send(.userMessageAvailable(messageID: message.id, userMessage: message.message))
        }
        try await selectBehavior()

        if case .action(let state)? = navigator.currentGraph?.state(named: navigator.position.state),
           !state.skipActiveMemoryRetrieval {
            try await checkActiveMemory()
        }

        var step = navigator.start()
        while true {
            try await record(step.transitions)
            stateIndex += 1
            switch step.action {
            case .select(let state):
                step = try await select(in: state)
            case .decide(let state):
                step = try await decide(in: state)
            case .recall(let state):
                step = try await recall(state)
            case .reflect(let state):
                step = try await reflect(state)
            case .annotate(let state):
                try await act(.annotationRetrieved(annotation: state.innerThought))
                let thought = innerThought(state.innerThought)
                pendingDetail = .annotation(innerThoughtMessageID: thought.id)
                step = navigator.finishPassthrough()
            case .callTool(let state):
                step = try await callDesignatedTool(state)
            case .fail(let failure):
                throw failure
            case .engage(let state, let action):
                return try await engage(state, action: action)
            }
        }
    }

    /// Detail for the log of the next transition out of the state being left.
    var pendingDetail: StateTransitionLog.Detail?
    /// The model's stated reasons for the exit conditions it chose, in order (for the server log).
    var chosenReasons: [String] = []

    // MARK: - Steps

    mutating func select(in state: ActionState) async throws -> GraphNavigator.Step {
        let state = try await navigationState(state)
        // Before anyone else has said anything (the agent's opening turn), no exit condition can
        // have been met: the agent picks one of its actions.
        let nothingHappened = !context.history.contains { $0.messageType == .userMessage || $0.messageType == .externalEvent }
        var choices = state
        if nothingHappened { choices.exitConditions = [] }
        let optionCount = choices.actions.count + choices.exitConditions.count
        var index = 0
        var reason = ""
        var toolLogs: [[ToolCallLog]] = []
        if optionCount > 1 {
            let prompt = Prompts.selectNextAction(choices, context: context)
            (index, reason, toolLogs) = try await choose(prompt, count: optionCount, tools: state.exitConditionToolCallSpecs)
        }
        selectNextActionToolCallLogs += toolLogs
        if index < state.actions.count {
            try await act(.actionSelected(action: state.actions[index]))
            return navigator.chooseAction(at: index)
        }
        let exitIndex = index - state.actions.count
        chosenReasons.append(reason)
        pendingDetail = .action(exitConditionDescription: state.exitConditions[exitIndex].description, toolCallLogs: toolLogs)
        let step = navigator.chooseExit(at: exitIndex)
        try await announceExit(state.exitConditions[exitIndex], step: step)
        return step
    }

    mutating func decide(in state: DecisionState) async throws -> GraphNavigator.Step {
        try await act(.decisionStarted)
        var index = 0
        var toolLogs: [[ToolCallLog]] = []
        if state.exitConditions.count > 1 {
            let prompt = Prompts.decide(state, context: context)
            let filler = startFiller(state.audioFillers, after: state.audioFillerTriggeredAfter, for: .decisionStarted)
            (index, _, toolLogs) = try await filler.covering {
                try await choose(prompt, count: state.exitConditions.count, tools: state.toolCallSpecs)
            }
        }
        pendingDetail = .decision(exitConditionDescription: state.exitConditions[index].description, toolCallLogs: toolLogs)
        let step = navigator.chooseExit(at: index)
        try await announceExit(state.exitConditions[index], step: step)
        return step
    }

    mutating func recall(_ state: RecallState) async throws -> GraphNavigator.Step {
        var queries: [String]
        if let staticQueries = state.queries {
            queries = staticQueries
            try await act(.staticQueriesRetrieved(staticQueries: staticQueries))
        } else {
            let requested = state.requestedInformation ?? ""
            let prompt = Prompts.recallQueries(requestedInformation: requested, context: context)
            queries = try await structured(prompt, as: QueryList.self).queries
            try await act(.dynamicQueriesGenerated(dynamicQueries: queries, requestedInformation: requested))
        }
        // A query already answered in this conversation is not asked again.
        let known = Set((context.workingMemory + recalled).map(\.context))
        queries = queries.filter { !known.contains($0) }

        let pairs = try await answerFromMemories(queries)
        try await act(.activeMemoryRetrieved(queriesAndResponses: pairs))
        let memories = pairs.map { WorkingMemory(content: $0.response, context: $0.query) }
        recalled += memories
        context.workingMemory += memories
        pendingDetail = .recall(performedQueries: queries)
        return navigator.finishPassthrough()
    }

    mutating func reflect(_ state: ReflectionState) async throws -> GraphNavigator.Step {
        try await act(.reflectionPromptRetrieved(prompt: state.problem))
        let prompt = Prompts.reflect(state, context: context)
        let filler = startFiller(
            state.audioFillers, after: state.audioFillerTriggeredAfter, for: .reflectionPromptRetrieved(prompt: state.problem)
        )
        let (text, toolLogs) = try await filler.covering { try await completeWithTools(prompt, tools: state.toolCallSpecs) }
        let reflection = Self.limitWords(text, to: state.wordLimit)
        guard !reflection.isEmpty else {
            throw LanguageModelError(.invalidResponse, "the model wrote an empty reflection")
        }
        try await act(.reflectionGenerated(reflection: reflection))
        let thought = innerThought(reflection)
        context.reflections.append(reflection)
        pendingDetail = .reflection(innerThoughtMessageID: thought.id, toolCallLogs: toolLogs)
        return navigator.finishPassthrough()
    }

    mutating func engage(_ state: ActionState, action: String) async throws -> InteractionOutcome {
        let (state, action) = try await engagingState(state, action: action)
        let messageID = ObjectID.generate(now: runner.now())
        var prompt = Prompts.engageUser(state, action: action, context: context)
        let offered = try await resolve(state.actionToolCallSpecs)
        prompt.tools = offered.map(\.definition)
        let call = model(for: prompt)
        var reply = ""
        var sequence = 0
        var interrupted = interruption?.isInterrupted == true
        var round = 0
        while !interrupted {
            var calls: [ToolCall] = []
            // The stream ends at once when the reply is interrupted; leaving it cancels the model's request.
            for try await output in call.stream(prompt).stopping(on: interruption) {
                if interruption?.isInterrupted == true {
                    interrupted = true
                    break
                }
                switch output {
                case .toolCall(let toolCall):
                    calls.append(toolCall)
                case .text(let piece):
                    guard !piece.isEmpty else { continue }
                    if reply.isEmpty, piece.allSatisfy(\.isWhitespace) { continue }
                    try await act(.messageFragmentGenerated(index: sequence, fragment: piece, isFinal: false))
                    try await events.send(.newMessage(NewMessage(
                        message: piece, transcriptAlignment: nil, stop: false, sequenceNumber: sequence, messageID: messageID
                    )))
                    reply += piece
                    sequence += 1
                }
            }
            if interruption?.isInterrupted == true { interrupted = true }
            guard !calls.isEmpty, !interrupted, !prompt.tools.isEmpty else { break }
            let site = ToolCallSite.engageUser(graph: navigator.position.graph, round: round)
            engageUserToolCallLogs.append(try await runToolCalls(calls, offered: offered, round: round, site: site, into: &prompt))
            round += 1
            if round >= runner.maxToolRounds { prompt.tools = [] }
        }
        let full = reply.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !full.isEmpty || interrupted else {
            throw LanguageModelError(.invalidResponse, "the model returned an empty reply")
        }
        try await act(.messageFragmentGenerated(index: sequence, fragment: "", isFinal: true))
        try await events.send(.newMessage(NewMessage(
            message: "", transcriptAlignment: nil, stop: true, sequenceNumber: sequence, messageID: messageID
        )))
        let agentMessage = MessageInstance(
            id: messageID, interactionID: request.interactionID, createdAt: runner.now(), sender: "agent",
            message: full, format: .text, messageType: .agentMessage
        )
        let position = navigator.position
        let insights = InteractionInsights(
            currentStateName: position.state,
            currentStateAction: action,
            currentStateObjective: state.objective,
            stateTransitionLogs: transitionLogs,
            workingMemory: context.workingMemory,
            reflections: context.reflections,
            triggeredDynamicBehaviorSetVersionInfo: behavior?.info,
            selectNextActionToolCallLogs: selectNextActionToolCallLogs,
            engageUserToolCallLogs: engageUserToolCallLogs
        )
        return InteractionOutcome(
            interactionID: request.interactionID,
            messages: newMessages + [agentMessage],
            agentMessage: agentMessage,
            position: position,
            insights: insights,
            conversationCompleted: navigator.isAtTerminalState && !interrupted,
            wasInterrupted: interrupted,
            selectedBehavior: behavior?.info
        )
    }

    // MARK: - Records and events

    func act(_ action: AgentAction) async throws {
        try await events.send(.currentAgentAction(action))
    }

    func announceExit(_ exit: ExitCondition, step: GraphNavigator.Step) async throws {
        guard let first = step.transitions.first else { return }
        try await act(.exitConditionSelected(
            exitCondition: exit.description, nextGraph: first.toGraph, nextStateName: first.toState
        ))
    }

    mutating func record(_ transitions: [GraphNavigator.Transition]) async throws {
        for transition in transitions {
            try await act(.stateTransitioned(
                previousState: transition.fromState, previousGraph: transition.fromGraph,
                nextState: transition.toState, nextGraph: transition.toGraph
            ))
            let detail: StateTransitionLog.Detail
            if transition.isJumpback {
                detail = .jumpback
            } else {
                detail = pendingDetail ?? .jumpback
                pendingDetail = nil
            }
            transitionLogs.append(StateTransitionLog(
                previousState: transition.fromState, previousGraph: transition.fromGraph,
                nextState: transition.toState, nextGraph: transition.toGraph, detail: detail
            ))
        }
    }

    mutating func innerThought(_ text: String) -> MessageInstance {
        let message = MessageInstance(
            id: ObjectID.generate(now: runner.now()), interactionID: request.interactionID,
            createdAt: runner.now(), sender: "agent", message: text, format: .text,
            messageType: .agentInnerThought
        )
        newMessages.append(message)
        context.history.append(message)
        return message
    }

    // MARK: - Model calls

    func model(for request: ModelRequest) -> ModelCall {
        runner.models.call(request.kind, preferences: self.request.modelPreferences)
    }

    mutating func choose(
        _ request: ModelRequest, count: Int, tools: [ToolCallSpec]
    ) async throws -> (index: Int, reason: String, toolLogs: [[ToolCallLog]]) {
        let (text, toolLogs) = try await completeWithTools(request, tools: tools)
        guard let choice = Choice.parse(text, count: count) else {
            throw LanguageModelError(
                .invalidResponse,
                "the model's \(request.kind) answer is not a choice between 1 and \(count): \(text.prefix(200))"
            )
        }
        return (choice.choice - 1, choice.reason, toolLogs)
    }

    func structured<T: Decodable>(_ request: ModelRequest, as type: T.Type) async throws -> T {
        try await model(for: request).structured(request, as: T.self)
    }

    static func limitWords(_ text: String, to limit: Int) -> String {
        let words = text.split(whereSeparator: \.isWhitespace)
        return words.prefix(max(1, limit)).joined(separator: " ")
    }
}

/// A routed model with the parameters its version-set preference adds to every request: the one way
/// every model call is made, inside an interaction and outside it (recommendations, starters).
public struct ModelCall: Sendable {
    public var model: any LanguageModel
    public var parameters: [String: JSONValue]

    public init(model: any LanguageModel, parameters: [String: JSONValue] = [:]) {
        self.model = model
        self.parameters = parameters
    }

    public func complete(_ request: ModelRequest) async throws -> ModelResponse {
        try await model.complete(prepared(request))
    }

    public func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelOutput, any Error> {
        model.stream(prepared(request))
    }

    /// The answer to a JSON-schema request decoded as `T`; `invalidResponse` when it does not fit.
    public func structured<T: Decodable>(_ request: ModelRequest, as type: T.Type) async throws -> T {
        try StructuredAnswer.decode(T.self, from: try await complete(request).text, kind: request.kind)
    }

    private func prepared(_ request: ModelRequest) -> ModelRequest {
        guard !parameters.isEmpty else { return request }
        var request = request
        request.parameters.merge(parameters) { _, preferred in preferred }
        return request
    }
}

struct QueryList: Decodable { var queries: [String] }
struct AnswerList: Decodable { var answers: [String] }

extension Choice {
    /// Reads a choice from a model answer: the schema's JSON, or, from models that ignore the schema,
    /// the first number in the text. `nil` when no option in `1...count` can be read.
    static func parse(_ text: String, count: Int) -> Choice? {
        if let data = StructuredAnswer.jsonBody(of: text).data(using: .utf8),
           let choice = try? JSONDecoder().decode(Choice.self, from: data),
           (1...count).contains(choice.choice) {
            return choice
        }
        let digits = text.drop { !$0.isNumber }.prefix { $0.isNumber }
        guard let number = Int(digits), (1...count).contains(number) else { return nil }
        return Choice(reason: "", choice: number)
    }

}

/// Reading a model's answer to a JSON-schema request.
public enum StructuredAnswer {
    /// Decodes the JSON object of `text`; `invalidResponse` when it does not fit `T`.
    public static func decode<T: Decodable>(_ type: T.Type, from text: String, kind: PromptKind) throws -> T {
        guard let value = try? JSONDecoder().decode(T.self, from: Data(jsonBody(of: text).utf8)) else {
            throw LanguageModelError(
                .invalidResponse, "the model's \(kind) answer does not match its schema: \(text.prefix(200))"
            )
        }
        return value
    }

    /// The JSON object in a model answer, without a Markdown code fence around it.
    static func jsonBody(of text: String) -> String {
        guard let start = text.firstIndex(of: "{"), let end = text.lastIndex(of: "}"), start < end else {
            return text
        }
        return String(text[start...end])
    }
}
