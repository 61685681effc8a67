import AmigoWire
import Foundation
import Testing

// MARK: - Wire format

@Suite struct ContextGraphWireTests {
    @Test func aFullGraphRoundTripsToTheSameJSON() throws {
        let graph = try decode(GraphJSON.full)
        let reencoded = try JSONDecoder().decode(JSONTree.self, from: JSONEncoder().encode(graph))
        let original = try JSONDecoder().decode(JSONTree.self, from: Data(GraphJSON.full.utf8))
        #expect(reencoded == original)
    }

    @Test func aFullGraphDecodesEveryStateType() throws {
        let graph = try decode(GraphJSON.full)
        #expect(graph.states.map(\.kind) == [.action, .decision, .recall, .annotation, .reflection, .toolCall, .recall, .action])
        #expect(graph.references == ["billing": ReferenceTarget(graphID: "aaaaaaaaaaaaaaaaaaaaaaaa", version: 3)])
        guard case .decision(let route) = graph.states[1], case .toolCall(let lookup) = graph.states[5] else {
            Issue.record("states[1] should be a decision and states[5] a tool call")
            return
        }
        #expect(route.exitConditions[1].nextState == .external(externalState: "billing.intake", jumpback: "done"))
        #expect(route.audioFillerTriggeredAfter == 2.5)
        #expect(lookup.designatedTool.resultPersistence == .persisted)
        #expect(ContextGraphValidator.validate(graph, referencedStates: ["billing": ["intake"]]).isEmpty)
    }

    @Test func aRecallStateMayOmitTheNullOneOfQueriesAndRequestedInformation() throws {
        // The official SDK drops fields whose value is None: a required-but-nullable field may be absent.
        let withQueries = try JSONDecoder().decode(State.self, from: Data(#"{"type": "recall", "name": "r", "queries": ["a"], "next_state": "n"}"#.utf8))
        let withInformation = try JSONDecoder().decode(State.self, from: Data(#"{"type": "recall", "name": "r", "requested_information": "age", "next_state": "n"}"#.utf8))
        guard case .recall(let first) = withQueries, case .recall(let second) = withInformation else {
            Issue.record("both should decode as recall states")
            return
        }
        #expect(first.queries == ["a"] && first.requestedInformation == nil)
        #expect(second.queries == nil && second.requestedInformation == "age")
    }

    @Test func encodedStatesUseExactlyTheAPIFieldNames() throws {
        let encoded = try JSONDecoder().decode(JSONTree.self, from: JSONEncoder().encode(Build.valid))
        guard case .object(let graph) = encoded, case .array(let states) = graph["states"] else {
            Issue.record("the graph should encode as an object with a states array")
            return
        }
        #expect(Set(graph.keys) == [
            "description", "states", "new_user_initial_state", "returning_user_initial_state", "terminal_state",
            "references", "global_intra_state_navigation_guidelines", "global_action_guidelines", "global_boundary_constraints",
        ])
        for state in states {
            guard case .object(let fields) = state, case .string(let type) = fields["type"] else {
                Issue.record("every state should encode as an object with a type")
                continue
            }
            #expect(Set(fields.keys) == Self.fieldNames[type], "fields of a \(type) state")
        }
        guard case .object(let lookup) = states[5], case .object(let tool) = lookup["designated_tool"] else {
            Issue.record("states[5] should be the tool-call state")
            return
        }
        #expect(Set(tool.keys) == [
            "tool_id", "version_constraint", "additional_instruction", "audio_fillers", "audio_filler_triggered_after", "result_persistence",
        ])
    }

    static let fieldNames: [String: Set<String>] = [
        "action": [
            "type", "name", "objective", "actions", "intra_state_navigation_guidelines", "action_guidelines", "boundary_constraints",
            "exit_conditions", "action_tool_call_specs", "exit_condition_tool_call_specs", "skip_active_memory_retrieval",
        ],
        "decision": [
            "type", "name", "exit_conditions", "decision_guidelines", "objective", "tool_call_specs", "audio_fillers",
            "audio_filler_triggered_after",
        ],
        "recall": ["type", "name", "queries", "requested_information", "next_state"],
        "annotation": ["type", "name", "inner_thought", "next_state"],
        "reflection": [
            "type", "name", "problem", "word_limit", "next_state", "tool_call_specs", "audio_fillers", "audio_filler_triggered_after",
        ],
        "tool-call": [
            "type", "name", "next_state", "designated_tool", "designated_tool_call_params_generation_audio_fillers",
            "designated_tool_call_params_generation_audio_filler_triggered_after", "designated_tool_call_objective",
            "designated_tool_call_context", "designated_tool_call_guidances", "designated_tool_call_validations", "tool_call_specs",
        ],
    ]

