import Foundation

/// What a failed tool run raised, as the tool's Python runtime reported it.
public struct ToolFailure: Codable, Sendable, Hashable {
    public var exceptionMessage: String
    /// The exception's class name, such as `ValueError` or `TimeoutError`.
    public var exceptionType: String
    public var exceptionStackTrace: [String]

    public init(exceptionMessage: String, exceptionType: String, exceptionStackTrace: [String] = []) {
        self.exceptionMessage = exceptionMessage
        self.exceptionType = exceptionType
        self.exceptionStackTrace = exceptionStackTrace
    }

    enum CodingKeys: String, CodingKey {
        case exceptionMessage = "exception_message"
        case exceptionType = "exception_type"
        case exceptionStackTrace = "exception_stack_trace"
    }
}

/// How a tool run ended (the API's `InvocationStatus`): on the wire an object tagged by the boolean
/// `succeeded`, `{"succeeded": true, "output"}` or `{"succeeded": false, "exception_message", …}`.
public enum InvocationStatus: Codable, Sendable, Hashable {
    case succeeded(output: String)
    case failed(ToolFailure)

    public var succeeded: Bool {
        if case .succeeded = self { true } else { false }
    }

    enum CodingKeys: String, CodingKey { case succeeded, output }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if try c.decode(Bool.self, forKey: .succeeded) {
            self = .succeeded(output: try c.decode(String.self, forKey: .output))
        } else {
            self = .failed(try ToolFailure(from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(succeeded, forKey: .succeeded)
        switch self {
        case .succeeded(let output): try c.encode(output, forKey: .output)
        case .failed(let failure): try failure.encode(to: encoder)
        }
    }
}

/// The outcome of one input of the invoke or test endpoint (the API's `InvocationResult`): an
/// ``InvocationStatus`` plus `duration_ms`, tagged by the boolean `succeeded`.
public enum InvocationResult: Codable, Sendable, Hashable {
    case succeeded(output: String, durationMs: Int)
    case failed(ToolFailure, durationMs: Int)

    public init(status: InvocationStatus, durationMs: Int) {
        switch status {
        case .succeeded(let output): self = .succeeded(output: output, durationMs: durationMs)
        case .failed(let failure): self = .failed(failure, durationMs: durationMs)
        }
    }

    public var status: InvocationStatus {
        switch self {
        case .succeeded(let output, _): .succeeded(output: output)
        case .failed(let failure, _): .failed(failure)
        }
    }

    public var durationMs: Int {
        switch self {
        case .succeeded(_, let durationMs), .failed(_, let durationMs): durationMs
        }
    }

    public var succeeded: Bool { status.succeeded }

    enum CodingKeys: String, CodingKey { case durationMs = "duration_ms" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(status: try InvocationStatus(from: decoder), durationMs: try c.decode(Int.self, forKey: .durationMs))
    }

    public func encode(to encoder: any Encoder) throws {
        try status.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(durationMs, forKey: .durationMs)
    }
}

/// Where in the agent's work a conversation called the tool (the API's `AgentFrameworkInvocationMetadata`),
/// tagged on the wire by `type`. `contextGraph` is `current_state_machine_and_version`, the
/// `[graph_id, version]` being navigated.
public enum InvocationMetadata: Codable, Sendable, Hashable {
    /// While choosing a transition, reflecting, or generating a designated tool's parameters.
    /// `stateTransitionIndex` counts the states processed in this navigation, the first being 1.
    case stateTransition(contextGraph: VersionInfo, stateName: String, stateTransitionIndex: Int, toolCallRoundIndex: Int)
    /// While writing the reply to the user.
    case engageUser(contextGraph: VersionInfo, toolCallRoundIndex: Int)
    /// The designated tool of a tool-call state.
    case toolCallState(contextGraph: VersionInfo, stateName: String)

    /// The wire `type`.
    public enum Kind: String, Codable, Sendable, Hashable, CaseIterable {
        case stateTransition = "state-transition"
        case engageUser = "engage-user"
        case toolCallState = "tool-call-state"
    }

    public var kind: Kind {
        switch self {
        case .stateTransition: .stateTransition
        case .engageUser: .engageUser
        case .toolCallState: .toolCallState
        }
    }

    public var contextGraph: VersionInfo {
        switch self {
        case .stateTransition(let graph, _, _, _), .engageUser(let graph, _), .toolCallState(let graph, _): graph
        }
    }

    enum CodingKeys: String, CodingKey {
        case type
        case contextGraph = "current_state_machine_and_version"
        case stateName = "state_name"
        case stateTransitionIndex = "state_transition_index"
        case toolCallRoundIndex = "tool_call_round_index"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try decodeTag(Kind.self, c, forKey: .type)
        let graph = try c.decode(VersionInfo.self, forKey: .contextGraph)
        switch kind {
        case .stateTransition:
            self = .stateTransition(
                contextGraph: graph,
                stateName: try c.decode(String.self, forKey: .stateName),
                stateTransitionIndex: try c.decode(Int.self, forKey: .stateTransitionIndex),
                toolCallRoundIndex: try c.decode(Int.self, forKey: .toolCallRoundIndex)
            )
        case .engageUser:
            self = .engageUser(contextGraph: graph, toolCallRoundIndex: try c.decode(Int.self, forKey: .toolCallRoundIndex))
        case .toolCallState:
            self = .toolCallState(contextGraph: graph, stateName: try c.decode(String.self, forKey: .stateName))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .type)
        try c.encode(contextGraph, forKey: .contextGraph)
        switch self {
        case .stateTransition(_, let stateName, let stateTransitionIndex, let toolCallRoundIndex):
            try c.encode(stateName, forKey: .stateName)
            try c.encode(stateTransitionIndex, forKey: .stateTransitionIndex)
            try c.encode(toolCallRoundIndex, forKey: .toolCallRoundIndex)
        case .engageUser(_, let toolCallRoundIndex):
            try c.encode(toolCallRoundIndex, forKey: .toolCallRoundIndex)
        case .toolCallState(_, let stateName):
            try c.encode(stateName, forKey: .stateName)
        }
    }
}

/// Which conversation called the tool (the API's `InvocationSource`), tagged on the wire by `type`.
/// The IDs may be `null` and are always encoded; a conversation or interaction named here may not exist
/// if it was rolled back after the call.
public enum InvocationSource: Codable, Sendable, Hashable {
    case regularConversation(userID: String, conversationID: String?, interactionID: String?, metadata: InvocationMetadata)
    case simulationConversation(simulationUnitTestSetRunID: String?, unitTestID: String?, runIndex: Int?, metadata: InvocationMetadata)

    /// The wire `type`, also the values of the `invocation_source_type` query filter.
    public enum Kind: String, Codable, Sendable, Hashable, CaseIterable {
        case regularConversation = "regular-conversation"
        case simulationConversation = "simulation-conversation"
    }

    public var kind: Kind {
        switch self {
        case .regularConversation: .regularConversation
        case .simulationConversation: .simulationConversation
        }
    }

    public var metadata: InvocationMetadata {
        switch self {
        case .regularConversation(_, _, _, let metadata), .simulationConversation(_, _, _, let metadata): metadata
        }
    }

    enum CodingKeys: String, CodingKey {
        case type
        case userID = "user_id"
        case conversationID = "conversation_id"
        case interactionID = "interaction_id"
        case simulationUnitTestSetRunID = "simulation_unit_test_set_run_id"
        case unitTestID = "unit_test_id"
        case runIndex = "run_index"
        case metadata = "invocation_metadata"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try decodeTag(Kind.self, c, forKey: .type)
        let metadata = try c.decode(InvocationMetadata.self, forKey: .metadata)
        switch kind {
        case .regularConversation:
            self = .regularConversation(
                userID: try c.decode(String.self, forKey: .userID),
                conversationID: try c.decodeRequiredNullable(String.self, forKey: .conversationID),
                interactionID: try c.decodeRequiredNullable(String.self, forKey: .interactionID),
                metadata: metadata
            )
        case .simulationConversation:
            self = .simulationConversation(
                simulationUnitTestSetRunID: try c.decodeRequiredNullable(String.self, forKey: .simulationUnitTestSetRunID),
                unitTestID: try c.decodeRequiredNullable(String.self, forKey: .unitTestID),
                runIndex: try c.decodeRequiredNullable(Int.self, forKey: .runIndex),
                metadata: metadata
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .type)
        switch self {
        case .regularConversation(let userID, let conversationID, let interactionID, _):
            try c.encode(userID, forKey: .userID)
            try c.encode(conversationID, forKey: .conversationID)
            try c.encode(interactionID, forKey: .interactionID)
        case .simulationConversation(let runID, let unitTestID, let runIndex, _):
            try c.encode(runID, forKey: .simulationUnitTestSetRunID)
            try c.encode(unitTestID, forKey: .unitTestID)
            try c.encode(runIndex, forKey: .runIndex)
        }
        try c.encode(metadata, forKey: .metadata)
    }
}

/// A recorded run of a published tool version by a conversation, as listed by
/// `GET /v1/{org}/tool/invocation` and its `search` variant.
public struct ToolInvocationInstance: Codable, Sendable, Hashable {
    public var id: String
    public var orgID: String
    public var createdAt: Date
    public var updatedAt: Date
    public var invocationStatus: InvocationStatus
    public var invocationSource: InvocationSource
    public var durationMs: Int
    public var toolID: String
    public var toolVersion: ToolVersion
    /// The input parameters the tool received.
    public var inputs: [String: JSONValue]

    public init(
        id: String, orgID: String, createdAt: Date, updatedAt: Date? = nil, invocationStatus: InvocationStatus,
        invocationSource: InvocationSource, durationMs: Int, toolID: String, toolVersion: ToolVersion, inputs: [String: JSONValue]
    ) {
        self.id = id
        self.orgID = orgID
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.invocationStatus = invocationStatus
        self.invocationSource = invocationSource
        self.durationMs = durationMs
        self.toolID = toolID
        self.toolVersion = toolVersion
        self.inputs = inputs
    }

    enum CodingKeys: String, CodingKey {
        case id
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case invocationStatus = "invocation_status"
        case invocationSource = "invocation_source"
        case durationMs = "duration_ms"
        case toolID = "tool_id"
        case toolVersion = "tool_version"
        case inputs
    }
}

/// Response of `GET /v1/{org}/tool/invocation`.
public struct GetToolInvocationsResponse: Codable, Sendable, Hashable {
    public var toolInvocations: [ToolInvocationInstance]
    public var hasMore: Bool
    /// `null` when there is no next page; always encoded.
    public var continuationToken: Int?

    public init(toolInvocations: [ToolInvocationInstance], hasMore: Bool, continuationToken: Int?) {
        self.toolInvocations = toolInvocations
        self.hasMore = hasMore
        self.continuationToken = continuationToken
    }

    enum CodingKeys: String, CodingKey {
        case toolInvocations = "tool_invocations"
        case hasMore = "has_more"
        case continuationToken = "continuation_token"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(toolInvocations, forKey: .toolInvocations)
        try c.encode(hasMore, forKey: .hasMore)
        try c.encode(continuationToken, forKey: .continuationToken)
    }
}

/// Response of `GET /v1/{org}/tool/invocation/search`: the matches, unpaginated.
public struct SearchToolInvocationsResponse: Codable, Sendable, Hashable {
    public var toolInvocations: [ToolInvocationInstance]

    public init(toolInvocations: [ToolInvocationInstance]) { self.toolInvocations = toolInvocations }

    enum CodingKeys: String, CodingKey { case toolInvocations = "tool_invocations" }
}

extension KeyedDecodingContainer {
    /// A field the API always sends that may be `null`: absent is "Field required", unlike `decodeIfPresent`.
    fileprivate func decodeRequiredNullable<Value: Decodable>(_ type: Value.Type, forKey key: Key) throws -> Value? {
        guard contains(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "Field required"))
        }
        return try decodeIfPresent(type, forKey: key)
    }
}

/// Decodes the tag of a tagged union, failing with Pydantic's message for an unknown tag.
private func decodeTag<Value: RawRepresentable & CaseIterable, Key: CodingKey>(
    _ type: Value.Type, _ c: KeyedDecodingContainer<Key>, forKey key: Key
) throws -> Value where Value.RawValue == String {
    let raw = try c.decode(String.self, forKey: key)
    guard let tag = Value(rawValue: raw) else {
        let expected = Value.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        throw DecodingError.dataCorruptedError(
            forKey: key, in: c,
            debugDescription: "Input tag '\(raw)' found using '\(key.stringValue)' does not match any of the expected tags: \(expected)"
        )
    }
    return tag
}
