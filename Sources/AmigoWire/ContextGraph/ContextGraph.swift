/// One version of a context graph ("service hierarchical state machine", HSM): the body of
/// `POST /v1/{org}/organization/service_hierarchical_state_machine/{id}/` and the definition part of
/// `ServiceHierarchicalStateMachineInstance`.
///
/// Every version is a full definition (no patching). Decoding checks only the JSON shape; the rules that
/// span the whole graph (names resolve, initial states are action states, …) live in
/// ``ContextGraphValidator``. Encoding produces the JSON the Amigo API returns for a stored version.
public struct ContextGraphDefinition: Codable, Sendable, Hashable {
    public var description: String
    public var states: [State]
    /// The action state a new user starts in.
    public var newUserInitialState: String
    /// The action state a returning user starts in.
    public var returningUserInitialState: String
    /// The action state a session ends in, and where a referenced graph hands control back (jumpback).
    public var terminalState: String
    /// Other graph versions this one can enter through `["ref.state", "jumpback"]` targets, by reference name.
    public var references: [String: ReferenceTarget]
    /// Appended to `intra_state_navigation_guidelines` of every action state.
    public var globalIntraStateNavigationGuidelines: [String]
    /// Appended to `action_guidelines` of every action state.
    public var globalActionGuidelines: [String]
    /// Appended to `boundary_constraints` of every action state.
    public var globalBoundaryConstraints: [String]

    public init(
        description: String,
        states: [State],
        newUserInitialState: String,
        returningUserInitialState: String,
        terminalState: String,
        references: [String: ReferenceTarget] = [:],
        globalIntraStateNavigationGuidelines: [String] = [],
        globalActionGuidelines: [String] = [],
        globalBoundaryConstraints: [String] = []
    ) {
        self.description = description
        self.states = states
        self.newUserInitialState = newUserInitialState
        self.returningUserInitialState = returningUserInitialState
        self.terminalState = terminalState
        self.references = references
        self.globalIntraStateNavigationGuidelines = globalIntraStateNavigationGuidelines
        self.globalActionGuidelines = globalActionGuidelines
        self.globalBoundaryConstraints = globalBoundaryConstraints
    }

    enum CodingKeys: String, CodingKey {
        case description
        case states
        case newUserInitialState = "new_user_initial_state"
        case returningUserInitialState = "returning_user_initial_state"
        case terminalState = "terminal_state"
        case references
        case globalIntraStateNavigationGuidelines = "global_intra_state_navigation_guidelines"
        case globalActionGuidelines = "global_action_guidelines"
        case globalBoundaryConstraints = "global_boundary_constraints"
    }

    /// The first state called `name`, if any. Names are unique in a graph that passed validation.
    public func state(named name: String) -> State? {
        states.first { $0.name == name }
    }
}

/// A pinned version of another context graph: on the wire the 2-array `[hsm_id, version]`.
public struct ReferenceTarget: Codable, Sendable, Hashable {
    /// The referenced graph's ID (24 lowercase hex characters).
    public var graphID: String
    public var version: Int

    public init(graphID: String, version: Int) {
        self.graphID = graphID
        self.version = version
    }

    public init(from decoder: any Decoder) throws {
        var tuple = try decoder.unkeyedContainer()
        guard tuple.count == 2 else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "Input should be a [graph_id, version] pair"
            ))
        }
        graphID = try tuple.decode(String.self)
        version = try tuple.decode(Int.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var tuple = encoder.unkeyedContainer()
        try tuple.encode(graphID)
        try tuple.encode(version)
    }
}

/// Where a transition leads: a state of this graph, or a state of a referenced graph together with the
/// state of this graph to continue in once that graph reaches its terminal state.
///
/// On the wire `.internal` is a plain string and `.external` the 2-array `["ref.state", "jumpback"]`.
public enum NextState: Codable, Sendable, Hashable {
    case `internal`(String)
    case external(externalState: String, jumpback: String)

