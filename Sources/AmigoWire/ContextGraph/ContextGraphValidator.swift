/// Checks a decoded context graph as a whole before a version is created (or dry-run).
///
/// Decoding only guarantees the JSON shape; this finds everything else a graph needs to run: field
/// constraints of the request schema, names that resolve (inside the graph and into referenced graphs),
/// the initial and terminal state rules, reachability, and passthrough loops that could never reach an
/// action state. It reports every problem, each with the `loc` of the offending field and a message that
/// names the state, so an author can fix a graph in one round trip.
public enum ContextGraphValidator {
    /// All problems of `graph`, in document order; empty when the graph is valid.
    ///
    /// - Parameters:
    ///   - referencedStates: for each key of `graph.references` that the caller could resolve, the state
    ///     names of that graph version. A key missing here is reported as an unresolvable reference.
    ///   - prefix: the location of the graph in the request (`["body"]` for the create-version body).
    public static func validate(
        _ graph: ContextGraphDefinition,
        referencedStates: [String: Set<String>],
        at prefix: [ValidationIssue.Location] = ["body"]
    ) -> [ValidationIssue] {
        var check = GraphCheck(graph: graph, referencedStates: referencedStates, collector: ValidationCollector(prefix: prefix))
        check.run()
        return check.collector.issues
    }

    static let namePattern = "^[A-Za-z0-9_]+$"
    static let externalNamePattern = "^[A-Za-z0-9_]+\\.[A-Za-z0-9_]+$"

    /// `StateOrRefName`: `^[A-Za-z0-9_]+$`.
    static func isName<S: StringProtocol>(_ value: S) -> Bool {
        !value.isEmpty && value.utf8.allSatisfy(isNameByte)
    }

    /// `ExternalStateName`: `^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$`.
    static func isExternalStateName(_ value: String) -> Bool {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { isName($0) }
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == UInt8(ascii: "_")
    }
}

private typealias Path = [ValidationIssue.Location]

private struct GraphCheck {
    let graph: ContextGraphDefinition
    let referencedStates: [String: Set<String>]
    var collector: ValidationCollector
    /// The index of the first state with each name; later duplicates are reported and otherwise ignored.
    let indexByName: [String: Int]

    init(graph: ContextGraphDefinition, referencedStates: [String: Set<String>], collector: ValidationCollector) {
        self.graph = graph
        self.referencedStates = referencedStates
        self.collector = collector
        var indexByName: [String: Int] = [:]
        for (index, state) in graph.states.enumerated() where indexByName[state.name] == nil {
            indexByName[state.name] = index
        }
        self.indexByName = indexByName
    }

    mutating func run() {
        text(graph.description, at: ["description"], "The graph's description")
        for index in graph.states.indices {
            checkState(at: index)
        }
        checkDesignatedState(graph.newUserInitialState, key: "new_user_initial_state", role: "new user initial state")
        checkDesignatedState(graph.returningUserInitialState, key: "returning_user_initial_state", role: "returning user initial state")
        checkDesignatedState(graph.terminalState, key: "terminal_state", role: "terminal state")
        checkTerminalState()
        checkReferences()
        texts(graph.globalIntraStateNavigationGuidelines, at: ["global_intra_state_navigation_guidelines"], "A global intra-state navigation guideline")
        texts(graph.globalActionGuidelines, at: ["global_action_guidelines"], "A global action guideline")
        texts(graph.globalBoundaryConstraints, at: ["global_boundary_constraints"], "A global boundary constraint")
        checkReachability()
        checkPassthroughLoops()
    }

    // MARK: States

