import AmigoWire
import Engine
import Foundation
import Synchronization

/// A `LanguageModel` for tests that answers by prompt kind, instantly and deterministically.
///
/// Scripted answers for a kind are used first, in order; after that every request gets the default
/// answer: the first option of a numbered choice, a schema-shaped JSON document, or a short text reply.
/// Every request is recorded so tests can assert what the Engine asked.
public final class ScriptedModel: LanguageModel {
    public enum Answer: Sendable {
        /// A streamed text reply, piece by piece.
        case text([String])
        /// The 1-based option of a numbered choice (`{"reason": …, "choice": n}`).
        case choice(Int)
        /// A raw answer text (JSON or not).
        case raw(String)
        /// The model calls these tools (a round of tool calls) instead of answering.
        case toolCalls([ToolCall])
        /// The request fails with this error before producing anything.
        case failure(LanguageModelError)
        /// Streams these pieces, then fails: a model that breaks mid-answer.
        case failAfter([String], LanguageModelError)
        /// Streams the first piece, waits until `gate` opens, then streams the rest: a model that is
        /// still answering while a test does something else.
        case held(Gate, [String])
    }

    /// A one-shot barrier a test opens when a held answer may go on.
    public final class Gate: Sendable {
        private let stream: AsyncStream<Void>
        private let continuation: AsyncStream<Void>.Continuation
        private let reached: AsyncStream<Void>.Continuation
        private let reachedStream: AsyncStream<Void>

        public init() {
            (stream, continuation) = AsyncStream.makeStream()
            (reachedStream, reached) = AsyncStream.makeStream()
        }

        /// Lets the held answer continue.
        public func open() { continuation.finish() }

        /// Returns once the model has started the held answer.
        public func waitUntilReached() async {
            for await _ in reachedStream { return }
        }

        func pass() async {
            reached.yield()
            for await _ in stream {}
        }
    }

    private struct State {
        var scripts: [PromptKind: [Answer]] = [:]
        var requests: [ModelRequest] = []
    }

    private let state = Mutex(State())
    /// The reply text used when nothing is scripted for `engage-user`.
    public let defaultReply: [String]

    public init(defaultReply: [String] = ["Hello", ", how can", " I help?"]) {
        self.defaultReply = defaultReply
    }

    /// Queues answers for `kind`, used before the default.
    public func script(_ kind: PromptKind, _ answers: Answer...) {
        state.withLock { $0.scripts[kind, default: []].append(contentsOf: answers) }
    }

    /// Every request received, in order.
    public var requests: [ModelRequest] { state.withLock { $0.requests } }

    public func requests(of kind: PromptKind) -> [ModelRequest] { requests.filter { $0.kind == kind } }

    public func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelOutput, any Error> {
        let answer = state.withLock { state -> Answer in
            state.requests.append(request)
            if var queue = state.scripts[request.kind], !queue.isEmpty {
                let next = queue.removeFirst()
                state.scripts[request.kind] = queue
                return next
            }
            return Self.defaultAnswer(for: request, reply: defaultReply)
        }
        return AsyncThrowingStream { continuation in
            switch answer {
            case .text(let pieces):
                for piece in pieces { continuation.yield(.text(piece)) }
                continuation.finish()
            case .choice(let number):
                continuation.yield(.text("{\"reason\": \"scripted\", \"choice\": \(number)}"))
                continuation.finish()
            case .raw(let text):
                continuation.yield(.text(text))
                continuation.finish()
            case .toolCalls(let calls):
                for call in calls { continuation.yield(.toolCall(call)) }
                continuation.finish()
            case .failure(let error):
                continuation.finish(throwing: error)
            case .failAfter(let pieces, let error):
                for piece in pieces { continuation.yield(.text(piece)) }
                continuation.finish(throwing: error)
            case .held(let gate, let pieces):
                let task = Task {
                    if let first = pieces.first { continuation.yield(.text(first)) }
                    await gate.pass()
                    for piece in pieces.dropFirst() { continuation.yield(.text(piece)) }
                    continuation.finish()
                }
                continuation.onTermination = { _ in task.cancel() }
            }
        }
    }

    static func defaultAnswer(for request: ModelRequest, reply: [String]) -> Answer {
        guard case .json(_, let schema) = request.output else { return .text(reply) }
        return .raw(String(decoding: try! JSONEncoder().encode(example(of: schema)), as: UTF8.self))
    }

    /// A document that satisfies `schema`: first enum value, minimum counts, placeholder strings.
    static func example(of schema: JSONValue) -> JSONValue {
        guard case .object(let schema) = schema else { return .null }
        if case .array(let values)? = schema["enum"], let first = values.first { return first }
        switch schema["type"] {
        case "object":
            guard case .object(let properties)? = schema["properties"] else { return [:] }
            return .object(properties.mapValues(example(of:)))
        case "array":
            var count = 1
            if case .number(let minimum)? = schema["minItems"] { count = max(count, Int(minimum)) }
            if case .number(let maximum)? = schema["maxItems"] { count = min(count, Int(maximum)) }
            let item = example(of: schema["items"] ?? .null)
            return .array((0..<count).map { index in
                if case .string(let text) = item { return .string("\(text) \(index + 1)") }
                return item
            })
        case "integer", "number":
            if case .number(let minimum)? = schema["minimum"] { return .number(minimum) }
            return 1
        case "boolean": return false
        case "string": return "scripted"
        default: return .null
        }
    }
}

extension ScriptedModel.Answer {
    /// A round with one call of the tool named `name`, `arguments` being its JSON arguments.
    public static func call(_ name: String, _ arguments: String = "{}", id: String = "call-1") -> Self {
        .toolCalls([ToolCall(id: id, name: name, arguments: arguments)])
    }
}
