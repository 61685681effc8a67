import AmigoWire
import Foundation

/// A dynamic behavior a conversation may select: a set's latest version with its trigger embeddings.
public struct DynamicBehavior: Sendable, Hashable {
    public var info: VersionInfo
    public var triggers: [String]
    public var actions: [DynamicBehaviorAction]
    /// One per trigger, by the conversation's embedder, scaled to length 1; empty when none could be made.
    public var triggerVectors: [[Float]]

    public init(info: VersionInfo, triggers: [String], actions: [DynamicBehaviorAction], triggerVectors: [[Float]]) {
        self.info = info
        self.triggers = triggers
        self.actions = actions
        self.triggerVectors = triggerVectors.compactMap(Similarity.unit)
    }

    /// The instruction it injects, and whether it replaces the state's own.
    var instruction: (text: String, overrides: Bool)? {
        for case .injectInstruction(let text, let overrides) in actions { return (text, overrides) }
        return nil
    }

    /// The tools it offers, and whether they replace the state's own.
    var tools: (specs: [ToolCallSpec], overrides: Bool)? {
        for case .changeToolCandidates(let specs, let overrides) in actions { return (specs.map(\.spec), overrides) }
        return nil
    }

    /// `specs` as this behavior changes them.
    func applied(to specs: [ToolCallSpec]) -> [ToolCallSpec] {
        guard let tools else { return specs }
        if tools.overrides { return tools.specs }
        return specs + tools.specs.filter { added in !specs.contains { $0.toolID == added.toolID } }
    }
}

/// What an interaction selects a dynamic behavior from.
///
/// Rules of the selection:
/// - Nothing is embedded and no model is asked when the service has no candidate or there is no
///   embedder: the three `select-dynamic-behavior-*` events report no selection.
/// - The interaction's input (the user message, its external events), the agent's latest inner thoughts
///   and its last reply are embedded in one call; a candidate's relevance is the best cosine between
///   any of them and any of its triggers. Candidates under `threshold` are not retrieved; at most
///   `limit` are, best first.
/// - The model chooses one of the retrieved candidates or none, told which behavior was selected
///   before. An embedder that fails selects nothing (the interaction goes on).
/// - The selected behavior applies to this interaction only: its instruction and tools in the
///   navigation prompts of action states and in the reply.
public struct BehaviorSelection: Sendable {
    public var candidates: [DynamicBehavior]
    /// The behavior selected most recently in this conversation.
    public var previous: VersionInfo?
    public var embedder: (any Embedder)?
    public var threshold: Float
    public var limit: Int

    public init(
        candidates: [DynamicBehavior] = [], previous: VersionInfo? = nil, embedder: (any Embedder)? = nil,
        threshold: Float = 0.25, limit: Int = 5
    ) {
        self.candidates = candidates
        self.previous = previous
        self.embedder = embedder
        self.threshold = threshold
        self.limit = limit
    }

    public static let none = BehaviorSelection()
}

extension InteractionRun {
    /// Selects this interaction's dynamic behavior (see ``BehaviorSelection``).
    mutating func selectBehavior() async throws {
        let selection = request.behaviors
        let previous = selection.previous
        let queries = behaviorQueries()
        guard let embedder = selection.embedder, !selection.candidates.isEmpty, !queries.isEmpty,
              let vectors = try? await embedder.embed(queries), vectors.count == queries.count else {
            try await act(.selectDynamicBehaviorVectorGenerated)
            try await act(.selectDynamicBehaviorRelevanceRetrievalCompleted)
            try await act(.selectDynamicBehaviorCompleted(selected: nil, previous: previous))
            return
        }
        try await act(.selectDynamicBehaviorVectorGenerated)
        let units = vectors.compactMap(Similarity.unit)
        let retrieved = selection.candidates
            .map { ($0, Similarity.bestDot(units, $0.triggerVectors)) }
            .filter { $0.1 >= selection.threshold }
            .sorted { $0.1 > $1.1 }
            .prefix(selection.limit)
            .map(\.0)
        try await act(.selectDynamicBehaviorRelevanceRetrievalCompleted)
        guard !retrieved.isEmpty else {
            try await act(.selectDynamicBehaviorCompleted(selected: nil, previous: previous))
            return
        }
        let prompt = Prompts.selectDynamicBehavior(Array(retrieved), previous: previous, context: context)
        let (index, _, _) = try await choose(prompt, count: retrieved.count + 1, tools: [])
        let selected = index < retrieved.count ? retrieved[index] : nil
        try await act(.selectDynamicBehaviorCompleted(selected: selected?.info, previous: previous))
        if let selected {
            behavior = selected
            try await act(.dynamicBehaviorTriggered(selected.info))
        }
    }

