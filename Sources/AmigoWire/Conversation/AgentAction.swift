import Foundation

/// What the agent is doing right now, streamed as `{"type": "current-agent-action", "action": {...}}`.
/// A flat object discriminated by `type`; clients filter on ``type`` with the `current_agent_action_type`
/// regex. Covers every member of the API's `Action` union (select dynamic behavior, active memory,
/// navigate state machine, generate tool params, engage user).
public enum AgentAction: Codable, Sendable, Hashable {
    case selectDynamicBehaviorVectorGenerated
    case selectDynamicBehaviorRelevanceRetrievalCompleted
    /// The dynamic behavior set chosen for this interaction and the one of the previous interaction.
    case selectDynamicBehaviorCompleted(selected: VersionInfo?, previous: VersionInfo?)
    case checkIfActiveMemoryNeededCompleted(queries: [String])
    case extractActiveMemoriesCompleted(queriesAndResponses: [QueryAndResponse])
    case navigateDynamicBehaviorOverride(overridingInstructions: Bool, overridingToolCandidates: Bool)
    case actionSelected(action: String)
    case decisionStarted
    case exitConditionSelected(exitCondition: String, nextGraph: VersionInfo, nextStateName: String)
    case dynamicQueriesGenerated(dynamicQueries: [String], requestedInformation: String)
    case staticQueriesRetrieved(staticQueries: [String])
    case activeMemoryRetrieved(queriesAndResponses: [QueryAndResponse])
    case reflectionPromptRetrieved(prompt: String)
    case reflectionGenerated(reflection: String)
    case annotationRetrieved(annotation: String)
    case stateTransitioned(previousState: String, previousGraph: VersionInfo, nextState: String, nextGraph: VersionInfo)
    /// `duration` in seconds.
    case toolOutputAvailable(toolID: String, toolVersion: String, toolOutput: String, duration: Double, inputArguments: [String: JSONValue])
    case engageUserDynamicBehaviorOverride(overridingInstructions: Bool, overridingToolCandidates: Bool)
    case messageFragmentGenerated(index: Int, fragment: String, isFinal: Bool)
    /// `roundIndex` is `tool_round_index`: the round of tool calls within the current model call.
    case toolCallStarted(roundIndex: Int, toolID: String, toolVersion: String, inputParams: [String: JSONValue])
    case toolCallEnded(roundIndex: Int, toolID: String, toolVersion: String, inputParameters: [String: JSONValue], result: String, duration: Double)
    /// A started action is slow; `filler` is text, or base64 16 kHz mono PCM16 WAV when audio fillers exist.
    case actionTooLong(filler: String, previouslyStartedEvent: JSONValue)
    case designatedToolRetrieved(toolID: String, toolVersion: String)
    case designatedToolCallParamsGenerated(toolID: String, toolVersion: String, toolCallParams: [String: JSONValue])
    /// A dynamic behavior was selected and applies to this interaction (seed 002). Not in the API
    /// document's `Action` union: the official SDK 2.5.0 cannot parse it (see ``isUnknownToTheSDK``).
    case dynamicBehaviorTriggered(VersionInfo)

    /// The wire `type`, e.g. `navigate-state-machine-exit-condition-selected`.
    public var type: String {
        switch self {
        case .selectDynamicBehaviorVectorGenerated: "select-dynamic-behavior-vector-generated"
        case .selectDynamicBehaviorRelevanceRetrievalCompleted: "select-dynamic-behavior-relevance-retrieval-completed"
        case .selectDynamicBehaviorCompleted: "select-dynamic-behavior-completed"
        case .checkIfActiveMemoryNeededCompleted: "check-if-active-memory-needed-completed"
        case .extractActiveMemoriesCompleted: "extract-active-memories-completed"
        case .navigateDynamicBehaviorOverride: "navigate-state-machine-dynamic-behavior-override"
        case .actionSelected: "navigate-state-machine-action-state-action-selected"
        case .decisionStarted: "navigate-state-machine-decision-state-decision-started"
        case .exitConditionSelected: "navigate-state-machine-exit-condition-selected"
        case .dynamicQueriesGenerated: "navigate-state-machine-recall-state-dynamic-queries-generated"
        case .staticQueriesRetrieved: "navigate-state-machine-recall-state-static-queries-retrieved"
        case .activeMemoryRetrieved: "navigate-state-machine-recall-state-active-memory-retrieved"
        case .reflectionPromptRetrieved: "navigate-state-machine-reflection-state-prompt-retrieved"
        case .reflectionGenerated: "navigate-state-machine-reflection-state-reflection-generated"
        case .annotationRetrieved: "navigate-state-machine-annotation-state-annotation-retrieved"
        case .stateTransitioned: "navigate-state-machine-state-transitioned"
        case .toolOutputAvailable: "navigate-state-machine-tool-call-state-tool-output-available"
        case .engageUserDynamicBehaviorOverride: "engage-user-dynamic-behavior-override"
        case .messageFragmentGenerated: "engage-user-message-fragment-generated"
        case .toolCallStarted: "tool-call-started"
        case .toolCallEnded: "tool-call-ended"
        case .actionTooLong: "action-too-long"
        case .designatedToolRetrieved: "designated-tool-retrieved"
        case .designatedToolCallParamsGenerated: "designated-tool-call-params-generated"
        case .dynamicBehaviorTriggered: "dynamic-behavior-triggered"
        }
    }

