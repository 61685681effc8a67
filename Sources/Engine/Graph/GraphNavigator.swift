import AmigoWire

/// The context-graph navigator: a value-type state machine that moves a conversation through its graphs.
///
/// It performs no I/O. The caller feeds it what happened (the model picked an action, an exit condition,
/// a passthrough state finished) and performs the ``Action`` it returns. Every transition is recorded in
/// ``Step/transitions`` with the exit condition that caused it, so insights can say why the agent moved.
///
/// Rules:
/// - Navigation starts at an action state (the conversation rests only in action states) and ends when
///   an action of an action state is chosen.
/// - Entering a referenced graph (`["ref.state", "jumpback"]`) pushes the state to return to; when the
///   referenced graph reaches its terminal state the conversation jumps back at once.
/// - More than `maxTransitions` transitions in one interaction is a runaway graph: ``Action/fail(_:)``.
public struct GraphNavigator: Sendable {
    /// What the caller must do next.
    public enum Action: Sendable, Hashable {
        /// Choose between the state's actions and its exit conditions (globals already merged in).
        case select(ActionState)
        /// Speak: the chosen action of an action state.
        case engage(ActionState, action: String)
        /// Choose one of the decision state's exit conditions.
        case decide(DecisionState)
        case recall(RecallState)
        case reflect(ReflectionState)
        case annotate(AnnotationState)
        case callTool(ToolCallState)
        case fail(NavigationFailure)
    }

    /// One move from a state to the next.
    public struct Transition: Sendable, Hashable {
        public var fromGraph: VersionInfo
        public var fromState: String
        /// The kind of state left; `nil` for a jumpback out of a referenced graph's terminal state.
        public var fromKind: State.Kind?
        public var toGraph: VersionInfo
        public var toState: String
        /// The exit condition chosen in an action or decision state.
        public var exitCondition: String?

        public var isJumpback: Bool { fromKind == nil }
    }

    /// The transitions made by one input, then what to do.
    public struct Step: Sendable, Hashable {
        public var transitions: [Transition]
        public var action: Action
    }

    private enum Phase: Sendable {
        case idle
        case selecting(ActionState)
        case deciding(DecisionState)
        case passingThrough(State)
        case engaged
        case failed
    }

    public let graphs: GraphSet
    public let maxTransitions: Int
    public private(set) var position: GraphPosition
    public private(set) var transitionCount = 0
    private var phase: Phase = .idle

    public init(graphs: GraphSet, position: GraphPosition, maxTransitions: Int = 25) {
        self.graphs = graphs
        self.position = position
        self.maxTransitions = maxTransitions
    }

    /// The graph the conversation is currently in.
    public var currentGraph: ContextGraphDefinition? { graphs[position.graph] }

    /// Whether the conversation rests in the root graph's terminal state (the session is over).
    public var isAtTerminalState: Bool {
        position.returnStack.isEmpty && position.graph == graphs.root
            && position.state == graphs.rootGraph.terminalState
    }

    /// Begins navigation at the current state.
    public mutating func start() -> Step {
        guard case .idle = phase else { return fail(.outOfOrder("start")) }
        return Step(transitions: [], action: act())
    }

    /// The model chose the action at `index` of the current action state.
    public mutating func chooseAction(at index: Int) -> Step {
        guard case .selecting(let state) = phase, state.actions.indices.contains(index) else {
            return fail(.outOfOrder("chooseAction"))
        }
        phase = .engaged
        return Step(transitions: [], action: .engage(state, action: state.actions[index]))
    }

    /// The model chose the exit condition at `index` of the current action or decision state.
    public mutating func chooseExit(at index: Int) -> Step {
        let kind: State.Kind
        let exits: [ExitCondition]
        switch phase {
        case .selecting(let state): (kind, exits) = (.action, state.exitConditions)
        case .deciding(let state): (kind, exits) = (.decision, state.exitConditions)
        default: return fail(.outOfOrder("chooseExit"))
        }
        guard exits.indices.contains(index) else { return fail(.outOfOrder("chooseExit")) }
        return move(along: exits[index].nextState, leaving: kind, because: exits[index].description)
    }

