import AmigoWire

/// The context graph versions one conversation can run: its own graph (the root) and every graph it
/// reaches through `references`, each pinned to a version.
///
/// Loaded once per interaction by the caller, so navigation itself never touches storage.
public struct GraphSet: Sendable, Hashable {
    public var root: VersionInfo
    public var graphs: [VersionInfo: ContextGraphDefinition] {
        didSet { audioFillers = Self.audioFillers(of: graphs) }
    }
    /// Every audio filler the set's states and tool specs may say while a step is slow (kept with the
    /// set, which the conversation's pinned versions cache, so a voice interaction does not walk the states).
    public private(set) var audioFillers: Set<String>

    public init(root: VersionInfo, graphs: [VersionInfo: ContextGraphDefinition]) {
        self.root = root
        self.graphs = graphs
        self.audioFillers = Self.audioFillers(of: graphs)
    }

    /// The root graph's definition. A set is only built with its root present.
    public var rootGraph: ContextGraphDefinition { graphs[root]! }

    public subscript(_ graph: VersionInfo) -> ContextGraphDefinition? { graphs[graph] }

    /// The references a set still lacks: pinned versions named by a graph of the set but not loaded.
    public var missingReferences: [VersionInfo] {
        var missing: Set<VersionInfo> = []
        for definition in graphs.values {
            for target in definition.references.values {
                let info = VersionInfo(id: target.graphID, version: target.version)
                if graphs[info] == nil { missing.insert(info) }
            }
        }
        return missing.sorted { ($0.id, $0.version) < ($1.id, $1.version) }
    }

    /// Loads the root and, transitively, every referenced graph version through `load`.
    public static func load(
        root: VersionInfo,
        _ load: (VersionInfo) async throws -> ContextGraphDefinition?
    ) async throws -> GraphSet {
        guard let rootDefinition = try await load(root) else { throw GraphSetError.missing(root) }
        var set = GraphSet(root: root, graphs: [root: rootDefinition])
        var pending = set.missingReferences
        while let next = pending.popLast() {
            guard let definition = try await load(next) else { throw GraphSetError.missing(next) }
            set.graphs[next] = definition
            if pending.isEmpty { pending = set.missingReferences }
        }
        return set
    }
}

public enum GraphSetError: Error, Hashable, CustomStringConvertible {
    case missing(VersionInfo)

    public var description: String {
        switch self {
        case .missing(let info): "context graph \(info.id) version \(info.version) does not exist"
        }
    }
}

/// Where a conversation is in its graphs: a state of one graph version, plus the states to return to
/// when referenced graphs reach their terminal states (innermost last).
public struct GraphPosition: Codable, Sendable, Hashable {
    public struct Frame: Codable, Sendable, Hashable {
        /// The graph to return to.
        public var graph: VersionInfo
        /// The state of `graph` to continue in.
        public var jumpbackState: String

        public init(graph: VersionInfo, jumpbackState: String) {
            self.graph = graph
            self.jumpbackState = jumpbackState
        }
        enum CodingKeys: String, CodingKey {
            case graph
            case jumpbackState = "jumpback_state"
        }
    }

    public var graph: VersionInfo
    public var state: String
    public var returnStack: [Frame]

    public init(graph: VersionInfo, state: String, returnStack: [Frame] = []) {
        self.graph = graph
        self.state = state
        self.returnStack = returnStack
    }

    enum CodingKeys: String, CodingKey {
        case graph
        case state
        case returnStack = "return_stack"
    }

    /// Where a new conversation starts.
    public static func initial(in graphs: GraphSet, returningUser: Bool) -> GraphPosition {
        let root = graphs.rootGraph
        return GraphPosition(
            graph: graphs.root,
            state: returningUser ? root.returningUserInitialState : root.newUserInitialState
        )
    }
}

extension GraphSet {
    /// Whether any state of any graph offers or calls a tool (the caller then loads tool context).
    public var usesTools: Bool {
        graphs.values.contains { graph in
            graph.states.contains { state in
                switch state {
                case .action(let action): !action.actionToolCallSpecs.isEmpty || !action.exitConditionToolCallSpecs.isEmpty
                case .decision(let decision): !decision.toolCallSpecs.isEmpty
                case .reflection(let reflection): !reflection.toolCallSpecs.isEmpty
                case .toolCall: true
                default: false
                }
            }
        }
    }
}

extension GraphSet {
    static func audioFillers(of graphs: [VersionInfo: ContextGraphDefinition]) -> Set<String> {
        var fillers = Set<String>()
        for graph in graphs.values {
            for state in graph.states {
                switch state {
                case .action(let action):
                    for spec in action.actionToolCallSpecs + action.exitConditionToolCallSpecs { fillers.formUnion(spec.audioFillers) }
                case .decision(let decision):
                    fillers.formUnion(decision.audioFillers)
                    for spec in decision.toolCallSpecs { fillers.formUnion(spec.audioFillers) }
                case .reflection(let reflection):
                    fillers.formUnion(reflection.audioFillers)
                    for spec in reflection.toolCallSpecs { fillers.formUnion(spec.audioFillers) }
                case .toolCall(let toolCall):
                    fillers.formUnion(toolCall.designatedToolCallParamsGenerationAudioFillers)
                    fillers.formUnion(toolCall.designatedTool.audioFillers)
                    for spec in toolCall.toolCallSpecs { fillers.formUnion(spec.audioFillers) }
                case .recall, .annotation:
                    break
                }
            }
        }
        return fillers
    }
}