    public init(from decoder: any Decoder) throws {
        if let name = try? decoder.singleValueContainer().decode(String.self) {
            self = .internal(name)
            return
        }
        guard var tuple = try? decoder.unkeyedContainer(), tuple.count == 2 else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "Input should be a state name or a [\"reference.state\", \"jumpback_state\"] pair"
            ))
        }
        let externalState = try tuple.decode(String.self)
        let jumpback = try tuple.decode(String.self)
        self = .external(externalState: externalState, jumpback: jumpback)
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .internal(let name):
            var single = encoder.singleValueContainer()
            try single.encode(name)
        case .external(let externalState, let jumpback):
            var tuple = encoder.unkeyedContainer()
            try tuple.encode(externalState)
            try tuple.encode(jumpback)
        }
    }

    /// The state of this graph the transition enters right away, if it stays in this graph.
    public var internalName: String? {
        if case .internal(let name) = self { name } else { nil }
    }

    /// For an external target, its reference name and state name (`"ref.state"` split at the dot).
    public var externalTarget: (reference: String, state: String)? {
        guard case .external(let externalState, _) = self else { return nil }
        let parts = externalState.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// The state of this graph to continue in after a referenced graph reaches its terminal state.
    public var jumpback: String? {
        if case .external(_, let jumpback) = self { jumpback } else { nil }
    }
}

/// A condition under which an action or decision state moves on, described for the model.
public struct ExitCondition: Codable, Sendable, Hashable {
    public var description: String
    public var nextState: NextState

    public init(description: String, nextState: NextState) {
        self.description = description
        self.nextState = nextState
    }

    enum CodingKeys: String, CodingKey {
        case description
        case nextState = "next_state"
    }
}

/// How long a tool's result stays visible to the model.
public enum ResultPersistence: String, Codable, Sendable, Hashable, CaseIterable {
    /// Only the LLM call that ran the tool sees the result.
    case ephemeral
    /// Later calls see the result when it is under 5,000 characters.
    case persistedPreferred = "persisted-preferred"
    /// Later calls see the result; a result over 5,000 characters is an error.
    case persisted
}

/// A tool a state lets the model call, pinned by a Python-packaging version constraint.
public struct ToolCallSpec: Codable, Sendable, Hashable {
    public var toolID: String
    /// A Python packaging version specifier such as `">=1.0,<2"`.
    public var versionConstraint: String
    /// Supplied to the model in addition to the tool's own description.
    public var additionalInstruction: String
    /// Spoken in voice mode while the tool runs long (at most 5).
    public var audioFillers: [String]
    /// Seconds before a filler plays (0 < s ≤ 10).
    public var audioFillerTriggeredAfter: Double
    public var resultPersistence: ResultPersistence

    public init(
        toolID: String,
        versionConstraint: String,
        additionalInstruction: String,
        audioFillers: [String] = [],
        audioFillerTriggeredAfter: Double,
        resultPersistence: ResultPersistence
    ) {
        self.toolID = toolID
        self.versionConstraint = versionConstraint
        self.additionalInstruction = additionalInstruction
        self.audioFillers = audioFillers
        self.audioFillerTriggeredAfter = audioFillerTriggeredAfter
        self.resultPersistence = resultPersistence
    }

    enum CodingKeys: String, CodingKey {
        case toolID = "tool_id"
        case versionConstraint = "version_constraint"
        case additionalInstruction = "additional_instruction"
        case audioFillers = "audio_fillers"
        case audioFillerTriggeredAfter = "audio_filler_triggered_after"
        case resultPersistence = "result_persistence"
    }