    private mutating func checkState(at index: Int) {
        let state = graph.states[index]
        let base: Path = ["states", .index(index)]
        let who = "State '\(state.name)'"

        if !ContextGraphValidator.isName(state.name) {
            add(base + ["name"], "\(who): a state name must match \(ContextGraphValidator.namePattern)", type: "string_pattern_mismatch")
        } else if let first = indexByName[state.name], first != index {
            add(base + ["name"], "\(who): the name is already used by states[\(first)]; state names must be unique")
        }

        switch state {
        case .action(let action):
            text(action.objective, at: base + ["objective"], "\(who): the objective")
            if action.actions.isEmpty {
                add(base + ["actions"], "\(who): an action state needs at least one action", type: "too_short")
            }
            texts(action.actions, at: base + ["actions"], "\(who): an action")
            texts(action.intraStateNavigationGuidelines, at: base + ["intra_state_navigation_guidelines"], "\(who): an intra-state navigation guideline")
            texts(action.actionGuidelines, at: base + ["action_guidelines"], "\(who): an action guideline")
            texts(action.boundaryConstraints, at: base + ["boundary_constraints"], "\(who): a boundary constraint")
            checkExitConditions(action.exitConditions, at: base, of: state.name, who)
            checkToolSpecs(action.actionToolCallSpecs, at: base + ["action_tool_call_specs"], who)
            checkToolSpecs(action.exitConditionToolCallSpecs, at: base + ["exit_condition_tool_call_specs"], who)

        case .decision(let decision):
            text(decision.objective, at: base + ["objective"], "\(who): the objective")
            if decision.exitConditions.isEmpty {
                add(base + ["exit_conditions"], "\(who): a decision state needs at least one exit condition to choose from", type: "too_short")
            }
            texts(decision.decisionGuidelines, at: base + ["decision_guidelines"], "\(who): a decision guideline")
            checkExitConditions(decision.exitConditions, at: base, of: state.name, who)
            checkToolSpecs(decision.toolCallSpecs, at: base + ["tool_call_specs"], who)
            checkFillers(decision.audioFillers, at: base + ["audio_fillers"], who)
            checkFillerDelay(decision.audioFillerTriggeredAfter, at: base + ["audio_filler_triggered_after"], who)

        case .recall(let recall):
            switch (recall.queries, recall.requestedInformation) {
            case (nil, nil):
                add(base, "\(who): a recall state needs exactly one of queries and requested_information, and neither is set")
            case (.some, .some):
                add(base, "\(who): a recall state needs exactly one of queries and requested_information, and both are set")
            default:
                break
            }
            if let queries = recall.queries, queries.isEmpty {
                add(base + ["queries"], "\(who): queries must list at least one query", type: "too_short")
            }
            if let information = recall.requestedInformation {
                text(information, at: base + ["requested_information"], "\(who): requested_information")
            }
            checkTarget(recall.nextState, at: base + ["next_state"], of: state.name, who)

        case .annotation(let annotation):
            text(annotation.innerThought, at: base + ["inner_thought"], "\(who): the inner thought")
            checkTarget(annotation.nextState, at: base + ["next_state"], of: state.name, who)

        case .reflection(let reflection):
            text(reflection.problem, at: base + ["problem"], "\(who): the problem")
            if reflection.wordLimit <= 0 {
                add(base + ["word_limit"], "\(who): word_limit must be greater than 0 (got \(reflection.wordLimit))", type: "greater_than")
            }
            checkTarget(reflection.nextState, at: base + ["next_state"], of: state.name, who)
            checkToolSpecs(reflection.toolCallSpecs, at: base + ["tool_call_specs"], who)
            checkFillers(reflection.audioFillers, at: base + ["audio_fillers"], who)
            checkFillerDelay(reflection.audioFillerTriggeredAfter, at: base + ["audio_filler_triggered_after"], who)

        case .toolCall(let toolCall):
            checkTarget(toolCall.nextState, at: base + ["next_state"], of: state.name, who)
            checkToolSpec(toolCall.designatedTool, at: base + ["designated_tool"], who)
            if toolCall.designatedTool.resultPersistence != .persisted {
                add(
                    base + ["designated_tool", "result_persistence"],
                    "\(who): the designated tool of a tool-call state must use result_persistence \"persisted\", not \"\(toolCall.designatedTool.resultPersistence.rawValue)\""
                )
            }
            checkFillers(toolCall.designatedToolCallParamsGenerationAudioFillers, at: base + ["designated_tool_call_params_generation_audio_fillers"], who)
            checkFillerDelay(
                toolCall.designatedToolCallParamsGenerationAudioFillerTriggeredAfter,
                at: base + ["designated_tool_call_params_generation_audio_filler_triggered_after"], who
            )
            text(toolCall.designatedToolCallObjective, at: base + ["designated_tool_call_objective"], "\(who): the designated tool call objective")
            text(toolCall.designatedToolCallContext, at: base + ["designated_tool_call_context"], "\(who): the designated tool call context")
            texts(toolCall.designatedToolCallGuidances, at: base + ["designated_tool_call_guidances"], "\(who): a designated tool call guidance")
            texts(toolCall.designatedToolCallValidations, at: base + ["designated_tool_call_validations"], "\(who): a designated tool call validation")
            checkToolSpecs(toolCall.toolCallSpecs, at: base + ["tool_call_specs"], who)
        }
    }

    private mutating func checkExitConditions(_ conditions: [ExitCondition], at base: Path, of stateName: String, _ who: String) {
        for (index, condition) in conditions.enumerated() {
            let path = base + ["exit_conditions", .index(index)]
            text(condition.description, at: path + ["description"], "\(who): an exit condition's description")
            checkTarget(condition.nextState, at: path + ["next_state"], of: stateName, who)
        }
    }