    /// Whether the official SDK (2.5.0) fails to parse this action: its `ServiceConversationAction`
    /// union lacks it, so a REST stream sends it only to clients that asked for it by type.
    public var isUnknownToTheSDK: Bool {
        if case .dynamicBehaviorTriggered = self { return true }
        return false
    }

    enum CodingKeys: String, CodingKey {
        case type
        case selected = "selected_dynamic_behavior_set_version_info"
        case previous = "previous_selected_dynamic_behavior_set_version_info"
        case triggered = "dynamic_behavior_set_version_info"
        case queries
        case queriesAndResponses = "queries_and_responses"
        case overridingInstructions = "overriding_instructions"
        case overridingToolCandidates = "overriding_tool_candidates"
        case action
        case exitCondition = "exit_condition"
        case nextStateGraph = "next_state_state_machine_version_info"
        case nextStateName = "next_state_name"
        case dynamicQueries = "dynamic_queries"
        case requestedInformation = "requested_information"
        case staticQueries = "static_queries"
        case prompt, reflection, annotation
        case previousState = "prev_state"
        case previousStateGraph = "prev_state_state_machine_version_info"
        case nextState = "next_state"
        case toolID = "tool_id"
        case toolVersion = "tool_version"
        case toolOutput = "tool_output"
        case duration
        case inputArguments = "input_arguments"
        case index, fragment
        case isFinal = "is_final"
        case roundIndex = "tool_round_index"
        case inputParams = "input_params"
        case inputParameters = "input_parameters"
        case result, filler
        case previouslyStartedEvent = "previously_started_event"
        case toolCallParams = "tool_call_params"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        func string(_ key: CodingKeys) throws -> String { try c.decode(String.self, forKey: key) }
        func strings(_ key: CodingKeys) throws -> [String] { try c.decode([String].self, forKey: key) }
        func bool(_ key: CodingKeys) throws -> Bool { try c.decode(Bool.self, forKey: key) }
        func int(_ key: CodingKeys) throws -> Int { try c.decode(Int.self, forKey: key) }
        func double(_ key: CodingKeys) throws -> Double { try c.decode(Double.self, forKey: key) }
        func version(_ key: CodingKeys) throws -> VersionInfo { try c.decode(VersionInfo.self, forKey: key) }
        func object(_ key: CodingKeys) throws -> [String: JSONValue] { try c.decode([String: JSONValue].self, forKey: key) }
        func pairs(_ key: CodingKeys) throws -> [QueryAndResponse] { try c.decode([QueryAndResponse].self, forKey: key) }