    /// A rule a tool call spec breaks. The rules are the same wherever a spec appears (a graph's state, a
    /// dynamic behavior's `change-tool-candidates`); each place words the message its own way.
    public enum Violation: Sendable, Hashable {
        /// `tool_id` is not 24 lowercase hex characters.
        case toolID
        /// `version_constraint` does not parse; the parser's explanation.
        case versionConstraint(String)
        /// `additional_instruction` is empty or only white space.
        case emptyInstruction
        /// More than 5 audio fillers.
        case tooManyFillers(Int)
        /// The audio filler at this index is empty or only white space.
        case emptyFiller(Int)
        /// `audio_filler_triggered_after` is not above 0, or above 10 seconds.
        case fillerDelayNotPositive(Double)
        case fillerDelayTooLong(Double)

        /// The field at fault, below the spec.
        public var path: [ValidationIssue.Location] {
            switch self {
            case .toolID: ["tool_id"]
            case .versionConstraint: ["version_constraint"]
            case .emptyInstruction: ["additional_instruction"]
            case .tooManyFillers: ["audio_fillers"]
            case .emptyFiller(let index): ["audio_fillers", .index(index)]
            case .fillerDelayNotPositive, .fillerDelayTooLong: ["audio_filler_triggered_after"]
            }
        }

        /// The validation error type, as pydantic names it.
        public var type: String {
            switch self {
            case .toolID: "string_pattern_mismatch"
            case .versionConstraint: "value_error"
            case .emptyInstruction, .emptyFiller: "string_too_short"
            case .tooManyFillers: "too_long"
            case .fillerDelayNotPositive: "greater_than"
            case .fillerDelayTooLong: "less_than_equal"
            }
        }
    }

    /// Every rule this spec breaks, in field order.
    public var violations: [Violation] {
        var found: [Violation] = []
        if !ObjectID.isValid(toolID) { found.append(.toolID) }
        do {
            _ = try VersionSpecifier(versionConstraint)
        } catch {
            found.append(.versionConstraint(error.description))
        }
        if !FieldRule.isNonEmpty(additionalInstruction) { found.append(.emptyInstruction) }
        if audioFillers.count > 5 { found.append(.tooManyFillers(audioFillers.count)) }
        for (index, filler) in audioFillers.enumerated() where !FieldRule.isNonEmpty(filler) { found.append(.emptyFiller(index)) }
        if !(audioFillerTriggeredAfter > 0) {
            found.append(.fillerDelayNotPositive(audioFillerTriggeredAfter))
        } else if audioFillerTriggeredAfter > 10 {
            found.append(.fillerDelayTooLong(audioFillerTriggeredAfter))
        }
        return found
    }
}

/// A state of a context graph, tagged on the wire by its `type` field.
///
/// Only action states talk to the user; the others are passthrough states the navigator runs and leaves
/// within the same interaction.
public enum State: Codable, Sendable, Hashable {
    case action(ActionState)
    case decision(DecisionState)
    case recall(RecallState)
    case annotation(AnnotationState)
    case reflection(ReflectionState)
    case toolCall(ToolCallState)

    /// The wire `type` of a state.
    public enum Kind: String, Codable, Sendable, Hashable, CaseIterable {
        case action
        case decision
        case recall
        case annotation
        case reflection
        case toolCall = "tool-call"
    }

