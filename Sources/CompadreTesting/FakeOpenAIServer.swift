import AmigoWire
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// An OpenAI-compatible `/v1/chat/completions` endpoint on 127.0.0.1 whose answers a test scripts, for
/// exercising model providers over real HTTP: streaming, tool calls, errors, stalls and garbage.
///
/// ```swift
/// try await FakeOpenAIServer.withServer({ _ in .stream(chunks: ["Hel", "lo"]) }) { server in
///     // point a model at server.baseURL, then check `await server.requests`
/// }
/// ```
public struct FakeOpenAIServer: Sendable {
    /// A request as the server received it.
    public struct Request: Sendable {
        /// 0 for the first request the server received, 1 for the next…
        public var index: Int
        public var path: String
        /// Header fields, names lowercased.
        public var headers: [String: String]
        public var rawBody: String
        /// The decoded JSON body (empty if it was not a JSON object).
        public var body: [String: JSONValue]

        public var model: String? { if case .string(let model)? = body["model"] { model } else { nil } }
        public var messages: [JSONValue] { if case .array(let messages)? = body["messages"] { messages } else { [] } }
        public var responseFormat: JSONValue? { body["response_format"] }
        public var tools: [JSONValue] { if case .array(let tools)? = body["tools"] { tools } else { [] } }
        public var stream: Bool { body["stream"] == .bool(true) }
    }

    /// A tool call for ``Reply/toolCalls(_:)``; its arguments are streamed in small fragments.
    public struct ToolCall: Sendable {
        public var id: String
        public var name: String
        public var arguments: String

        public init(id: String, name: String, arguments: String) {
            self.id = id
            self.name = name
            self.arguments = arguments
        }
    }

    /// What the server answers.
    public enum Reply: Sendable {
        /// Text pieces streamed as chat completion chunks (one SSE event each, `delay` before each),
        /// then `finish_reason: "stop"` and `[DONE]`.
        case stream(chunks: [String], delay: Duration = .zero)
        /// Tool calls streamed as OpenAI does: id and name first, then argument fragments, then
        /// `finish_reason: "tool_calls"` and `[DONE]`.
        case toolCalls([ToolCall])
        /// A plain answer: an error, or a non-streamed completion.
        case json(status: Int = 200, body: String, headers: [String: String] = [:])
        /// Accepts the request and never answers.
        case hang
        /// `200` with this body, as-is.
        case garbage(String, contentType: String = "text/event-stream")
        /// Closes the connection without an answer.
        case dropConnection
        /// Streams these text pieces, then closes the connection without finishing the answer.
        case cutOff(after: [String])
        /// Streams these text pieces, then sends nothing more and keeps the connection open.
        case stall(after: [String])
    }

    public typealias Handler = @Sendable (Request) async -> Reply

    /// The port the server listens on.
    public let port: Int
    private let recorder: Recorder

    /// `http://127.0.0.1:{port}/v1`, to use as a provider's base URL.
    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// Every request received so far, in order.
    public var requests: [Request] {
        get async { await recorder.requests }
    }

    /// How many streamed replies stopped early because the client went away (or the server stopped).
    public var interruptedReplies: Int {
        get async { await recorder.interruptedReplies }
    }

    /// Starts a server answering with `handler`, runs `body`, and shuts the server down, whatever
    /// `body` does (requests still hanging are cancelled).
    public static func withServer<Result: Sendable>(
        _ handler: @escaping Handler,
        logger: Logger = Logger(label: "FakeOpenAIServer", factory: { _ in SwiftLogNoOpLogHandler() }),
        _ body: (FakeOpenAIServer) async throws -> Result
    ) async throws -> Result {
        let recorder = Recorder()
        let router = Router(context: ConnectionContext.self)
        router.post("v1/chat/completions") { request, context -> Response in
            let bytes = try await request.body.collect(upTo: 16 << 20)
            let raw = String(buffer: bytes)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let body = (try? JSONDecoder().decode([String: JSONValue].self, from: Data(raw.utf8))) ?? [:]
            let received = await recorder.record { index in
                Request(index: index, path: request.uri.path, headers: headers, rawBody: raw, body: body)
            }
            return try await response(to: handler(received), model: received.model ?? "fake", context: context, recorder: recorder)
        }

        return try await withLoopbackServer(router, logger: logger) { port in
            try await body(FakeOpenAIServer(port: port, recorder: recorder))
        }
    }