    private mutating func checkTarget(_ target: NextState, at path: Path, of stateName: String, _ who: String) {
        switch target {
        case .internal(let name):
            if ContextGraphValidator.isExternalStateName(name) {
                add(path, "\(who): next state '\(name)' is a state of a referenced graph; write it as [\"\(name)\", \"<jumpback_state>\"]")
            } else if !ContextGraphValidator.isName(name) {
                add(path, "\(who): next state '\(name)' must match \(ContextGraphValidator.namePattern)", type: "string_pattern_mismatch")
            } else if name == stateName {
                add(path, "\(who) cannot transition to itself")
            } else if indexByName[name] == nil {
                add(path, "\(who): next state '\(name)' is not a state of this graph")
            }

        case .external(let externalState, let jumpback):
            if !ContextGraphValidator.isExternalStateName(externalState) {
                add(
                    path + [0],
                    "\(who): external state '\(externalState)' must have the form 'reference.state' (\(ContextGraphValidator.externalNamePattern))",
                    type: "string_pattern_mismatch"
                )
            } else if let (reference, state) = target.externalTarget {
                if graph.references[reference] == nil {
                    add(path + [0], "\(who): '\(reference)' in '\(externalState)' is not a key of references")
                } else if let known = referencedStates[reference], !known.contains(state) {
                    add(path + [0], "\(who): the graph referenced as '\(reference)' has no state '\(state)'")
                }
            }
            if !ContextGraphValidator.isName(jumpback) {
                add(path + [1], "\(who): jumpback state '\(jumpback)' must match \(ContextGraphValidator.namePattern)", type: "string_pattern_mismatch")
            } else if indexByName[jumpback] == nil {
                add(path + [1], "\(who): jumpback state '\(jumpback)' is not a state of this graph")
            }
        }
    }

    private mutating func checkToolSpecs(_ specs: [ToolCallSpec], at path: Path, _ who: String) {
        var firstIndexByTool: [String: Int] = [:]
        for (index, spec) in specs.enumerated() {
            checkToolSpec(spec, at: path + [.index(index)], who)
            if let first = firstIndexByTool[spec.toolID] {
                add(path + [.index(index), "tool_id"], "\(who): tool \(spec.toolID) is listed more than once (first at index \(first))")
            } else {
                firstIndexByTool[spec.toolID] = index
            }
        }
    }

    private mutating func checkToolSpec(_ spec: ToolCallSpec, at path: Path, _ who: String) {
        for violation in spec.violations {
            let message = switch violation {
            case .toolID: "\(who): tool_id '\(spec.toolID)' must be 24 lowercase hex characters (^[a-f0-9]{24}$)"
            case .versionConstraint(let reason): "\(who): \(reason)"
            case .emptyInstruction: "\(who): a tool's additional instruction must not be empty or only white space"
            case .tooManyFillers(let count): "\(who): at most 5 audio fillers are allowed (got \(count))"
            case .emptyFiller: "\(who): an audio filler must not be empty or only white space"
            case .fillerDelayNotPositive(let seconds): "\(who): the audio filler delay must be greater than 0 seconds (got \(seconds))"
            case .fillerDelayTooLong(let seconds): "\(who): the audio filler delay must be at most 10 seconds (got \(seconds))"
            }
            add(path + violation.path, message, type: violation.type)
        }
    }

    private mutating func checkFillers(_ fillers: [String], at path: Path, _ who: String) {
        if fillers.count > 5 {
            add(path, "\(who): at most 5 audio fillers are allowed (got \(fillers.count))", type: "too_long")
        }
        texts(fillers, at: path, "\(who): an audio filler")
    }

    private mutating func checkFillerDelay(_ seconds: Double, at path: Path, _ who: String) {
        if !(seconds > 0) {
            add(path, "\(who): the audio filler delay must be greater than 0 seconds (got \(seconds))", type: "greater_than")
        } else if seconds > 10 {
            add(path, "\(who): the audio filler delay must be at most 10 seconds (got \(seconds))", type: "less_than_equal")
        }
    }

    // MARK: Graph-level fields

    private mutating func checkDesignatedState(_ name: String, key: String, role: String) {
        let path: Path = [.key(key)]
        if !ContextGraphValidator.isName(name) {
            add(path, "The \(role) '\(name)' must be a state of this graph, matching \(ContextGraphValidator.namePattern)", type: "string_pattern_mismatch")
        } else if let index = indexByName[name] {
            let kind = graph.states[index].kind
            if kind != .action {
                add(path, "The \(role) must be an action state, but '\(name)' is a \(kind.rawValue) state")
            }
        } else {
            add(path, "The \(role) '\(name)' is not a state of this graph")
        }
    }