    private enum TypeKey: String, CodingKey {
        case type
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: TypeKey.self)
        let type = try container.decode(String.self, forKey: .type)
        guard let kind = Kind(rawValue: type) else {
            let expected = Kind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container,
                debugDescription: "Input tag '\(type)' found using 'type' does not match any of the expected tags: \(expected)"
            )
        }
        switch kind {
        case .action: self = .action(try ActionState(from: decoder))
        case .decision: self = .decision(try DecisionState(from: decoder))
        case .recall: self = .recall(try RecallState(from: decoder))
        case .annotation: self = .annotation(try AnnotationState(from: decoder))
        case .reflection: self = .reflection(try ReflectionState(from: decoder))
        case .toolCall: self = .toolCall(try ToolCallState(from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: TypeKey.self)
        try container.encode(kind.rawValue, forKey: .type)
        switch self {
        case .action(let state): try state.encode(to: encoder)
        case .decision(let state): try state.encode(to: encoder)
        case .recall(let state): try state.encode(to: encoder)
        case .annotation(let state): try state.encode(to: encoder)
        case .reflection(let state): try state.encode(to: encoder)
        case .toolCall(let state): try state.encode(to: encoder)
        }
    }

    public var kind: Kind {
        switch self {
        case .action: .action
        case .decision: .decision
        case .recall: .recall
        case .annotation: .annotation
        case .reflection: .reflection
        case .toolCall: .toolCall
        }
    }

    public var name: String {
        switch self {
        case .action(let state): state.name
        case .decision(let state): state.name
        case .recall(let state): state.name
        case .annotation(let state): state.name
        case .reflection(let state): state.name
        case .toolCall(let state): state.name
        }
    }

    /// Whether the navigator leaves this state within the same interaction (every kind but action).
    public var isPassthrough: Bool { kind != .action }

    /// The exit conditions of an action or decision state; empty for the other kinds.
    public var exitConditions: [ExitCondition] {
        switch self {
        case .action(let state): state.exitConditions
        case .decision(let state): state.exitConditions
        case .recall, .annotation, .reflection, .toolCall: []
        }
    }

    /// Every target this state can transition to, in declaration order (one per exit condition, or the
    /// single `next_state` of a recall, annotation, reflection or tool-call state).
    public var nextStates: [NextState] {
        switch self {
        case .action, .decision: exitConditions.map(\.nextState)
        case .recall(let state): [state.nextState]
        case .annotation(let state): [state.nextState]
        case .reflection(let state): [state.nextState]
        case .toolCall(let state): [state.nextState]
        }
    }
}

/// The only kind of state that talks: each interaction the agent performs one of `actions` or, when an
/// exit condition holds, transitions. With no exit condition met the session stays here.
public struct ActionState: Codable, Sendable, Hashable {
    public var name: String
    public var objective: String
    public var actions: [String]
    public var intraStateNavigationGuidelines: [String]
    public var actionGuidelines: [String]
    public var boundaryConstraints: [String]
    public var exitConditions: [ExitCondition]
    /// Tools offered while performing an action (the engage-user call).
    public var actionToolCallSpecs: [ToolCallSpec]
    /// Tools offered while evaluating exit conditions (the select-next-action call).
    public var exitConditionToolCallSpecs: [ToolCallSpec]
    /// Skips active-memory retrieval at the start of an interaction in this state.
    public var skipActiveMemoryRetrieval: Bool

    public init(
        name: String,
        objective: String,
        actions: [String],
        intraStateNavigationGuidelines: [String] = [],
        actionGuidelines: [String] = [],
        boundaryConstraints: [String] = [],
        exitConditions: [ExitCondition] = [],
        actionToolCallSpecs: [ToolCallSpec] = [],
        exitConditionToolCallSpecs: [ToolCallSpec] = [],
        skipActiveMemoryRetrieval: Bool = false
    ) {
        self.name = name
        self.objective = objective
        self.actions = actions
        self.intraStateNavigationGuidelines = intraStateNavigationGuidelines
        self.actionGuidelines = actionGuidelines
        self.boundaryConstraints = boundaryConstraints
        self.exitConditions = exitConditions
        self.actionToolCallSpecs = actionToolCallSpecs
        self.exitConditionToolCallSpecs = exitConditionToolCallSpecs
        self.skipActiveMemoryRetrieval = skipActiveMemoryRetrieval
    }

    enum CodingKeys: String, CodingKey {
        case name
        case objective
        case actions
        case intraStateNavigationGuidelines = "intra_state_navigation_guidelines"
        case actionGuidelines = "action_guidelines"
        case boundaryConstraints = "boundary_constraints"
        case exitConditions = "exit_conditions"
        case actionToolCallSpecs = "action_tool_call_specs"
        case exitConditionToolCallSpecs = "exit_condition_tool_call_specs"
        case skipActiveMemoryRetrieval = "skip_active_memory_retrieval"
    }
}