        switch type {
        case "select-dynamic-behavior-vector-generated":
            self = .selectDynamicBehaviorVectorGenerated
        case "select-dynamic-behavior-relevance-retrieval-completed":
            self = .selectDynamicBehaviorRelevanceRetrievalCompleted
        case "select-dynamic-behavior-completed":
            self = .selectDynamicBehaviorCompleted(
                selected: try c.decodeIfPresent(VersionInfo.self, forKey: .selected),
                previous: try c.decodeIfPresent(VersionInfo.self, forKey: .previous))
        case "check-if-active-memory-needed-completed":
            self = .checkIfActiveMemoryNeededCompleted(queries: try strings(.queries))
        case "extract-active-memories-completed":
            self = .extractActiveMemoriesCompleted(queriesAndResponses: try pairs(.queriesAndResponses))
        case "navigate-state-machine-dynamic-behavior-override":
            self = .navigateDynamicBehaviorOverride(overridingInstructions: try bool(.overridingInstructions), overridingToolCandidates: try bool(.overridingToolCandidates))
        case "navigate-state-machine-action-state-action-selected":
            self = .actionSelected(action: try string(.action))
        case "navigate-state-machine-decision-state-decision-started":
            self = .decisionStarted
        case "navigate-state-machine-exit-condition-selected":
            self = .exitConditionSelected(exitCondition: try string(.exitCondition), nextGraph: try version(.nextStateGraph), nextStateName: try string(.nextStateName))
        case "navigate-state-machine-recall-state-dynamic-queries-generated":
            self = .dynamicQueriesGenerated(dynamicQueries: try strings(.dynamicQueries), requestedInformation: try string(.requestedInformation))
        case "navigate-state-machine-recall-state-static-queries-retrieved":
            self = .staticQueriesRetrieved(staticQueries: try strings(.staticQueries))
        case "navigate-state-machine-recall-state-active-memory-retrieved":
            self = .activeMemoryRetrieved(queriesAndResponses: try pairs(.queriesAndResponses))
        case "navigate-state-machine-reflection-state-prompt-retrieved":
            self = .reflectionPromptRetrieved(prompt: try string(.prompt))
        case "navigate-state-machine-reflection-state-reflection-generated":
            self = .reflectionGenerated(reflection: try string(.reflection))
        case "navigate-state-machine-annotation-state-annotation-retrieved":
            self = .annotationRetrieved(annotation: try string(.annotation))
        case "navigate-state-machine-state-transitioned":
            self = .stateTransitioned(
                previousState: try string(.previousState), previousGraph: try version(.previousStateGraph),
                nextState: try string(.nextState), nextGraph: try version(.nextStateGraph))
        case "navigate-state-machine-tool-call-state-tool-output-available":
            self = .toolOutputAvailable(
                toolID: try string(.toolID), toolVersion: try string(.toolVersion), toolOutput: try string(.toolOutput),
                duration: try double(.duration), inputArguments: try object(.inputArguments))
        case "engage-user-dynamic-behavior-override":
            self = .engageUserDynamicBehaviorOverride(overridingInstructions: try bool(.overridingInstructions), overridingToolCandidates: try bool(.overridingToolCandidates))
        case "engage-user-message-fragment-generated":
            self = .messageFragmentGenerated(index: try int(.index), fragment: try string(.fragment), isFinal: try bool(.isFinal))
        case "tool-call-started":
            self = .toolCallStarted(roundIndex: try int(.roundIndex), toolID: try string(.toolID), toolVersion: try string(.toolVersion), inputParams: try object(.inputParams))
        case "tool-call-ended":
            self = .toolCallEnded(
                roundIndex: try int(.roundIndex), toolID: try string(.toolID), toolVersion: try string(.toolVersion),
                inputParameters: try object(.inputParameters), result: try string(.result), duration: try double(.duration))
        case "action-too-long":
            // `previously_started_event` is required but may itself be `null`.
            guard c.contains(.previouslyStartedEvent) else {
                throw DecodingError.keyNotFound(CodingKeys.previouslyStartedEvent, .init(codingPath: c.codingPath, debugDescription: "Field required"))
            }
            self = .actionTooLong(filler: try string(.filler), previouslyStartedEvent: try c.decode(JSONValue.self, forKey: .previouslyStartedEvent))
        case "designated-tool-retrieved":
            self = .designatedToolRetrieved(toolID: try string(.toolID), toolVersion: try string(.toolVersion))
        case "designated-tool-call-params-generated":
            self = .designatedToolCallParamsGenerated(toolID: try string(.toolID), toolVersion: try string(.toolVersion), toolCallParams: try object(.toolCallParams))
        case "dynamic-behavior-triggered":
            self = .dynamicBehaviorTriggered(try c.decode(VersionInfo.self, forKey: .triggered))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "Unknown agent action type '\(type)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        switch self {
        case .selectDynamicBehaviorVectorGenerated, .selectDynamicBehaviorRelevanceRetrievalCompleted, .decisionStarted:
            break
        case .selectDynamicBehaviorCompleted(let selected, let previous):
            try c.encode(selected, forKey: .selected)
            try c.encode(previous, forKey: .previous)
        case .checkIfActiveMemoryNeededCompleted(let queries):
            try c.encode(queries, forKey: .queries)
        case .extractActiveMemoriesCompleted(let pairs), .activeMemoryRetrieved(let pairs):
            try c.encode(pairs, forKey: .queriesAndResponses)
        case .navigateDynamicBehaviorOverride(let instructions, let toolCandidates), .engageUserDynamicBehaviorOverride(let instructions, let toolCandidates):
            try c.encode(instructions, forKey: .overridingInstructions)
            try c.encode(toolCandidates, forKey: .overridingToolCandidates)
        case .actionSelected(let action):
            try c.encode(action, forKey: .action)
        case .exitConditionSelected(let exitCondition, let nextGraph, let nextStateName):
            try c.encode(exitCondition, forKey: .exitCondition)
            try c.encode(nextGraph, forKey: .nextStateGraph)
            try c.encode(nextStateName, forKey: .nextStateName)
        case .dynamicQueriesGenerated(let queries, let requestedInformation):
            try c.encode(queries, forKey: .dynamicQueries)
            try c.encode(requestedInformation, forKey: .requestedInformation)
        case .staticQueriesRetrieved(let queries):
            try c.encode(queries, forKey: .staticQueries)
        case .reflectionPromptRetrieved(let prompt):
            try c.encode(prompt, forKey: .prompt)
        case .reflectionGenerated(let reflection):
            try c.encode(reflection, forKey: .reflection)
        case .annotationRetrieved(let annotation):
            try c.encode(annotation, forKey: .annotation)
        case .stateTransitioned(let previousState, let previousGraph, let nextState, let nextGraph):
            try c.encode(previousState, forKey: .previousState)
            try c.encode(previousGraph, forKey: .previousStateGraph)
            try c.encode(nextState, forKey: .nextState)
            try c.encode(nextGraph, forKey: .nextStateGraph)
        case .toolOutputAvailable(let toolID, let toolVersion, let toolOutput, let duration, let inputArguments):
            try c.encode(toolID, forKey: .toolID)
            try c.encode(toolVersion, forKey: .toolVersion)
            try c.encode(toolOutput, forKey: .toolOutput)
            try c.encode(duration, forKey: .duration)
            try c.encode(inputArguments, forKey: .inputArguments)
        case .messageFragmentGenerated(let index, let fragment, let isFinal):
            try c.encode(index, forKey: .index)
            try c.encode(fragment, forKey: .fragment)
            try c.encode(isFinal, forKey: .isFinal)
        case .toolCallStarted(let roundIndex, let toolID, let toolVersion, let inputParams):
            try c.encode(roundIndex, forKey: .roundIndex)
            try c.encode(toolID, forKey: .toolID)
            try c.encode(toolVersion, forKey: .toolVersion)
            try c.encode(inputParams, forKey: .inputParams)
        case .toolCallEnded(let roundIndex, let toolID, let toolVersion, let inputParameters, let result, let duration):
            try c.encode(roundIndex, forKey: .roundIndex)
            try c.encode(toolID, forKey: .toolID)
            try c.encode(toolVersion, forKey: .toolVersion)
            try c.encode(inputParameters, forKey: .inputParameters)
            try c.encode(result, forKey: .result)
            try c.encode(duration, forKey: .duration)
        case .actionTooLong(let filler, let previouslyStartedEvent):
            try c.encode(filler, forKey: .filler)
            try c.encode(previouslyStartedEvent, forKey: .previouslyStartedEvent)
        case .designatedToolRetrieved(let toolID, let toolVersion):
            try c.encode(toolID, forKey: .toolID)
            try c.encode(toolVersion, forKey: .toolVersion)
        case .designatedToolCallParamsGenerated(let toolID, let toolVersion, let toolCallParams):
            try c.encode(toolID, forKey: .toolID)
            try c.encode(toolVersion, forKey: .toolVersion)
            try c.encode(toolCallParams, forKey: .toolCallParams)
        case .dynamicBehaviorTriggered(let info):
            try c.encode(info, forKey: .triggered)
        }
    }
}

/// A memory query and what it found: `[query, response]` on the wire.
public struct QueryAndResponse: Codable, Sendable, Hashable {
    public var query: String
    public var response: String

    public init(query: String, response: String) {
        self.query = query
        self.response = response
    }

    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        query = try c.decode(String.self)
        response = try c.decode(String.self)
        if !c.isAtEnd {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "Tuple should have at most 2 items")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(query)
        try c.encode(response)
    }
}
