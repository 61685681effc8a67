import AmigoWire
import AsyncHTTPClient
import CompadreTesting
import Engine
import EngineTesting
import Foundation
import Logging
import Models
import Synchronization
import Testing

/// The provider over real HTTP against ``FakeOpenAIServer``.
@Suite("OpenAICompatibleModel")
struct OpenAICompatibleModelTests {
    static let question = ModelRequest(kind: .engageUser, messages: [.system("Be brief."), .user("Hello?")])
    static let schema: JSONValue = .object([
        "type": .string("object"),
        "properties": .object(["ok": .object(["type": .string("boolean")])]),
        "required": .array([.string("ok")]),
    ])
    static let structured = ModelRequest(
        kind: .selectNextAction,
        messages: [.user("Decide.")],
        output: .json(name: "decision", schema: schema)
    )

    @Test func streamedTextArrivesPieceByPieceInOrder() async throws {
        try await withModel({ _ in .stream(chunks: ["Hel", "lo", " there", "!"]) }) { model, server in
            let outputs = try await collect(model.stream(Self.question))
            #expect(outputs == [.text("Hel"), .text("lo"), .text(" there"), .text("!")])

            let request = try #require(await server.requests.first)
            #expect(request.path == "/v1/chat/completions")
            #expect(request.model == "fake-model")
            #expect(request.stream)
            #expect(request.headers["authorization"] == "Bearer sk-test")
            #expect(request.responseFormat == nil)
            #expect(request.messages == [
                .object(["role": .string("system"), "content": .string("Be brief.")]),
                .object(["role": .string("user"), "content": .string("Hello?")]),
            ])
        }
    }

    @Test func toolCallsAreAssembledFromFragments() async throws {
        let calls = [
            FakeOpenAIServer.ToolCall(id: "call_1", name: "lookup_order", arguments: #"{"order_id": "A-1234", "verbose": true}"#),
            FakeOpenAIServer.ToolCall(id: "call_2", name: "weather", arguments: #"{"city": "Zürich"}"#),
        ]
        try await withModel({ _ in .toolCalls(calls) }) { model, _ in
            let outputs = try await collect(model.stream(Self.question))
            #expect(outputs == calls.map { .toolCall(ToolCall(id: $0.id, name: $0.name, arguments: $0.arguments)) })
        }
    }

    @Test func requestCarriesToolsConversationAndParameters() async throws {
        let request = ModelRequest(
            kind: .generateToolParams,
            messages: [
                .user("Where is my order?"),
                ChatMessage(role: .assistant, content: "", toolCalls: [ToolCall(id: "call_1", name: "lookup_order", arguments: #"{"id":1}"#)]),
                ChatMessage(role: .tool, content: #"{"status":"shipped"}"#, toolCallID: "call_1"),
            ],
            tools: [ToolDefinition(name: "lookup_order", description: "Finds an order.", parameters: Self.schema)],
            maxTokens: 64,
            temperature: 0.25,
            parameters: ["top_p": .number(0.5), "repeat_penalty": .number(1.1), "stream": .bool(false)]
        )
        try await withModel(
            { _ in .stream(chunks: ["ok"]) },
            configure: { $0.headers = ["x-organization": "org-7"] }
        ) { model, server in
            _ = try await model.complete(request)
            let sent = try #require(await server.requests.first)
            #expect(sent.headers["x-organization"] == "org-7")
            #expect(sent.stream, "parameters cannot turn streaming off")
            #expect(sent.body["max_tokens"] == .number(64))
            #expect(sent.body["temperature"] == .number(0.25))
            #expect(sent.body["top_p"] == .number(0.5))
            #expect(sent.body["repeat_penalty"] == .number(1.1))
            #expect(sent.tools == [.object([
                "type": .string("function"),
                "function": .object([
                    "name": .string("lookup_order"), "description": .string("Finds an order."), "parameters": Self.schema,
                ]),
            ])])
            #expect(sent.messages == [
                .object(["role": .string("user"), "content": .string("Where is my order?")]),
                .object([
                    "role": .string("assistant"), "content": .null,
                    "tool_calls": .array([.object([
                        "id": .string("call_1"), "type": .string("function"),
                        "function": .object(["name": .string("lookup_order"), "arguments": .string(#"{"id":1}"#)]),
                    ])]),
                ]),
                .object(["role": .string("tool"), "content": .string(#"{"status":"shipped"}"#), "tool_call_id": .string("call_1")]),
            ])
        }
    }

    @Test func jsonSchemaModeSendsOpenAIResponseFormat() async throws {
        try await withModel({ _ in .stream(chunks: [#"{"ok":"#, "true}"]) }, configure: { $0.structuredOutput = .jsonSchema }) {
            model, server in
            let response = try await model.complete(Self.structured)
            #expect(response.text == #"{"ok":true}"#)
            #expect(await server.requests.first?.responseFormat == .object([
                "type": .string("json_schema"),
                "json_schema": .object(["name": .string("decision"), "schema": Self.schema, "strict": .bool(true)]),
            ]))
        }
    }

    @Test func jsonObjectModeSendsTheSchemaInline() async throws {
        try await withModel({ _ in .stream(chunks: [#"{"ok":true}"#]) }, configure: { $0.structuredOutput = .jsonObject }) {
            model, server in
            _ = try await model.complete(Self.structured)
            #expect(await server.requests.first?.responseFormat == .object(["type": .string("json_object"), "schema": Self.schema]))
        }
    }

    @Test func automaticModeFallsBackToJSONObjectOnceAndRemembers() async throws {
        let llamaCppPython: FakeOpenAIServer.Handler = { request in
            if case .object(let format)? = request.responseFormat, format["type"] == .string("json_schema") {
                return .json(status: 500, body: #"{"detail":"Unrecognized response_format type json_schema"}"#)
            }
            return .stream(chunks: [#"{"ok":true}"#])
        }
        try await withModel(llamaCppPython, configure: { $0.structuredOutput = .automatic }) { model, server in
            let first = try await model.complete(Self.structured)
            let second = try await model.complete(Self.structured)
            #expect(first.text == #"{"ok":true}"#)
            #expect(second.text == #"{"ok":true}"#)
            let types = await server.requests.map { request -> JSONValue? in
                if case .object(let format)? = request.responseFormat { format["type"] } else { nil }
            }
            #expect(types == [.string("json_schema"), .string("json_object"), .string("json_object")])
        }
    }

    @Test func rateLimitedRequestIsRetriedThenSucceeds() async throws {
        try await withModel({ request in
            request.index == 0 ? .json(status: 429, body: #"{"error":"slow down"}"#) : .stream(chunks: ["fine"])
        }) { model, server in
            let response = try await model.complete(Self.question)
            #expect(response.text == "fine")
            #expect(await server.requests.count == 2)
        }
    }

    @Test(.timeLimit(.minutes(1))) func retryAfterIsHonoured() async throws {
        let clock = ManualClock()
        try await withModel(
            { request in
                request.index == 0
                    ? .json(status: 503, body: "busy", headers: ["retry-after": "0"]) : .stream(chunks: ["fine"])
            },
            configure: {
                $0.initialBackoff = .seconds(60)
                $0.clock = AnyClock(clock)
            }
        ) { model, _ in
            let response = try await Self.driving(clock) { try await model.complete(Self.question) }
            #expect(response.text == "fine")
            #expect(clock.elapsed < .seconds(5))  // the server's 0 s, not the 60 s backoff
        }
    }

    // The retry tests run on a manual clock: backoffs pass at once, and a busy machine cannot time an
    // attempt out (which would add a retry and change the count).
    @Test(.timeLimit(.minutes(1))) func persistentServerErrorIsReportedAfterAllRetries() async throws {
        let clock = ManualClock()
        try await withModel({ _ in .json(status: 500, body: #"{"error":{"message":"model crashed"}}"#) }, configure: {
            $0.clock = AnyClock(clock)
        }) { model, server in
            let error = try await failure { try await Self.driving(clock) { try await model.complete(Self.question) } }
            #expect(error.kind == .httpStatus(500))
            #expect(error.message.contains(server.baseURL + "/chat/completions"))
            #expect(error.message.contains("fake-model"))
            #expect(error.message.contains("model crashed"))
            #expect(await server.requests.count == 3, "maxRetries is 2")
        }
    }

    @Test(.timeLimit(.minutes(1))) func persistentRateLimitIsRateLimited() async throws {
        let clock = ManualClock()
        try await withModel({ _ in .json(status: 429, body: "quota") }, configure: { $0.clock = AnyClock(clock) }) { model, server in
            let error = try await failure { try await Self.driving(clock) { try await model.complete(Self.question) } }
            #expect(error.kind == .rateLimited)
            #expect(await server.requests.count == 3)
        }
    }

    @Test func clientErrorIsNotRetried() async throws {
        try await withModel({ _ in .json(status: 400, body: #"{"error":"context too long"}"#) }) { model, server in
            let error = try await failure { try await model.complete(Self.question) }
            #expect(error.kind == .httpStatus(400))
            #expect(error.message.contains("context too long"))
            #expect(await server.requests.count == 1)
        }
    }

    @Test(.timeLimit(.minutes(1))) func unreachableServerIsReportedQuickly() async throws {
        var configuration = Self.configuration(baseURL: "http://127.0.0.1:1/v1")
        configuration.maxRetries = 1
        let clock = ManualClock()
        configuration.clock = AnyClock(clock)
        try await withClient(configuration) { model in
            let error = try await failure { try await Self.driving(clock) { try await model.complete(Self.question) } }
            #expect(error.kind == .unreachable)
            #expect(error.message.contains("127.0.0.1:1"))
            #expect(clock.elapsed < .seconds(3))  // one short backoff, not the request timeout
        }
    }

    @Test(.timeLimit(.minutes(1))) func silentServerTimesOut() async throws {
        let clock = ManualClock()
        try await withModel({ _ in .hang }, configure: {
            $0.requestTimeout = .milliseconds(500)
            $0.clock = AnyClock(clock)
        }) { model, server in
            let call = Task { try await model.complete(Self.question) }
            // Time moves only once the request has reached the server (a connection cut while it is
            // being accepted is another test).
            while await server.requests.isEmpty { await Task.yield() }
            await clock.sleepers(atLeast: 1)
            clock.advance(by: .milliseconds(500))
            let error = try await failure { try await call.value }
            #expect(error.kind == .timeout)
            #expect(clock.elapsed < .seconds(3))  // gave up at the 0.5 s deadline
        }
    }

    @Test(.timeLimit(.minutes(1))) func stalledStreamHitsTheIdleTimeout() async throws {
        let clock = ManualClock()
        try await withModel({ _ in .stall(after: ["a"]) }, configure: {
            $0.idleTimeout = .milliseconds(1_500)
            $0.clock = AnyClock(clock)
        }) { model, server in
            var pieces: [ModelOutput] = []
            do {
                for try await output in model.stream(Self.question) {
                    pieces.append(output)
                    // The server said something, then falls silent: 1.5 s of silence later it times out.
                    clock.advance(by: .milliseconds(1_600))
                }
                Issue.record("the stalled stream ended without an error")
            } catch let error as LanguageModelError {
                #expect(error.kind == .timeout)
            }
            #expect(pieces == [.text("a")])
            // Output had started, so the request is not retried.
            #expect(await server.requests.count == 1)
        }
    }

    @Test(arguments: [
        ("data: this is not json\n\n", "text/event-stream"),
        ("<html><body>502 Bad Gateway</body></html>", "text/event-stream"),
        ("<html><body>Welcome to nginx</body></html>", "text/html"),
        ("{\"hello\": ", "application/json"),
    ])
    func garbageIsAnInvalidResponse(body: String, contentType: String) async throws {
        try await withModel({ _ in .garbage(body, contentType: contentType) }) { model, server in
            let error = try await failure { try await model.complete(Self.question) }
            #expect(error.kind == .invalidResponse)
            #expect(await server.requests.count == 1)
        }
    }

    @Test func severalEventsInOneChunkWithCRLFAreUnderstood() async throws {
        let events = [
            #"{"choices":[{"index":0,"delta":{"content":"one "},"finish_reason":null}]}"#,
            ": keepalive",
            #"{"choices":[{"index":0,"delta":{"content":"two"},"finish_reason":null}]}"#,
            "[DONE]",
        ]
        let body = events.map { $0.hasPrefix(":") ? "\($0)\r\n\r\n" : "data: \($0)\r\n\r\n" }.joined()
        try await withModel({ _ in .garbage(body) }) { model, _ in
            let outputs = try await collect(model.stream(Self.question))
            #expect(outputs == [.text("one "), .text("two")])
        }
    }

    @Test func nonStreamedAnswerIsUnderstood() async throws {
        let completion = """
            {"id":"x","object":"chat.completion","choices":[{"index":0,"finish_reason":"tool_calls","message":{
            "role":"assistant","content":"Looking it up.","tool_calls":[{"id":"call_9","type":"function",
            "function":{"name":"lookup_order","arguments":"{\\"id\\":1}"}}]}}]}
            """
        try await withModel({ _ in .json(body: completion) }) { model, _ in
            let outputs = try await collect(model.stream(Self.question))
            #expect(outputs == [.text("Looking it up."), .toolCall(ToolCall(id: "call_9", name: "lookup_order", arguments: #"{"id":1}"#))])
        }
    }

    @Test func droppedConnectionIsRetried() async throws {
        try await withModel({ request in request.index == 0 ? .dropConnection : .stream(chunks: ["back"]) }) { model, server in
            let response = try await model.complete(Self.question)
            #expect(response.text == "back")
            #expect(await server.requests.count == 2)
        }
    }

    @Test func answerCutOffAfterOutputIsNotRetried() async throws {
        try await withModel({ _ in .cutOff(after: ["Hel"]) }) { model, server in
            var outputs: [ModelOutput] = []
            let error = await #expect(throws: LanguageModelError.self) {
                for try await output in model.stream(Self.question) { outputs.append(output) }
            }
            #expect(outputs == [.text("Hel")])
            #expect(error?.kind == .invalidResponse)
            #expect(await server.requests.count == 1)
        }
    }

    @Test func cancellingTheConsumerCancelsTheRequest() async throws {
        let pieces = Array(repeating: "word ", count: 100)
        try await withModel({ _ in .stream(chunks: pieces, delay: .milliseconds(50)) }) { model, server in
            let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
            let consumer = Task {
                var received = 0
                for try await _ in model.stream(Self.question) {
                    received += 1
                    startedContinuation.yield()
                }
                return received
            }
            _ = await started.first { true }
            consumer.cancel()
            let received = try await consumer.value
            #expect(received < pieces.count)

            // The server notices the closed connection at its next write.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(3)
            while await server.interruptedReplies == 0, clock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(await server.interruptedReplies == 1)
        }
    }

    // MARK: - Helpers

    static func configuration(baseURL: String) -> OpenAICompatibleModel.Configuration {
        OpenAICompatibleModel.Configuration(
            baseURL: baseURL,
            apiKey: "sk-test",
            model: "fake-model",
            requestTimeout: .seconds(10),
            idleTimeout: .seconds(5),
            connectTimeout: .seconds(1),
            maxRetries: 2,
            initialBackoff: .milliseconds(10)
        )
    }

    func withModel(
        _ handler: @escaping FakeOpenAIServer.Handler,
        configure: (inout OpenAICompatibleModel.Configuration) -> Void = { _ in },
        _ body: (OpenAICompatibleModel, FakeOpenAIServer) async throws -> Void
    ) async throws {
        try await FakeOpenAIServer.withServer(handler) { server in
            var configuration = Self.configuration(baseURL: server.baseURL)
            configure(&configuration)
            try await withClient(configuration) { model in try await body(model, server) }
        }
    }

    func withClient(
        _ configuration: OpenAICompatibleModel.Configuration,
        _ body: (OpenAICompatibleModel) async throws -> Void
    ) async throws {
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration.httpClientConfiguration)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let model = OpenAICompatibleModel(configuration: configuration, httpClient: client, logger: logger)
        do {
            try await body(model)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    func collect(_ stream: AsyncThrowingStream<ModelOutput, any Error>) async throws -> [ModelOutput] {
        var outputs: [ModelOutput] = []
        for try await output in stream { outputs.append(output) }
        return outputs
    }

    /// Runs `call`, moving `clock` to the next deadline the model waits for whenever that deadline is
    /// within `horizon` (a backoff, a short request timeout), until the call returns: short timers fire
    /// without the test waiting for them, long ones (the idle timeout while a real exchange is under
    /// way) never do.
    static func driving<Result: Sendable>(
        _ clock: ManualClock, horizon: Duration = .seconds(1), _ call: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let finished = Atomic<Bool>(false)
        let task = Task {
            defer { finished.store(true, ordering: .releasing) }
            return try await call()
        }
        while !finished.load(ordering: .acquiring) {
            if let next = clock.nextDeadline, clock.now.duration(to: next) <= horizon { clock.advance(to: next) }
            await Task.yield()
        }
        return try await task.value
    }

    func failure(of call: () async throws -> ModelResponse) async throws -> LanguageModelError {
        do {
            let response = try await call()
            Issue.record("expected a failure, got \(response)")
            throw CancellationError()
        } catch let error as LanguageModelError {
            return error
        }
    }
}