/// A passthrough state where the model must pick exactly one exit condition and transition at once.
public struct DecisionState: Codable, Sendable, Hashable {
    public var name: String
    public var objective: String
    public var decisionGuidelines: [String]
    public var exitConditions: [ExitCondition]
    public var toolCallSpecs: [ToolCallSpec]
    /// Spoken in voice mode while the decision runs long (at most 5).
    public var audioFillers: [String]
    /// Seconds before a filler plays (0 < s ≤ 10).
    public var audioFillerTriggeredAfter: Double

    public init(
        name: String,
        objective: String,
        exitConditions: [ExitCondition],
        decisionGuidelines: [String] = [],
        toolCallSpecs: [ToolCallSpec] = [],
        audioFillers: [String] = [],
        audioFillerTriggeredAfter: Double
    ) {
        self.name = name
        self.objective = objective
        self.decisionGuidelines = decisionGuidelines
        self.exitConditions = exitConditions
        self.toolCallSpecs = toolCallSpecs
        self.audioFillers = audioFillers
        self.audioFillerTriggeredAfter = audioFillerTriggeredAfter
    }

    enum CodingKeys: String, CodingKey {
        case name
        case exitConditions = "exit_conditions"
        case decisionGuidelines = "decision_guidelines"
        case objective
        case toolCallSpecs = "tool_call_specs"
        case audioFillers = "audio_fillers"
        case audioFillerTriggeredAfter = "audio_filler_triggered_after"
    }
}

/// A passthrough state that runs active-memory extraction and adds the results to working memory.
///
/// Exactly one of `queries` (static queries) and `requestedInformation` (the agent generates queries from
/// it) is set. Both keys are required on the wire and encode as `null` when unset.
public struct RecallState: Codable, Sendable, Hashable {
    public var name: String
    public var queries: [String]?
    public var requestedInformation: String?
    public var nextState: NextState

    public init(name: String, queries: [String]? = nil, requestedInformation: String? = nil, nextState: NextState) {
        self.name = name
        self.queries = queries
        self.requestedInformation = requestedInformation
        self.nextState = nextState
    }

    enum CodingKeys: String, CodingKey {
        case name
        case queries
        case requestedInformation = "requested_information"
        case nextState = "next_state"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        queries = try container.decodeIfPresent([String].self, forKey: .queries)
        requestedInformation = try container.decodeIfPresent(String.self, forKey: .requestedInformation)
        nextState = try container.decode(NextState.self, forKey: .nextState)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(queries, forKey: .queries)
        try container.encode(requestedInformation, forKey: .requestedInformation)
        try container.encode(nextState, forKey: .nextState)
    }
}

/// A passthrough state that inserts a fixed inner-thought message, then transitions.
public struct AnnotationState: Codable, Sendable, Hashable {
    public var name: String
    public var innerThought: String
    public var nextState: NextState

    public init(name: String, innerThought: String, nextState: NextState) {
        self.name = name
        self.innerThought = innerThought
        self.nextState = nextState
    }

    enum CodingKeys: String, CodingKey {
        case name
        case innerThought = "inner_thought"
        case nextState = "next_state"
    }
}

/// A passthrough state where the model writes an inner-thought message about `problem` (at most
/// `wordLimit` words), then transitions.
public struct ReflectionState: Codable, Sendable, Hashable {
    public var name: String
    public var problem: String
    public var wordLimit: Int
    public var nextState: NextState
    public var toolCallSpecs: [ToolCallSpec]
    /// Spoken in voice mode while the reflection runs long (at most 5).
    public var audioFillers: [String]
    /// Seconds before a filler plays (0 < s ≤ 10).
    public var audioFillerTriggeredAfter: Double