    @Test func unsetRecallFieldsEncodeAsNull() throws {
        let recall = State.recall(RecallState(name: "remember", queries: ["favourite colour"], nextState: .internal("next")))
        let encoded = try JSONDecoder().decode(JSONTree.self, from: JSONEncoder().encode(recall))
        #expect(encoded == .object([
            "type": .string("recall"),
            "name": .string("remember"),
            "queries": .array([.string("favourite colour")]),
            "requested_information": .null,
            "next_state": .string("next"),
        ]))
    }

    @Test func nextStatesEncodeAsAStringOrAPair() throws {
        let targets: [NextState] = [.internal("done"), .external(externalState: "billing.intake", jumpback: "done")]
        let json = String(decoding: try JSONEncoder().encode(targets), as: UTF8.self)
        #expect(json == #"["done",["billing.intake","done"]]"#)
        #expect(try JSONDecoder().decode([NextState].self, from: Data(json.utf8)) == targets)
    }

    @Test func referencesEncodeAsAnIDAndVersionPair() throws {
        let json = String(decoding: try JSONEncoder().encode(ReferenceTarget(graphID: "aaaaaaaaaaaaaaaaaaaaaaaa", version: 3)), as: UTF8.self)
        #expect(json == #"["aaaaaaaaaaaaaaaaaaaaaaaa",3]"#)
    }

    @Test func anUnknownStateTypeFailsAtTheTypeField() throws {
        let json = GraphJSON.minimal(state: #"{"type": "side-effect", "name": "start"}"#)
        let error = try #require(throws: DecodingError.self) { try decode(json) }
        guard case .dataCorrupted(let context) = error else {
            Issue.record("expected dataCorrupted, got \(error)")
            return
        }
        #expect(path(context.codingPath) == ["states", "0", "type"])
        #expect(context.debugDescription.contains("'side-effect'"))
    }

    @Test func aMissingRequiredFieldIsNamedInTheError() throws {
        let json = GraphJSON.minimal(state: #"""
            {"type": "action", "name": "start", "actions": ["Greet"], "intra_state_navigation_guidelines": [],
             "action_guidelines": [], "boundary_constraints": [], "exit_conditions": [], "action_tool_call_specs": [],
             "exit_condition_tool_call_specs": [], "skip_active_memory_retrieval": false}
            """#)
        let error = try #require(throws: DecodingError.self) { try decode(json) }
        guard case .keyNotFound(let key, let context) = error else {
            Issue.record("expected keyNotFound, got \(error)")
            return
        }
        #expect(key.stringValue == "objective")
        #expect(path(context.codingPath) == ["states", "0"])
    }

    @Test func aRecallStateWithoutEitherQueriesOrRequestedInformationIsInvalid() throws {
        // Both may be absent on the wire (the SDK drops None); the validator still wants exactly one.
        let json = GraphJSON.minimal(state: #"{"type": "recall", "name": "remember", "next_state": "start"}"#)
        let graph = try decode(json)
        #expect(!ContextGraphValidator.validate(graph, referencedStates: [:]).isEmpty)
    }

    @Test(arguments: [#"["billing.intake"]"#, #"["a.b", "c", "d"]"#, "42", #"{"state": "a"}"#])
    func malformedNextStatesFailAtTheirField(nextState: String) throws {
        let json = GraphJSON.minimal(state: #"{"type": "annotation", "name": "note", "inner_thought": "x", "next_state": \#(nextState)}"#)
        let error = try #require(throws: DecodingError.self) { try decode(json) }
        guard case .dataCorrupted(let context) = error else {
            Issue.record("expected dataCorrupted, got \(error)")
            return
        }
        #expect(path(context.codingPath) == ["states", "0", "next_state"])
    }

    @Test func anUnknownResultPersistenceIsADecodingError() throws {
        var json = GraphJSON.full
        json = json.replacingOccurrences(of: #""result_persistence": "persisted-preferred""#, with: #""result_persistence": "forever""#)
        #expect(throws: DecodingError.self) { try decode(json) }
    }

    @Test func accessorsExposeNamesKindsAndTargets() throws {
        let graph = Build.valid
        let route = try #require(graph.state(named: "route"))
        #expect(route.kind == .decision)
        #expect(route.isPassthrough)
        #expect(route.nextStates == [.internal("remember"), .internal("done"), .external(externalState: "billing.intake", jumpback: "done")])
        #expect(route.exitConditions.count == 3)
        #expect(graph.state(named: "note")?.nextStates == [.internal("think")])
        #expect(graph.state(named: "done")?.isPassthrough == false)
        #expect(graph.state(named: "nowhere") == nil)
        let external = try #require(route.nextStates[2].externalTarget)
        #expect(external.reference == "billing" && external.state == "intake")
        #expect(route.nextStates[2].jumpback == "done")
        #expect(route.nextStates[0].internalName == "remember")
        #expect(route.nextStates[0].externalTarget == nil)
    }

    @Test func strippingWhitespaceTrimsTextButNotNames() throws {
        var graph = Build.valid
        graph.description = "  A graph \n"
        graph.editAction("start") {
            $0.actions = ["\tGreet the user  "]
            $0.exitConditions[0].description = " The user said hello "
        }
        graph.editAnnotation("note") { $0.innerThought = " Remember this. " }
        let stripped = graph.strippingWhitespace()
        #expect(stripped.description == "A graph")
        guard case .action(let start) = stripped.states[0], case .annotation(let note) = stripped.states[3] else {
            Issue.record("state order changed")
            return
        }
        #expect(start.actions == ["Greet the user"])
        #expect(start.exitConditions[0].description == "The user said hello")
        #expect(note.innerThought == "Remember this.")
        #expect(stripped.states.map(\.name) == graph.states.map(\.name))
    }

    private func decode(_ json: String) throws -> ContextGraphDefinition {
        try JSONDecoder().decode(ContextGraphDefinition.self, from: Data(json.utf8))
    }

    private func path(_ codingPath: [any CodingKey]) -> [String] {
        codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
    }
}

// MARK: - Validation

@Suite struct ContextGraphValidatorTests {
    @Test func aValidGraphUsingEveryStateTypeHasNoIssues() {
        #expect(issues(Build.valid) == [])
    }

    @Test func aMinimalOneStateGraphIsValid() {
        let graph = Build.graph([Build.action("done")], initial: "done", terminal: "done")
        #expect(issues(graph, referencedStates: [:]) == [])
    }

    // Rule 1: names.

    @Test(arguments: ["ask name", "ask-name", "", "café", "billing.intake"])
    func stateNamesMustMatchThePattern(name: String) {
        var graph = Build.valid
        graph.editAnnotation("note") { $0.name = name }
        graph.editRecall("remember") { $0.nextState = .internal(name) }
        let found = issues(graph)
        expectIssue(in: found, at: ["body", "states", 3, "name"], type: "string_pattern_mismatch", mentioning: "'\(name)'")
    }

    @Test func duplicateStateNamesAreReported() {
        var graph = Build.valid
        graph.states.append(Build.annotation("note", to: "think"))
        let found = issues(graph)
        #expect(found.map(\.loc) == [["body", "states", 7, "name"]])
        #expect(found.first?.msg.contains("'note'") == true)
        #expect(found.first?.msg.contains("states[3]") == true)
    }

    // Rule 2: StrippedNonemptyString fields.

    @Test(arguments: [
        Mutation("graph description", at: ["body", "description"]) { $0.description = " \n " },
        Mutation("action objective", at: ["body", "states", 0, "objective"]) { $0.editAction("start") { $0.objective = "" } },
        Mutation("action item", at: ["body", "states", 0, "actions", 0]) { $0.editAction("start") { $0.actions = ["  "] } },
        Mutation("action guideline", at: ["body", "states", 0, "action_guidelines", 0]) { $0.editAction("start") { $0.actionGuidelines = ["\t"] } },
        Mutation("boundary constraint", at: ["body", "states", 0, "boundary_constraints", 0]) { $0.editAction("start") { $0.boundaryConstraints = [""] } },
        Mutation("navigation guideline", at: ["body", "states", 0, "intra_state_navigation_guidelines", 0]) {
            $0.editAction("start") { $0.intraStateNavigationGuidelines = [" "] }
        },
        Mutation("exit condition description", at: ["body", "states", 0, "exit_conditions", 0, "description"]) {
            $0.editAction("start") { $0.exitConditions[0].description = "  " }
        },
        Mutation("decision guideline", at: ["body", "states", 1, "decision_guidelines", 0]) { $0.editDecision("route") { $0.decisionGuidelines = [""] } },
        Mutation("decision objective", at: ["body", "states", 1, "objective"]) { $0.editDecision("route") { $0.objective = " " } },
        Mutation("requested information", at: ["body", "states", 2, "requested_information"]) {
            $0.editRecall("remember") { $0.queries = nil; $0.requestedInformation = "  " }
        },
        Mutation("inner thought", at: ["body", "states", 3, "inner_thought"]) { $0.editAnnotation("note") { $0.innerThought = "" } },
        Mutation("reflection problem", at: ["body", "states", 4, "problem"]) { $0.editReflection("think") { $0.problem = "\n" } },
        Mutation("audio filler", at: ["body", "states", 4, "audio_fillers", 1]) { $0.editReflection("think") { $0.audioFillers = ["Hmm", " "] } },
        Mutation("designated tool objective", at: ["body", "states", 5, "designated_tool_call_objective"]) {
            $0.editToolCall("lookup") { $0.designatedToolCallObjective = "" }
        },
        Mutation("designated tool context", at: ["body", "states", 5, "designated_tool_call_context"]) {
            $0.editToolCall("lookup") { $0.designatedToolCallContext = " " }
        },
        Mutation("designated tool guidance", at: ["body", "states", 5, "designated_tool_call_guidances", 0]) {
            $0.editToolCall("lookup") { $0.designatedToolCallGuidances = [""] }
        },
        Mutation("designated tool validation", at: ["body", "states", 5, "designated_tool_call_validations", 0]) {
            $0.editToolCall("lookup") { $0.designatedToolCallValidations = [" "] }
        },
        Mutation("additional instruction", at: ["body", "states", 5, "designated_tool", "additional_instruction"]) {
            $0.editToolCall("lookup") { $0.designatedTool.additionalInstruction = "" }
        },
        Mutation("global guideline", at: ["body", "global_action_guidelines", 0]) { $0.globalActionGuidelines = [" "] },
        Mutation("global boundary constraint", at: ["body", "global_boundary_constraints", 1]) { $0.globalBoundaryConstraints = ["Stay polite", ""] },
        Mutation("global navigation guideline", at: ["body", "global_intra_state_navigation_guidelines", 0]) {
            $0.globalIntraStateNavigationGuidelines = ["\n"]
        },
    ])
    func blankTextIsReported(mutation: Mutation) {
        let found = issues(mutation.applied(to: Build.valid))
        #expect(found.map(\.loc) == [mutation.loc])
        #expect(found.map(\.type) == ["string_too_short"])
    }

    // Rule 3: per-field limits.

    @Test func anActionStateWithoutActionsIsReported() {
        var graph = Build.valid
        graph.editAction("start") { $0.actions = [] }
        let found = issues(graph)
        #expect(found.map(\.loc) == [["body", "states", 0, "actions"]])
        #expect(found.first?.msg.contains("'start'") == true)
    }

    @Test(arguments: [0, -3])
    func aReflectionWordLimitMustBePositive(limit: Int) {
        var graph = Build.valid
        graph.editReflection("think") { $0.wordLimit = limit }
        #expect(issues(graph).map(\.loc) == [["body", "states", 4, "word_limit"]])
    }

    @Test func moreThanFiveAudioFillersAreReported() {
        var graph = Build.valid
        graph.editDecision("route") { $0.audioFillers = ["One", "Two", "Three", "Four", "Five", "Six"] }
        let found = issues(graph)
        #expect(found.map(\.loc) == [["body", "states", 1, "audio_fillers"]])
        #expect(found.map(\.type) == ["too_long"])
    }

    @Test(arguments: [(0.0, "greater_than"), (-1.0, "greater_than"), (Double.nan, "greater_than"), (10.5, "less_than_equal")])
    func audioFillerDelaysMustBeWithinTenSeconds(seconds: Double, type: String) {
        var graph = Build.valid
        graph.editToolCall("lookup") { $0.designatedToolCallParamsGenerationAudioFillerTriggeredAfter = seconds }
        graph.editAction("start") { $0.actionToolCallSpecs[0].audioFillerTriggeredAfter = seconds }
        let found = issues(graph)
        #expect(found.map(\.loc) == [
            ["body", "states", 0, "action_tool_call_specs", 0, "audio_filler_triggered_after"],
            ["body", "states", 5, "designated_tool_call_params_generation_audio_filler_triggered_after"],
        ])
        #expect(found.allSatisfy { $0.type == type })
    }

    @Test func aTenSecondFillerDelayIsAllowed() {
        var graph = Build.valid
        graph.editDecision("route") { $0.audioFillerTriggeredAfter = 10 }
        #expect(issues(graph) == [])
    }

    @Test(arguments: ["ABCDEF0123456789abcdef01", "123", "0123456789abcdef0123456g"])
    func toolIDsMustBeObjectIDs(toolID: String) {
        var graph = Build.valid
        graph.editToolCall("lookup") { $0.designatedTool.toolID = toolID }
        let found = issues(graph)
        expectIssue(in: found, at: ["body", "states", 5, "designated_tool", "tool_id"], type: "string_pattern_mismatch", mentioning: toolID)
        #expect(found.count == 1)
    }

    @Test func aToolListedTwiceInOneStateIsReported() {
        var graph = Build.valid
        graph.editAction("start") { $0.actionToolCallSpecs.append(Build.tool(.ephemeral)) }
        #expect(issues(graph).map(\.loc) == [["body", "states", 0, "action_tool_call_specs", 1, "tool_id"]])
    }

    // Rule 4: transition targets.

    @Test(arguments: [
        TargetCase("a missing internal state", .internal("nowhere"), at: [], mentioning: "'nowhere'"),
        TargetCase("the state itself", .internal("start"), at: [], mentioning: "itself"),
        TargetCase("an external-looking string", .internal("billing.intake"), at: [], mentioning: "jumpback"),
        TargetCase("a badly formed internal name", .internal("bad name"), at: [], mentioning: "'bad name'"),
        TargetCase("an external state without a dot", .external(externalState: "billing", jumpback: "done"), at: [0], mentioning: "'billing'"),
        TargetCase("an unknown reference", .external(externalState: "shipping.intake", jumpback: "done"), at: [0], mentioning: "'shipping'"),
        TargetCase("an unknown referenced state", .external(externalState: "billing.refund", jumpback: "done"), at: [0], mentioning: "'refund'"),
        TargetCase("a missing jumpback", .external(externalState: "billing.intake", jumpback: "nowhere"), at: [1], mentioning: "'nowhere'"),
        TargetCase("a badly formed jumpback", .external(externalState: "billing.intake", jumpback: "billing.done"), at: [1], mentioning: "'billing.done'"),
    ])
    func exitConditionTargetsMustResolve(target: TargetCase) {
        var graph = Build.valid
        graph.editAction("start") { $0.exitConditions.append(ExitCondition(description: "Something else", nextState: target.nextState)) }
        let found = issues(graph)
        let loc: [ValidationIssue.Location] = ["body", "states", 0, "exit_conditions", 1, "next_state"] + target.suffix
        #expect(found.map(\.loc) == [loc])
        #expect(found.first.map { $0.msg.contains("'start'") && $0.msg.contains(target.mention) } == true, "\(found)")
    }

    @Test(arguments: [
        Mutation("remember", at: ["body", "states", 2, "next_state"]) { $0.editRecall("remember") { $0.nextState = .internal("nowhere") } },
        Mutation("note", at: ["body", "states", 3, "next_state"]) { $0.editAnnotation("note") { $0.nextState = .internal("note") } },
        Mutation("think", at: ["body", "states", 4, "next_state", 0]) {
            $0.editReflection("think") { $0.nextState = .external(externalState: "billing.nope", jumpback: "lookup") }
        },
        Mutation("lookup", at: ["body", "states", 5, "next_state", 1]) {
            $0.editToolCall("lookup") { $0.nextState = .external(externalState: "billing.intake", jumpback: "gone") }
        },
        Mutation("route", at: ["body", "states", 1, "exit_conditions", 0, "next_state"]) {
            $0.editDecision("route") { $0.exitConditions[0].nextState = .internal("route") }
        },
    ])
    func passthroughTargetsMustResolve(mutation: Mutation) {
        expectIssue(in: issues(mutation.applied(to: Build.valid)), at: mutation.loc, type: "value_error", mentioning: "'\(mutation.name)'")
    }

    @Test func aJumpbackBackIntoTheSameStateIsAllowed() {
        var graph = Build.valid
        graph.editAction("start") { $0.exitConditions.append(ExitCondition(description: "Billing", nextState: .external(externalState: "billing.intake", jumpback: "start"))) }
        #expect(issues(graph) == [])
    }

    // Rule 5: initial and terminal states.

    @Test(arguments: [
        Mutation("missing new-user state", at: ["body", "new_user_initial_state"]) { $0.newUserInitialState = "nowhere" },
        Mutation("decision as returning-user state", at: ["body", "returning_user_initial_state"]) { $0.returningUserInitialState = "route" },
        Mutation("recall as terminal state", at: ["body", "terminal_state"]) { $0.terminalState = "remember" },
        Mutation("external terminal state", at: ["body", "terminal_state"]) { $0.terminalState = "billing.intake" },
    ])
    func initialAndTerminalStatesMustBeInternalActionStates(mutation: Mutation) {
        let found = issues(mutation.applied(to: Build.valid))
        #expect(found.map(\.loc) == [mutation.loc], "\(found)")
    }

    @Test func theMessageSaysWhichKindTheWronglyDesignatedStateIs() {
        var graph = Build.valid
        graph.terminalState = "lookup"
        #expect(issues(graph).first?.msg.contains("'lookup' is a tool-call state") == true)
    }

    // Rule 6: the terminal state.

    @Test func theTerminalStateCannotHaveExitConditions() {
        var graph = Build.valid
        graph.editAction("done") { $0.exitConditions = [ExitCondition(description: "Again", nextState: .internal("start"))] }
        let found = issues(graph)
        #expect(found.map(\.loc) == [["body", "states", 6, "exit_conditions"]])
        #expect(found.first?.msg.contains("'done'") == true)
    }

    @Test func theTerminalStateHasExactlyOneAction() {
        var graph = Build.valid
        graph.editAction("done") { $0.actions = ["Say goodbye", "Wave"] }
        #expect(issues(graph).map(\.loc) == [["body", "states", 6, "actions"]])
        graph.editAction("done") { $0.actions = [] }
        #expect(issues(graph).map(\.loc) == [["body", "states", 6, "actions"]])
    }

    // Rule 7: recall sources.

    @Test(arguments: [
        RecallSource(queries: nil, requestedInformation: nil, loc: ["body", "states", 2], mentioning: "neither"),
        RecallSource(queries: ["name"], requestedInformation: "Their name", loc: ["body", "states", 2], mentioning: "both"),
        RecallSource(queries: [], requestedInformation: nil, loc: ["body", "states", 2, "queries"], mentioning: "at least one"),
    ])
    func recallStatesNeedExactlyOneSourceOfQueries(source: RecallSource) {
        var graph = Build.valid
        graph.editRecall("remember") {
            $0.queries = source.queries
            $0.requestedInformation = source.requestedInformation
        }
        let found = issues(graph)
        #expect(found.map(\.loc) == [source.loc])
        #expect(found.first.map { $0.msg.contains("'remember'") && $0.msg.contains(source.mention) } == true, "\(found)")
    }

    @Test func recallStatesMayGenerateQueriesFromRequestedInformation() {
        var graph = Build.valid
        graph.editRecall("remember") {
            $0.queries = nil
            $0.requestedInformation = "What the user prefers"
        }
        #expect(issues(graph) == [])
    }

    // Rule 8: decision states.

    @Test func aDecisionStateWithoutExitConditionsIsReported() {
        var graph = Build.valid
        graph.editAction("start") { $0.exitConditions.append(ExitCondition(description: "Wrap up", nextState: .internal("done"))) }
        graph.editDecision("route") { $0.exitConditions = [] }
        let found = issues(graph)
        expectIssue(in: found, at: ["body", "states", 1, "exit_conditions"], type: "too_short", mentioning: "'route'")
    }

    // Rule 9: designated tools.

    @Test(arguments: [ResultPersistence.ephemeral, .persistedPreferred])
    func designatedToolsMustPersistTheirResults(persistence: ResultPersistence) {
        var graph = Build.valid
        graph.editToolCall("lookup") { $0.designatedTool.resultPersistence = persistence }
        let found = issues(graph)
        #expect(found.map(\.loc) == [["body", "states", 5, "designated_tool", "result_persistence"]])
        #expect(found.first?.msg.contains(persistence.rawValue) == true)
    }

    // Rule 10: reachability.

    @Test func unreachableStatesAreReported() {
        var graph = Build.valid
        graph.states.append(Build.action("orphan", to: ["start"]))
        graph.states.append(Build.annotation("stray", to: "orphan"))
        let found = issues(graph)
        #expect(found.map(\.loc) == [["body", "states", 7], ["body", "states", 8]])
        #expect(found.map(\.msg).allSatisfy { $0.contains("unreachable") })
        #expect(found[0].msg.contains("'orphan'") && found[1].msg.contains("'stray'"))
    }

    @Test func statesReachedOnlyThroughAJumpbackAreReachable() {
        var graph = Build.valid
        graph.states.append(Build.action("after_billing", to: ["done"]))
        graph.editAction("start") {
            $0.exitConditions.append(ExitCondition(description: "Billing", nextState: .external(externalState: "billing.intake", jumpback: "after_billing")))
        }
        #expect(issues(graph) == [])
    }

    @Test func theReturningUserInitialStateIsAnEntryPoint() {
        var graph = Build.valid
        graph.states.append(Build.action("welcome_back", to: ["start"]))
        graph.returningUserInitialState = "welcome_back"
        #expect(issues(graph) == [])
    }

    // Rule 11: references.

    @Test(arguments: [
        ReferenceCase("bad-name", ReferenceTarget(graphID: Build.billingID, version: 1), at: ["body", "references", "bad-name"], type: "string_pattern_mismatch"),
        ReferenceCase("billing", ReferenceTarget(graphID: "not-an-id", version: 1), at: ["body", "references", "billing", 0], type: "string_pattern_mismatch"),
        ReferenceCase("billing", ReferenceTarget(graphID: Build.billingID, version: 0), at: ["body", "references", "billing", 1], type: "greater_than_equal"),
    ])
    func malformedReferencesAreReported(reference: ReferenceCase) {
        var graph = Build.valid
        graph.references = [reference.name: reference.target]
        if reference.name != "billing" {
            graph.editDecision("route") { $0.exitConditions.removeLast() }
        }
        let found = issues(graph, referencedStates: [reference.name: ["intake"]])
        #expect(found.map(\.loc) == [reference.loc], "\(found)")
        #expect(found.map(\.type) == [reference.type])
    }

    @Test func aReferenceTheServerCouldNotResolveIsReported() {
        let found = issues(Build.valid, referencedStates: [:])
        #expect(found.map(\.loc) == [["body", "references", "billing"]])
        #expect(found.first?.msg.contains(Build.billingID) == true)
    }

    // Rule 12: passthrough loops.

    @Test func decisionStatesThatOnlyPointAtEachOtherAreARunaway() {
        var graph = Build.valid
        graph.editAction("start") { $0.exitConditions.append(ExitCondition(description: "Loop", nextState: .internal("loop_a"))) }
        graph.states.append(Build.decision("loop_a", to: ["loop_b"]))
        graph.states.append(Build.decision("loop_b", to: ["loop_a"]))
        let found = issues(graph)
        #expect(found.map(\.loc) == [["body", "states", 7], ["body", "states", 8]])
        #expect(found.allSatisfy { $0.msg.contains("never reaches an action state") && $0.msg.contains("'loop_a', 'loop_b'") })
    }

    @Test func aPassthroughChainThatFeedsALoopIsARunawayToo() {
        var graph = Build.valid
        graph.editAction("start") { $0.exitConditions.append(ExitCondition(description: "Loop", nextState: .internal("entry"))) }
        graph.states.append(Build.annotation("entry", to: "spin_a"))
        graph.states.append(Build.reflection("spin_a", to: "spin_b"))
        graph.states.append(Build.annotation("spin_b", to: "spin_a"))
        #expect(issues(graph).map(\.loc) == [["body", "states", 7], ["body", "states", 8], ["body", "states", 9]])
    }

    @Test func aDecisionLoopWithAWayOutIsAllowed() {
        var graph = Build.valid
        graph.editAction("start") { $0.exitConditions.append(ExitCondition(description: "Loop", nextState: .internal("loop_a"))) }
        graph.states.append(Build.decision("loop_a", to: ["loop_b"]))
        graph.states.append(Build.decision("loop_b", to: ["loop_a", "done"]))
        #expect(issues(graph) == [])
    }

    // Reporting.

    @Test func severalProblemsAreAllReportedTogether() {
        var graph = Build.valid
        graph.description = ""
        graph.states.append(Build.annotation("note", to: "think"))
        graph.editAction("start") { $0.actions = [] }
        graph.editReflection("think") { $0.wordLimit = 0 }
        graph.editToolCall("lookup") { $0.designatedTool.resultPersistence = .ephemeral }
        graph.terminalState = "route"
        let found = issues(graph, referencedStates: [:])
        #expect(found.map(\.loc) == [
            ["body", "description"],
            ["body", "states", 0, "actions"],
            ["body", "states", 4, "word_limit"],
            ["body", "states", 5, "designated_tool", "result_persistence"],
            ["body", "states", 7, "name"],
            ["body", "terminal_state"],
            ["body", "references", "billing"],
        ])
    }

    @Test func issuesAreLocatedUnderTheGivenPrefix() {
        var graph = Build.valid
        graph.description = ""
        let found = ContextGraphValidator.validate(graph, referencedStates: Build.referencedStates, at: ["body", "graph"])
        #expect(found.map(\.loc) == [["body", "graph", "description"]])
    }

    private func issues(_ graph: ContextGraphDefinition, referencedStates: [String: Set<String>] = Build.referencedStates) -> [ValidationIssue] {
        ContextGraphValidator.validate(graph, referencedStates: referencedStates)
    }

    private func expectIssue(
        in issues: [ValidationIssue], at loc: [ValidationIssue.Location], type: String, mentioning text: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let match = issues.first { $0.loc == loc }
        #expect(match != nil, "no issue at \(loc) in \(issues)", sourceLocation: sourceLocation)
        #expect(match?.type == type, sourceLocation: sourceLocation)
        #expect(match?.msg.contains(text) == true, "\(match?.msg ?? "") should mention \(text)", sourceLocation: sourceLocation)
    }
}

// MARK: - Test support

/// One edit of the valid graph and where the issue it causes is reported.
struct Mutation: Sendable, CustomTestStringConvertible {
    let name: String
    let loc: [ValidationIssue.Location]
    let apply: @Sendable (inout ContextGraphDefinition) -> Void

    init(_ name: String, at loc: [ValidationIssue.Location], _ apply: @escaping @Sendable (inout ContextGraphDefinition) -> Void) {
        self.name = name
        self.loc = loc
        self.apply = apply
    }

    func applied(to graph: ContextGraphDefinition) -> ContextGraphDefinition {
        var graph = graph
        apply(&graph)
        return graph
    }

    var testDescription: String { name }
}

struct TargetCase: Sendable, CustomTestStringConvertible {
    let name: String
    let nextState: NextState
    let suffix: [ValidationIssue.Location]
    let mention: String

    init(_ name: String, _ nextState: NextState, at suffix: [ValidationIssue.Location], mentioning mention: String) {
        self.name = name
        self.nextState = nextState
        self.suffix = suffix
        self.mention = mention
    }

    var testDescription: String { name }
}

struct RecallSource: Sendable {
    let queries: [String]?
    let requestedInformation: String?
    let loc: [ValidationIssue.Location]
    let mention: String

    init(queries: [String]?, requestedInformation: String?, loc: [ValidationIssue.Location], mentioning mention: String) {
        self.queries = queries
        self.requestedInformation = requestedInformation
        self.loc = loc
        self.mention = mention
    }
}

struct ReferenceCase: Sendable {
    let name: String
    let target: ReferenceTarget
    let loc: [ValidationIssue.Location]
    let type: String

    init(_ name: String, _ target: ReferenceTarget, at loc: [ValidationIssue.Location], type: String) {
        self.name = name
        self.target = target
        self.loc = loc
        self.type = type
    }
}

/// Short constructors for valid states and graphs.
enum Build {
    static let toolID = "0123456789abcdef01234567"
    static let billingID = "aaaaaaaaaaaaaaaaaaaaaaaa"
    static let referencedStates: [String: Set<String>] = ["billing": ["intake", "wrap_up"]]

    static func tool(_ persistence: ResultPersistence = .persisted, id: String = toolID) -> ToolCallSpec {
        ToolCallSpec(
            toolID: id, versionConstraint: ">=1.0,<2", additionalInstruction: "Use it when the user asks",
            audioFillers: ["One moment"], audioFillerTriggeredAfter: 2, resultPersistence: persistence
        )
    }

    static func action(_ name: String, to targets: [String] = [], actions: [String] = ["Talk with the user"]) -> State {
        .action(ActionState(
            name: name, objective: "Help the user", actions: actions,
            exitConditions: targets.map { ExitCondition(description: "Ready for \($0)", nextState: .internal($0)) }
        ))
    }

    static func decision(_ name: String, to targets: [String]) -> State {
        .decision(DecisionState(
            name: name, objective: "Pick the next step",
            exitConditions: targets.map { ExitCondition(description: "Go to \($0)", nextState: .internal($0)) },
            audioFillerTriggeredAfter: 3
        ))
    }

    static func annotation(_ name: String, to target: String) -> State {
        .annotation(AnnotationState(name: name, innerThought: "Keep going.", nextState: .internal(target)))
    }

    static func reflection(_ name: String, to target: String) -> State {
        .reflection(ReflectionState(name: name, problem: "What does the user need?", wordLimit: 50, nextState: .internal(target), audioFillerTriggeredAfter: 2))
    }

    static func graph(_ states: [State], initial: String = "start", terminal: String = "done", references: [String: ReferenceTarget] = [:]) -> ContextGraphDefinition {
        ContextGraphDefinition(
            description: "A test graph", states: states,
            newUserInitialState: initial, returningUserInitialState: initial, terminalState: terminal, references: references
        )
    }

    /// start → route → (remember → note → think → lookup → start | done | billing.intake ⟶ done).
    static var valid: ContextGraphDefinition {
        var start = ActionState(
            name: "start", objective: "Welcome the user", actions: ["Greet the user"],
            exitConditions: [ExitCondition(description: "The user said hello", nextState: .internal("route"))],
            actionToolCallSpecs: [tool(.persistedPreferred)]
        )
        start.actionGuidelines = ["Be brief"]
        var definition = graph(
            [
                .action(start),
                .decision(DecisionState(
                    name: "route", objective: "Choose where to go",
                    exitConditions: [
                        ExitCondition(description: "The user wants help", nextState: .internal("remember")),
                        ExitCondition(description: "The user is done", nextState: .internal("done")),
                        ExitCondition(description: "The user asks about billing", nextState: .external(externalState: "billing.intake", jumpback: "done")),
                    ],
                    decisionGuidelines: ["Prefer helping"], audioFillers: ["Let me see"], audioFillerTriggeredAfter: 2.5
                )),
                .recall(RecallState(name: "remember", queries: ["What is the user's name?"], nextState: .internal("note"))),
                annotation("note", to: "think"),
                reflection("think", to: "lookup"),
                .toolCall(ToolCallState(
                    name: "lookup", nextState: .internal("start"), designatedTool: tool(),
                    designatedToolCallParamsGenerationAudioFillerTriggeredAfter: 4,
                    designatedToolCallObjective: "Find the user's account", designatedToolCallContext: "We need the account number",
                    designatedToolCallGuidances: ["Use the e-mail address"], designatedToolCallValidations: ["The e-mail is well formed"]
                )),
                action("done", actions: ["Say goodbye"]),
            ],
            references: ["billing": ReferenceTarget(graphID: billingID, version: 2)]
        )
        definition.globalBoundaryConstraints = ["Stay polite"]
        return definition
    }
}

extension ContextGraphDefinition {
    private mutating func edit(_ name: String, _ body: (inout State) -> Void) {
        guard let index = states.firstIndex(where: { $0.name == name }) else { preconditionFailure("no state \(name)") }
        body(&states[index])
    }

    mutating func editAction(_ name: String, _ change: (inout ActionState) -> Void) {
        edit(name) { if case .action(var state) = $0 { change(&state); $0 = .action(state) } }
    }

    mutating func editDecision(_ name: String, _ change: (inout DecisionState) -> Void) {
        edit(name) { if case .decision(var state) = $0 { change(&state); $0 = .decision(state) } }
    }

    mutating func editRecall(_ name: String, _ change: (inout RecallState) -> Void) {
        edit(name) { if case .recall(var state) = $0 { change(&state); $0 = .recall(state) } }
    }

    mutating func editAnnotation(_ name: String, _ change: (inout AnnotationState) -> Void) {
        edit(name) { if case .annotation(var state) = $0 { change(&state); $0 = .annotation(state) } }
    }

    mutating func editReflection(_ name: String, _ change: (inout ReflectionState) -> Void) {
        edit(name) { if case .reflection(var state) = $0 { change(&state); $0 = .reflection(state) } }
    }

    mutating func editToolCall(_ name: String, _ change: (inout ToolCallState) -> Void) {
        edit(name) { if case .toolCall(var state) = $0 { change(&state); $0 = .toolCall(state) } }
    }
}

/// JSON compared structurally, so key order and number spelling (`2` vs `2.0`) don't matter.
enum JSONTree: Decodable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONTree])
    case object([String: JSONTree])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONTree].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONTree].self))
        }
    }
}

/// Request bodies as a client sends them.
enum GraphJSON {
    static func minimal(state: String) -> String {
        #"""
        {"description": "x", "states": [\#(state)], "new_user_initial_state": "start", "returning_user_initial_state": "start",
         "terminal_state": "start", "references": {}, "global_intra_state_navigation_guidelines": [],
         "global_action_guidelines": [], "global_boundary_constraints": []}
        """#
    }

    static let full = #"""
        {
          "description": "Support line",
          "states": [
            {
              "type": "action", "name": "start", "objective": "Welcome the user", "actions": ["Greet the user"],
              "intra_state_navigation_guidelines": ["Move on once greeted"], "action_guidelines": ["Be brief"],
              "boundary_constraints": ["Never ask for passwords"],
              "exit_conditions": [{"description": "The user said hello", "next_state": "route"}],
              "action_tool_call_specs": [{
                "tool_id": "0123456789abcdef01234567", "version_constraint": ">=1.0,<2", "additional_instruction": "Look things up",
                "audio_fillers": ["One moment"], "audio_filler_triggered_after": 2, "result_persistence": "persisted-preferred"
              }],
              "exit_condition_tool_call_specs": [], "skip_active_memory_retrieval": true
            },
            {
              "type": "decision", "name": "route", "objective": "Choose where to go",
              "exit_conditions": [
                {"description": "The user wants help", "next_state": "remember"},
                {"description": "The user asks about billing", "next_state": ["billing.intake", "done"]},
                {"description": "The user wants to recall a preference", "next_state": "prefs"}
              ],
              "decision_guidelines": ["Prefer helping"], "tool_call_specs": [], "audio_fillers": ["Let me see"],
              "audio_filler_triggered_after": 2.5
            },
            {"type": "recall", "name": "remember", "queries": ["What is the user's name?"], "requested_information": null, "next_state": "note"},
            {"type": "annotation", "name": "note", "inner_thought": "The user needs help.", "next_state": "think"},
            {
              "type": "reflection", "name": "think", "problem": "What does the user need?", "word_limit": 80, "next_state": "lookup",
              "tool_call_specs": [], "audio_fillers": [], "audio_filler_triggered_after": 1.5
            },
            {
              "type": "tool-call", "name": "lookup", "next_state": "done",
              "designated_tool": {
                "tool_id": "0123456789abcdef01234568", "version_constraint": "==2.1.0", "additional_instruction": "Find the account",
                "audio_fillers": [], "audio_filler_triggered_after": 5, "result_persistence": "persisted"
              },
              "designated_tool_call_params_generation_audio_fillers": ["Checking"],
              "designated_tool_call_params_generation_audio_filler_triggered_after": 3,
              "designated_tool_call_objective": "Find the user's account", "designated_tool_call_context": "We need the account number",
              "designated_tool_call_guidances": ["Use the e-mail address"], "designated_tool_call_validations": ["The e-mail is well formed"],
              "tool_call_specs": []
            },
            {"type": "recall", "name": "prefs", "queries": null, "requested_information": "The user's preferences", "next_state": "done"},
            {
              "type": "action", "name": "done", "objective": "Close the conversation", "actions": ["Say goodbye"],
              "intra_state_navigation_guidelines": [], "action_guidelines": [], "boundary_constraints": [], "exit_conditions": [],
              "action_tool_call_specs": [], "exit_condition_tool_call_specs": [], "skip_active_memory_retrieval": false
            }
          ],
          "new_user_initial_state": "start",
          "returning_user_initial_state": "start",
          "terminal_state": "done",
          "references": {"billing": ["aaaaaaaaaaaaaaaaaaaaaaaa", 3]},
          "global_intra_state_navigation_guidelines": ["Follow the user's lead"],
          "global_action_guidelines": ["Be kind"],
          "global_boundary_constraints": ["No medical advice"]
        }
        """#
}