    private static func response(
        to reply: Reply,
        model: String,
        context: ConnectionContext,
        recorder: Recorder
    ) async throws -> Response {
        switch reply {
        case .stream(let chunks, let delay):
            let events =
                [chunk(model: model, delta: ["role": .string("assistant"), "content": .string("")])]
                + chunks.map { chunk(model: model, delta: ["content": .string($0)]) }
            return eventStream(events + [chunk(model: model, delta: [:], finishReason: "stop")], delay: delay, recorder: recorder)

        case .toolCalls(let calls):
            var events: [String] = []
            for (index, call) in calls.enumerated() {
                events.append(chunk(model: model, delta: ["tool_calls": .array([.object([
                    "index": .number(Double(index)), "id": .string(call.id), "type": .string("function"),
                    "function": .object(["name": .string(call.name), "arguments": .string("")]),
                ])])]))
                var rest = Substring(call.arguments)
                while !rest.isEmpty {
                    let fragment = rest.prefix(4)
                    rest = rest.dropFirst(4)
                    events.append(chunk(model: model, delta: ["tool_calls": .array([.object([
                        "index": .number(Double(index)), "function": .object(["arguments": .string(String(fragment))]),
                    ])])]))
                }
            }
            return eventStream(events + [chunk(model: model, delta: [:], finishReason: "tool_calls")], delay: .zero, recorder: recorder)

        case .json(let status, let body, let extraHeaders):
            var headers: HTTPFields = [.contentType: "application/json"]
            for (name, value) in extraHeaders {
                if let name = HTTPField.Name(name) { headers[name] = value }
            }
            return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))

        case .hang:
            try await Task.sleep(for: .seconds(3600))
            return Response(status: .noContent)

        case .garbage(let text, let contentType):
            return Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: text)))

        case .dropConnection:
            try? await context.channel.close()
            throw HTTPChannelClose()

        case .stall(let chunks):
            let events = chunks.map { chunk(model: model, delta: ["content": .string($0)]) }
            return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init { writer in
                for event in events { try await writer.write(ByteBuffer(string: "data: \(event)\n\n")) }
                try await Task.sleep(for: .seconds(3600))
            })

        case .cutOff(let chunks):
            let events = chunks.map { chunk(model: model, delta: ["content": .string($0)]) }
            return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init { writer in
                for event in events { try await writer.write(ByteBuffer(string: "data: \(event)\n\n")) }
                throw HTTPChannelClose()
            })
        }
    }

    /// An SSE body of `events` then `[DONE]`.
    private static func eventStream(_ events: [String], delay: Duration, recorder: Recorder) -> Response {
        Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init { writer in
            do {
                for event in events {
                    if delay > .zero { try await Task.sleep(for: delay) }
                    try await writer.write(ByteBuffer(string: "data: \(event)\n\n"))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            } catch {
                await recorder.noteInterruptedReply()
                throw error
            }
        })
    }

    private static func chunk(model: String, delta: [String: JSONValue], finishReason: String? = nil) -> String {
        let chunk: JSONValue = .object([
            "id": .string("chatcmpl-fake"),
            "object": .string("chat.completion.chunk"),
            "created": .number(0),
            "model": .string(model),
            "choices": .array([.object([
                "index": .number(0),
                "delta": .object(delta),
                "finish_reason": finishReason.map { .string($0) } ?? .null,
            ])]),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(chunk)) ?? Data(), as: UTF8.self)
    }

    /// A request context that keeps the connection, so that ``Reply/dropConnection`` can close it.
    private struct ConnectionContext: RequestContext {
        var coreContext: CoreRequestContextStorage
        let channel: any Channel

        init(source: ApplicationRequestContextSource) {
            coreContext = .init(source: source)
            channel = source.channel
        }
    }

    private actor Recorder {
        var requests: [Request] = []
        var interruptedReplies = 0

        func noteInterruptedReply() { interruptedReplies += 1 }

        func record(_ make: (Int) -> Request) -> Request {
            requests.append(make(requests.count))
            return requests[requests.count - 1]
        }
    }

    /// Thrown from a handler or body writer: Hummingbird closes the connection.
    private struct HTTPChannelClose: Error {}
}

/// The fake server could not start.
public struct FakeServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