    public init(
        name: String,
        problem: String,
        wordLimit: Int,
        nextState: NextState,
        toolCallSpecs: [ToolCallSpec] = [],
        audioFillers: [String] = [],
        audioFillerTriggeredAfter: Double
    ) {
        self.name = name
        self.problem = problem
        self.wordLimit = wordLimit
        self.nextState = nextState
        self.toolCallSpecs = toolCallSpecs
        self.audioFillers = audioFillers
        self.audioFillerTriggeredAfter = audioFillerTriggeredAfter
    }

    enum CodingKeys: String, CodingKey {
        case name
        case problem
        case wordLimit = "word_limit"
        case nextState = "next_state"
        case toolCallSpecs = "tool_call_specs"
        case audioFillers = "audio_fillers"
        case audioFillerTriggeredAfter = "audio_filler_triggered_after"
    }
}

/// A passthrough state that deterministically calls `designatedTool`: the model generates its input,
/// the tool runs, its output becomes available, then the state transitions.
public struct ToolCallState: Codable, Sendable, Hashable {
    public var name: String
    public var nextState: NextState
    /// Must use `result_persistence: "persisted"`.
    public var designatedTool: ToolCallSpec
    public var designatedToolCallParamsGenerationAudioFillers: [String]
    public var designatedToolCallParamsGenerationAudioFillerTriggeredAfter: Double
    /// What an ideal input achieves.
    public var designatedToolCallObjective: String
    /// The information gap this call closes.
    public var designatedToolCallContext: String
    /// Soft tips for building the input.
    public var designatedToolCallGuidances: [String]
    /// Hard checks the input must pass.
    public var designatedToolCallValidations: [String]
    /// Helper tools offered while generating the input.
    public var toolCallSpecs: [ToolCallSpec]

    public init(
        name: String,
        nextState: NextState,
        designatedTool: ToolCallSpec,
        designatedToolCallParamsGenerationAudioFillers: [String] = [],
        designatedToolCallParamsGenerationAudioFillerTriggeredAfter: Double,
        designatedToolCallObjective: String,
        designatedToolCallContext: String,
        designatedToolCallGuidances: [String] = [],
        designatedToolCallValidations: [String] = [],
        toolCallSpecs: [ToolCallSpec] = []
    ) {
        self.name = name
        self.nextState = nextState
        self.designatedTool = designatedTool
        self.designatedToolCallParamsGenerationAudioFillers = designatedToolCallParamsGenerationAudioFillers
        self.designatedToolCallParamsGenerationAudioFillerTriggeredAfter = designatedToolCallParamsGenerationAudioFillerTriggeredAfter
        self.designatedToolCallObjective = designatedToolCallObjective
        self.designatedToolCallContext = designatedToolCallContext
        self.designatedToolCallGuidances = designatedToolCallGuidances
        self.designatedToolCallValidations = designatedToolCallValidations
        self.toolCallSpecs = toolCallSpecs
    }

    enum CodingKeys: String, CodingKey {
        case name
        case nextState = "next_state"
        case designatedTool = "designated_tool"
        case designatedToolCallParamsGenerationAudioFillers = "designated_tool_call_params_generation_audio_fillers"
        case designatedToolCallParamsGenerationAudioFillerTriggeredAfter = "designated_tool_call_params_generation_audio_filler_triggered_after"
        case designatedToolCallObjective = "designated_tool_call_objective"
        case designatedToolCallContext = "designated_tool_call_context"
        case designatedToolCallGuidances = "designated_tool_call_guidances"
        case designatedToolCallValidations = "designated_tool_call_validations"
        case toolCallSpecs = "tool_call_specs"
    }
}