    private mutating func checkTerminalState() {
        guard let index = indexByName[graph.terminalState], case .action(let terminal) = graph.states[index] else { return }
        let base: Path = ["states", .index(index)]
        if !terminal.exitConditions.isEmpty {
            add(base + ["exit_conditions"], "State '\(terminal.name)' is the terminal state, so it cannot have exit conditions (it has \(terminal.exitConditions.count))")
        }
        if terminal.actions.count > 1 {
            add(base + ["actions"], "State '\(terminal.name)' is the terminal state, so it must have exactly one action (it has \(terminal.actions.count))")
        }
    }

    private mutating func checkReferences() {
        for name in graph.references.keys.sorted() {
            guard let target = graph.references[name] else { continue }
            let path: Path = ["references", .key(name)]
            var wellFormed = true
            if !ContextGraphValidator.isName(name) {
                add(path, "Reference name '\(name)' must match \(ContextGraphValidator.namePattern)", type: "string_pattern_mismatch")
                wellFormed = false
            }
            if !ObjectID.isValid(target.graphID) {
                add(path + [0], "Reference '\(name)': graph ID '\(target.graphID)' must be 24 lowercase hex characters (^[a-f0-9]{24}$)", type: "string_pattern_mismatch")
                wellFormed = false
            }
            if target.version < 1 {
                add(path + [1], "Reference '\(name)': version must be 1 or greater (got \(target.version))", type: "greater_than_equal")
                wellFormed = false
            }
            if wellFormed, referencedStates[name] == nil {
                add(path, "Reference '\(name)': version \(target.version) of graph \(target.graphID) could not be found")
            }
        }
    }

    // MARK: Whole-graph structure

    /// Indices of the states of this graph that `index` can lead to, directly or by jumping back from a
    /// referenced graph. Targets that do not resolve (already reported) and self-transitions are left out.
    private func successors(of index: Int) -> [Int] {
        graph.states[index].nextStates.flatMap { target in
            [target.internalName, target.jumpback].compactMap { name in
                name.flatMap { indexByName[$0] }.flatMap { $0 == index ? nil : $0 }
            }
        }
    }

    private mutating func checkReachability() {
        let starts = [graph.newUserInitialState, graph.returningUserInitialState].compactMap { indexByName[$0] }
        guard !starts.isEmpty else { return }
        var reached = Set(starts)
        var pending = starts
        while let index = pending.popLast() {
            for next in successors(of: index) where reached.insert(next).inserted {
                pending.append(next)
            }
        }
        for (index, state) in graph.states.enumerated() where indexByName[state.name] == index && !reached.contains(index) {
            add(["states", .index(index)], "State '\(state.name)' is unreachable: no transition leads to it from the initial states")
        }
    }

    /// Finds passthrough states from which every path stays among passthrough states of this graph, so
    /// navigation would never reach an action state (e.g. two decision states that only point at each other).
    private mutating func checkPassthroughLoops() {
        let states = graph.states
        var escapes = states.indices.map { index in
            let state = states[index]
            guard state.isPassthrough else { return true }
            let targets = state.nextStates
            return targets.isEmpty || targets.contains { target in
                guard let name = target.internalName, let next = indexByName[name], next != index else { return true }
                return !states[next].isPassthrough
            }
        }
        var changed = true
        while changed {
            changed = false
            for index in states.indices where !escapes[index] && successors(of: index).contains(where: { escapes[$0] }) {
                escapes[index] = true
                changed = true
            }
        }
        for (index, state) in states.enumerated() where !escapes[index] && indexByName[state.name] == index {
            var loop = Set([index])
            var pending = [index]
            while let current = pending.popLast() {
                for next in successors(of: current) where loop.insert(next).inserted {
                    pending.append(next)
                }
            }
            let names = loop.sorted().map { "'\(states[$0].name)'" }.joined(separator: ", ")
            add(
                ["states", .index(index)],
                "State '\(state.name)' (\(state.kind.rawValue)) never reaches an action state: its transitions only lead through the passthrough states \(names), so navigation entering it would never end"
            )
        }
    }

    // MARK: Reporting

    private mutating func add(_ path: Path, _ message: String, type: String = "value_error") {
        collector.add(path, message, type: type)
    }

    private mutating func text(_ value: String, at path: Path, _ what: String) {
        if !FieldRule.isNonEmpty(value) {
            add(path, "\(what) must not be empty or only white space", type: "string_too_short")
        }
    }

    private mutating func texts(_ values: [String], at path: Path, _ what: String) {
        for (index, value) in values.enumerated() {
            text(value, at: path + [.index(index)], what)
        }
    }
}
