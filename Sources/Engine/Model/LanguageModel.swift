import AmigoWire

/// A chat-completion language model: the only way the Engine reaches an LLM.
///
/// Implementations: `OpenAICompatibleModel` (any OpenAI-compatible HTTP endpoint, including the embedded
/// llama.cpp server) in the `Models` module, and `ScriptedModel` in `CompadreTesting`.
///
/// Contract:
/// - `stream` delivers text pieces as the model produces them and tool calls whole, then finishes.
/// - It never hangs: a model that is unreachable, too slow or answers garbage ends the stream with a
///   ``LanguageModelError``.
/// - Cancelling the consuming task cancels the request.
public protocol LanguageModel: Sendable {
    func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelOutput, any Error>
}

extension LanguageModel {
    /// Runs a request to the end and returns everything it produced.
    public func complete(_ request: ModelRequest) async throws -> ModelResponse {
        var response = ModelResponse()
        for try await output in stream(request) {
            switch output {
            case .text(let piece): response.text += piece
            case .toolCall(let call): response.toolCalls.append(call)
            }
        }
        return response
    }
}

/// One LLM call. `kind` names the prompt so a version set's `llm_model_preferences` can route it.
public struct ModelRequest: Sendable, Hashable {
    public var kind: PromptKind
    public var messages: [ChatMessage]
    /// Free text, or an answer constrained to a JSON schema (every structured decision uses this).
    public var output: OutputFormat
    /// Tools the model may call in this request.
    public var tools: [ToolDefinition]
    public var maxTokens: Int?
    public var temperature: Double?
    /// Provider-specific parameters from `LLMConfig.params`, passed through to the request body.
    public var parameters: [String: JSONValue]

    public init(
        kind: PromptKind,
        messages: [ChatMessage],
        output: OutputFormat = .text,
        tools: [ToolDefinition] = [],
        maxTokens: Int? = nil,
        temperature: Double? = nil,
        parameters: [String: JSONValue] = [:]
    ) {
        self.kind = kind
        self.messages = messages
        self.output = output
        self.tools = tools
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.parameters = parameters
    }
}

/// The names of the Engine's LLM calls. They are the keys of `llm_model_preferences`.
public struct PromptKind: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let selectNextAction = PromptKind(rawValue: "select-next-action")
    public static let selectNextStateForDecisionState = PromptKind(rawValue: "select-next-state-for-decision-state")
    public static let engageUser = PromptKind(rawValue: "engage-user")
    public static let generateReflection = PromptKind(rawValue: "generate-reflection")
    public static let generateRecallQueries = PromptKind(rawValue: "generate-recall-queries")
    public static let checkIfActiveMemoryNeeded = PromptKind(rawValue: "check-if-active-memory-needed")
    public static let extractActiveMemories = PromptKind(rawValue: "extract-active-memories")
    public static let recommendResponses = PromptKind(rawValue: "recommend-responses")
    public static let generateConversationStarters = PromptKind(rawValue: "generate-conversation-starters")
    public static let generateToolParams = PromptKind(rawValue: "generate-tool-params")
    public static let selectDynamicBehavior = PromptKind(rawValue: "select-dynamic-behavior")
    /// Post-conversation analysis.
    public static let extractMemories = PromptKind(rawValue: "extract-memories")
    public static let generateUserModels = PromptKind(rawValue: "generate-user-models")
    /// A metric judged over a transcript.
    public static let evaluateMetric = PromptKind(rawValue: "evaluate-metric")
    /// The user of a simulation, played by the model.
    public static let simulateUser = PromptKind(rawValue: "simulate-user")

    public static let all: [PromptKind] = [
        .selectNextAction, .selectNextStateForDecisionState, .engageUser, .generateReflection,
        .generateRecallQueries, .checkIfActiveMemoryNeeded, .extractActiveMemories, .recommendResponses,
        .generateConversationStarters, .generateToolParams, .selectDynamicBehavior, .extractMemories, .generateUserModels,
        .evaluateMetric, .simulateUser,
    ]
}

/// A chat message as OpenAI-compatible APIs take it.
public struct ChatMessage: Sendable, Hashable {
    public enum Role: String, Sendable, Hashable, Codable {
        case system, user, assistant, tool
    }
    public var role: Role
    public var content: String
    /// Tool calls an assistant message made.
    public var toolCalls: [ToolCall]
    /// For a `tool` message: the call it answers.
    public var toolCallID: String?

    public init(role: Role, content: String, toolCalls: [ToolCall] = [], toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }

    public static func system(_ content: String) -> ChatMessage { .init(role: .system, content: content) }
    public static func user(_ content: String) -> ChatMessage { .init(role: .user, content: content) }
    public static func assistant(_ content: String) -> ChatMessage { .init(role: .assistant, content: content) }
}

/// What shape the model's answer must take.
public enum OutputFormat: Sendable, Hashable {
    case text
    /// A JSON document matching `schema` (a JSON Schema object). `name` identifies the schema
    /// (`^[a-zA-Z0-9_-]+$`, as OpenAI requires).
    case json(name: String, schema: JSONValue)
}

/// A function the model may call.
public struct ToolDefinition: Sendable, Hashable {
    public var name: String
    public var description: String
    /// JSON Schema of the arguments object.
    public var parameters: JSONValue

    public init(name: String, description: String, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// A call the model asked for. `arguments` is the raw JSON text the model produced.
public struct ToolCall: Sendable, Hashable {
    public var id: String
    public var name: String
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// One item of a model's streamed answer.
public enum ModelOutput: Sendable, Hashable {
    case text(String)
    case toolCall(ToolCall)
}

/// Everything a finished request produced.
public struct ModelResponse: Sendable, Hashable {
    public var text: String = ""
    public var toolCalls: [ToolCall] = []
    public init(text: String = "", toolCalls: [ToolCall] = []) {
        self.text = text
        self.toolCalls = toolCalls
    }
}

/// Why a model call failed, in terms a caller can act on.
public struct LanguageModelError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// No connection could be made (refused, DNS, TLS).
        case unreachable
        /// No complete answer within the configured timeout.
        case timeout
        /// HTTP 429 after all retries.
        case rateLimited
        /// Any other non-success HTTP status after retries (or without retry for 4xx).
        case httpStatus(Int)
        /// The answer could not be understood (bad JSON, schema mismatch, empty).
        case invalidResponse
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