extension ContextGraphDefinition {
    /// This graph with white space stripped from both ends of every `StrippedNonemptyString` field, as the
    /// Amigo API stores them; apply it to a validated graph before storing it so reads return what Amigo would.
    /// Names, tool IDs, version constraints and recall `queries` are kept as sent.
    public func strippingWhitespace() -> ContextGraphDefinition {
        var graph = self
        graph.description = description.strippedOfWhitespace
        graph.states = states.map { $0.strippingWhitespace() }
        graph.globalIntraStateNavigationGuidelines = globalIntraStateNavigationGuidelines.map(\.strippedOfWhitespace)
        graph.globalActionGuidelines = globalActionGuidelines.map(\.strippedOfWhitespace)
        graph.globalBoundaryConstraints = globalBoundaryConstraints.map(\.strippedOfWhitespace)
        return graph
    }
}

extension State {
    fileprivate func strippingWhitespace() -> State {
        switch self {
        case .action(var state):
            state.objective = state.objective.strippedOfWhitespace
            state.actions = state.actions.map(\.strippedOfWhitespace)
            state.intraStateNavigationGuidelines = state.intraStateNavigationGuidelines.map(\.strippedOfWhitespace)
            state.actionGuidelines = state.actionGuidelines.map(\.strippedOfWhitespace)
            state.boundaryConstraints = state.boundaryConstraints.map(\.strippedOfWhitespace)
            state.exitConditions = state.exitConditions.map { $0.strippingWhitespace() }
            state.actionToolCallSpecs = state.actionToolCallSpecs.map { $0.strippingWhitespace() }
            state.exitConditionToolCallSpecs = state.exitConditionToolCallSpecs.map { $0.strippingWhitespace() }
            return .action(state)
        case .decision(var state):
            state.objective = state.objective.strippedOfWhitespace
            state.decisionGuidelines = state.decisionGuidelines.map(\.strippedOfWhitespace)
            state.exitConditions = state.exitConditions.map { $0.strippingWhitespace() }
            state.toolCallSpecs = state.toolCallSpecs.map { $0.strippingWhitespace() }
            state.audioFillers = state.audioFillers.map(\.strippedOfWhitespace)
            return .decision(state)
        case .recall(var state):
            state.requestedInformation = state.requestedInformation?.strippedOfWhitespace
            return .recall(state)
        case .annotation(var state):
            state.innerThought = state.innerThought.strippedOfWhitespace
            return .annotation(state)
        case .reflection(var state):
            state.problem = state.problem.strippedOfWhitespace
            state.toolCallSpecs = state.toolCallSpecs.map { $0.strippingWhitespace() }
            state.audioFillers = state.audioFillers.map(\.strippedOfWhitespace)
            return .reflection(state)
        case .toolCall(var state):
            state.designatedTool = state.designatedTool.strippingWhitespace()
            state.designatedToolCallParamsGenerationAudioFillers = state.designatedToolCallParamsGenerationAudioFillers.map(\.strippedOfWhitespace)
            state.designatedToolCallObjective = state.designatedToolCallObjective.strippedOfWhitespace
            state.designatedToolCallContext = state.designatedToolCallContext.strippedOfWhitespace
            state.designatedToolCallGuidances = state.designatedToolCallGuidances.map(\.strippedOfWhitespace)
            state.designatedToolCallValidations = state.designatedToolCallValidations.map(\.strippedOfWhitespace)
            state.toolCallSpecs = state.toolCallSpecs.map { $0.strippingWhitespace() }
            return .toolCall(state)
        }
    }
}

extension ExitCondition {
    fileprivate func strippingWhitespace() -> ExitCondition {
        ExitCondition(description: description.strippedOfWhitespace, nextState: nextState)
    }
}

extension ToolCallSpec {
    fileprivate func strippingWhitespace() -> ToolCallSpec {
        var spec = self
        spec.additionalInstruction = additionalInstruction.strippedOfWhitespace
        spec.audioFillers = audioFillers.map(\.strippedOfWhitespace)
        return spec
    }
}

extension String {
    /// Like Python's `str.strip()`: white space removed from both ends.
    fileprivate var strippedOfWhitespace: String {
        guard let first = firstIndex(where: { !$0.isWhitespace }),
              let last = lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return String(self[first...last])
    }
}