    /// What just happened, to compare with the triggers: the interaction's input, the agent's latest
    /// inner thoughts and its last reply.
    func behaviorQueries() -> [String] {
        let history = context.history
        var texts: [String] = []
        // The interaction's input: the messages after the agent's last reply.
        let lastAgent = history.lastIndex { $0.messageType == .agentMessage }
        let inputStart = lastAgent.map { history.index(after: $0) } ?? history.startIndex
        for message in history[inputStart...] where message.messageType == .userMessage || message.messageType == .externalEvent {
            texts.append(message.message)
        }
        texts += history.filter { $0.messageType == .agentInnerThought }.suffix(2).map(\.message)
        if let lastAgent { texts.append(history[lastAgent].message) }
        return texts.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    /// `state` as the selected behavior changes it for choosing what to do next.
    mutating func navigationState(_ state: ActionState) async throws -> ActionState {
        guard let behavior else { return state }
        var state = state
        if let instruction = behavior.instruction {
            state.intraStateNavigationGuidelines = instruction.overrides
                ? [instruction.text] : state.intraStateNavigationGuidelines + [instruction.text]
        }
        state.exitConditionToolCallSpecs = behavior.applied(to: state.exitConditionToolCallSpecs)
        if !announcedNavigationOverride {
            announcedNavigationOverride = true
            try await act(.navigateDynamicBehaviorOverride(
                overridingInstructions: behavior.instruction != nil, overridingToolCandidates: behavior.tools != nil
            ))
        }
        return state
    }

    /// `state` and `action` as the selected behavior changes them for the reply.
    func engagingState(_ state: ActionState, action: String) async throws -> (ActionState, String) {
        guard let behavior else { return (state, action) }
        var state = state
        var action = action
        if let instruction = behavior.instruction {
            if instruction.overrides {
                action = instruction.text
                state.actionGuidelines = []
            } else {
                state.actionGuidelines.append(instruction.text)
            }
        }
        state.actionToolCallSpecs = behavior.applied(to: state.actionToolCallSpecs)
        try await act(.engageUserDynamicBehaviorOverride(
            overridingInstructions: behavior.instruction != nil, overridingToolCandidates: behavior.tools != nil
        ))
        return (state, action)
    }
}

extension Prompts {
    /// Choose the dynamic behavior that fits what just happened, or none. Options are the retrieved
    /// behaviors (each by its triggers), then "none of these".
    static func selectDynamicBehavior(_ candidates: [DynamicBehavior], previous: VersionInfo?, context: PromptContext) -> ModelRequest {
        var system = identityLine(context.persona)
        system += "\nYou are choosing which special behavior, if any, applies to the conversation right now."
        system += userSection(context)
        var question = "Conversation so far:\n\(transcript(context))\n\nBehaviors:\n"
        for (index, candidate) in candidates.enumerated() {
            let current = candidate.info == previous ? " (chosen earlier in this conversation)" : ""
            question += "\(index + 1). When: \(candidate.triggers.joined(separator: "; "))\(current)\n"
        }
        question += "\(candidates.count + 1). None of these applies now.\n"
        question += "\nWhich option fits the conversation now? Answer with its number."
        return ModelRequest(
            kind: .selectDynamicBehavior,
            messages: [.system(system), .user(question)],
            output: Choice.schema(name: "select_dynamic_behavior", count: candidates.count + 1),
            temperature: 0
        )
    }
}