    /// A recall, reflection, annotation or tool-call state finished its work.
    public mutating func finishPassthrough() -> Step {
        guard case .passingThrough(let state) = phase, let next = state.nextStates.first else {
            return fail(.outOfOrder("finishPassthrough"))
        }
        return move(along: next, leaving: state.kind, because: nil)
    }

    // MARK: - Rules

    private mutating func move(along next: NextState, leaving kind: State.Kind, because exit: String?) -> Step {
        var transitions: [Transition] = []
        let from = position
        switch next {
        case .internal(let name):
            position.state = name
        case .external(_, let jumpback):
            guard let target = next.externalTarget,
                  let reference = currentGraph?.references[target.reference]
            else {
                return fail(.unknownReference(next.externalTarget?.reference ?? "\(next)"))
            }
            position.returnStack.append(.init(graph: position.graph, jumpbackState: jumpback))
            position.graph = VersionInfo(id: reference.graphID, version: reference.version)
            position.state = target.state
        }
        transitions.append(Transition(
            fromGraph: from.graph, fromState: from.state, fromKind: kind,
            toGraph: position.graph, toState: position.state, exitCondition: exit
        ))
        transitionCount += 1

        // A referenced graph that reaches its terminal state hands control back.
        while let frame = position.returnStack.last,
              let graph = currentGraph, position.state == graph.terminalState {
            position.returnStack.removeLast()
            transitions.append(Transition(
                fromGraph: position.graph, fromState: position.state, fromKind: nil,
                toGraph: frame.graph, toState: frame.jumpbackState, exitCondition: nil
            ))
            position.graph = frame.graph
            position.state = frame.jumpbackState
            transitionCount += 1
        }
        if transitionCount > maxTransitions {
            return Step(transitions: transitions, action: failAction(.tooManyTransitions(maxTransitions)))
        }
        return Step(transitions: transitions, action: act())
    }

    /// What the current state asks for.
    private mutating func act() -> Action {
        guard let graph = currentGraph else {
            return failAction(.unknownGraph(position.graph))
        }
        guard let state = graph.state(named: position.state) else {
            return failAction(.unknownState(position.state, position.graph))
        }
        switch state {
        case .action(let action):
            let merged = action.merging(globalsOf: graph)
            phase = .selecting(merged)
            return .select(merged)
        case .decision(let decision):
            phase = .deciding(decision)
            return .decide(decision)
        case .recall(let recall):
            phase = .passingThrough(state)
            return .recall(recall)
        case .reflection(let reflection):
            phase = .passingThrough(state)
            return .reflect(reflection)
        case .annotation(let annotation):
            phase = .passingThrough(state)
            return .annotate(annotation)
        case .toolCall(let toolCall):
            phase = .passingThrough(state)
            return .callTool(toolCall)
        }
    }

    private mutating func fail(_ failure: NavigationFailure) -> Step {
        Step(transitions: [], action: failAction(failure))
    }

    private mutating func failAction(_ failure: NavigationFailure) -> Action {
        phase = .failed
        return .fail(failure)
    }
}

/// Why navigation stopped without reaching an action to perform.
public enum NavigationFailure: Error, Sendable, Hashable, CustomStringConvertible {
    case tooManyTransitions(Int)
    case unknownState(String, VersionInfo)
    case unknownGraph(VersionInfo)
    case unknownReference(String)
    case outOfOrder(String)

    public var description: String {
        switch self {
        case .tooManyTransitions(let limit):
            "The context graph made more than \(limit) state transitions in one interaction without reaching an action; it is stopped to avoid a loop."
        case .unknownState(let name, let graph):
            "The context graph \(graph.id) version \(graph.version) has no state named \(name)."
        case .unknownGraph(let graph):
            "The context graph \(graph.id) version \(graph.version) is not available."
        case .unknownReference(let name):
            "The context graph has no reference named \(name)."
        case .outOfOrder(let input):
            "Internal error: the navigator received \(input) out of order."
        }
    }
}

extension ActionState {
    /// This state with the graph's global guidelines and constraints appended.
    public func merging(globalsOf graph: ContextGraphDefinition) -> ActionState {
        var merged = self
        merged.intraStateNavigationGuidelines += graph.globalIntraStateNavigationGuidelines
        merged.actionGuidelines += graph.globalActionGuidelines
        merged.boundaryConstraints += graph.globalBoundaryConstraints
        return merged
    }
}
