import AmigoWire
import Foundation
import Synchronization

/// Everything the Engine needs to run one interaction. The caller (the Server) loads it from storage.
public struct InteractionRequest: Sendable {
    public var conversationID: String
    public var interactionID: String
    /// The user the conversation belongs to (tool invocations are recorded under it).
    public var userID: String
    public var graphs: GraphSet
    /// Where the conversation rests (an action state).
    public var position: GraphPosition
    /// Shared prompt inputs. `context.history` already holds this interaction's input messages.
    public var context: PromptContext
    /// The user message of this interaction, announced as `user-message-available`.
    public var userMessage: MessageInstance?
    /// Facts recall can answer from (beyond the prompt's own user section): the user's memories.
    public var memoryFacts: [String]
    /// Finds the memories that answer a question best; without it recall sees `memoryFacts`.
    public var memorySearch: (any MemorySearch)?
    /// `llm_model_preferences` of the conversation's version set.
    public var modelPreferences: [String: LLMConfig]
    /// The dynamic behaviors this interaction may select.
    public var behaviors: BehaviorSelection

    public init(
        conversationID: String, interactionID: String, userID: String = "", graphs: GraphSet, position: GraphPosition,
        context: PromptContext, userMessage: MessageInstance? = nil, memoryFacts: [String] = [],
        modelPreferences: [String: LLMConfig] = [:], behaviors: BehaviorSelection = .none
    ) {
        self.conversationID = conversationID
        self.interactionID = interactionID
        self.userID = userID
        self.graphs = graphs
        self.position = position
        self.context = context
        self.userMessage = userMessage
        self.memoryFacts = memoryFacts
        self.modelPreferences = modelPreferences
        self.behaviors = behaviors
    }
}

/// A request to stop the agent's reply where it is: what was already sent is kept, the rest is not
/// generated. Set from another task (a realtime socket when the user or an event interrupts); the reply
/// stops at once, not at the model's next piece.
public final class Interruption: Sendable {
    private struct State {
        var isInterrupted = false
        var handlers: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())

    public init() {}

    public func interrupt() {
        let handlers = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.isInterrupted else { return [] }
            state.isInterrupted = true
            defer { state.handlers = [] }
            return state.handlers
        }
        for handler in handlers { handler() }
    }

    public var isInterrupted: Bool { state.withLock { $0.isInterrupted } }

    /// Calls `handler` once when the interruption comes (at once if it came already).
    public func onInterrupt(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.isInterrupted { return true }
            state.handlers.append(handler)
            return false
        }
        if now { handler() }
    }
}

extension AsyncThrowingStream where Element == ModelOutput, Failure == any Error {
    /// This stream, ending as soon as `interruption` comes (the model's request is cancelled then).
    func stopping(on interruption: Interruption?) -> AsyncThrowingStream<ModelOutput, any Error> {
        guard let interruption else { return self }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ModelOutput.self)
        let task = Task {
            do {
                for try await output in self { continuation.yield(output) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        interruption.onInterrupt {
            continuation.finish()
            task.cancel()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

/// What an interaction produced, to be committed in one transaction. Nothing of it is stored before.
public struct InteractionOutcome: Sendable {
    public var interactionID: String
    /// Inner thoughts (reflections, annotations) in the order they were written, then the agent message.
    public var messages: [MessageInstance]
    public var agentMessage: MessageInstance
    public var position: GraphPosition
    public var insights: InteractionInsights
    /// The conversation reached its terminal state.
    public var conversationCompleted: Bool
    /// The reply was interrupted: `agentMessage` holds only what was sent (possibly nothing).
    public var wasInterrupted: Bool = false
    /// The dynamic behavior selected and applied in this interaction.
    public var selectedBehavior: VersionInfo? = nil
}

/// Why an interaction failed: its cause and a message for the caller. Nothing of a failed
/// interaction is stored; the application decides how the failure reaches the client.
public struct InteractionError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The model answered with an error status or an answer that cannot be used.
        case modelFailed
        case modelUnreachable
        case modelTimedOut
        case modelRateLimited
        /// A tool of the context graph cannot be resolved or used.
        case toolUnusable
        /// The graph cannot go on (a runaway graph, a missing state).
        case navigationFailed
        /// A speech engine (the reply's text to speech) failed.
        case speechFailed
        case cancelled
        case `internal`
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// The cause of any error thrown while an interaction runs.
    public init(_ error: any Error) {
        switch error {
        case let error as InteractionError:
            self = error
        case let error as LanguageModelError:
            let kind: Kind = switch error.kind {
            case .unreachable: .modelUnreachable
            case .timeout: .modelTimedOut
            case .rateLimited: .modelRateLimited
            case .httpStatus, .invalidResponse: .modelFailed
            }
            self.init(kind, message: "The language model failed: \(error.message)")
        case let error as ToolResolutionError:
            self.init(.toolUnusable, message: "A tool of the context graph cannot be used: \(error.message)")
        case let error as NavigationFailure:
            self.init(.navigationFailed, message: error.description)
        case let error as SpeechError:
            self.init(.speechFailed, message: "Speech engine: \(error.message)")
        case is CancellationError:
            self.init(.cancelled, message: "The interaction was cancelled.")
        default:
            self.init(.internal, message: "Internal error: \(error)")
        }
    }
}
