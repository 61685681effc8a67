import AsyncHTTPClient
import Engine
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// A ``LanguageModel`` behind any OpenAI-compatible `/chat/completions` endpoint: OpenAI, vLLM,
/// llama.cpp's servers (the embedded one included).
///
/// Every request is streamed (`"stream": true`); a server that answers with plain JSON instead is
/// understood too. Failures end the stream with a ``LanguageModelError``; see ``Configuration`` for the
/// timeouts and retries. Copies share the `HTTPClient` and what ``StructuredOutputMode/automatic``
/// learnt about the server.
public struct OpenAICompatibleModel: LanguageModel {
    public let configuration: Configuration
    private let client: HTTPClient
    private let logger: Logger
    private let learntSchemaFormat: LearntSchemaFormat

    /// - Parameters:
    ///   - httpClient: shared by every model of the process and shut down by its owner; build it with
    ///     ``Configuration/httpClientConfiguration`` for the connect timeout to apply.
    ///   - logger: gets debug logs of attempts and retries, never message contents or the API key.
    public init(configuration: Configuration, httpClient: HTTPClient, logger: Logger) {
        self.configuration = configuration
        self.client = httpClient
        var logger = logger
        logger[metadataKey: "llm_model"] = .string(configuration.model)
        self.logger = logger
        self.learntSchemaFormat = LearntSchemaFormat()
    }

    public func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelOutput, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ModelOutput.self)
        let task = Task {
            do {
                try await run(request) { continuation.yield($0) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    // MARK: - Attempts

    private var target: String { "POST \(configuration.chatCompletionsURL) (model \(configuration.model))" }

    private func run(_ request: ModelRequest, deliver: @escaping @Sendable (ModelOutput) -> Void) async throws {
        let clock = configuration.clock
        let deadline = clock.now.advanced(by: configuration.requestTimeout)
        var retries = RetryStateMachine(
            target: target,
            maxRetries: configuration.maxRetries,
            initialBackoff: configuration.initialBackoff
        )
        let isStructured = if case .json = request.output { true } else { false }
        var schemaFormat: SchemaFormat =
            switch configuration.structuredOutput {
            case .jsonSchema: .jsonSchema
            case .jsonObject: .jsonObject
            case .automatic: learntSchemaFormat.value ?? .jsonSchema
            }

        while true {
            try Task.checkCancellation()
            let mayFallBack =
                isStructured && configuration.structuredOutput == .automatic
                && schemaFormat == .jsonSchema && learntSchemaFormat.value == nil
            var request = request
            request.parameters.merge(configuration.defaultParameters) { requested, _ in requested }
            let body = try ChatCompletionBody(request: request, model: configuration.model, schemaFormat: schemaFormat).encoded()
            let progress = AttemptProgress(clock: clock)
            logger.debug("model request", metadata: [
                "llm_prompt_kind": .string(request.kind.rawValue), "llm_attempt": .stringConvertible(retries.retries + 1),
            ])
            do {
                try await attempt(body: body, deadline: deadline, progress: progress, deliver: deliver)
                if isStructured && configuration.structuredOutput == .automatic && learntSchemaFormat.value == nil {
                    learntSchemaFormat.value = schemaFormat
                }
                return
            } catch let failure as AttemptFailure {
                let action = retries.failed(
                    failure,
                    outputStarted: progress.outputStarted,
                    mayFallBack: mayFallBack,
                    remaining: clock.now.duration(to: deadline),
                    jitter: Double.random(in: 0...1)
                )
                switch action {
                case .retry(let delay):
                    logger.debug("model request failed, retrying", metadata: [
                        "llm_failure": "\(failure.reason)", "llm_retry_in": "\(delay)",
                    ])
                    try await clock.sleep(for: delay)
                case .fallBackToJSONObject:
                    logger.notice("server refused a json_schema response_format, using json_object", metadata: [
                        "llm_failure": "\(failure.reason)"
                    ])
                    schemaFormat = .jsonObject
                case .fail(let error):
                    logger.debug("model request failed", metadata: ["llm_error": "\(error.message)"])
                    throw error
                }
            }
        }
    }

    /// One HTTP exchange, raced against the request deadline and the idle timeout.
    private func attempt(
        body: Data,
        deadline: AnyClock.Instant,
        progress: AttemptProgress,
        deliver: @escaping @Sendable (ModelOutput) -> Void
    ) async throws {
        var request = HTTPClientRequest(url: configuration.chatCompletionsURL)
        request.method = .POST
        for (name, value) in configuration.headers { request.headers.replaceOrAdd(name: name, value: value) }
        request.headers.replaceOrAdd(name: "content-type", value: "application/json")
        request.headers.replaceOrAdd(name: "accept", value: "text/event-stream, application/json")
        if let apiKey = configuration.apiKey { request.headers.replaceOrAdd(name: "authorization", value: "Bearer \(apiKey)") }
        request.body = .bytes(ByteBuffer(bytes: body))

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [request] in
                try await exchange(request, progress: progress, deliver: deliver)
            }
            group.addTask {
                try await watch(progress, deadline: deadline)
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Throws a timeout when the deadline passes or the server stays silent for `idleTimeout`.
    private func watch(_ progress: AttemptProgress, deadline: AnyClock.Instant) async throws {
        let clock = configuration.clock
        while true {
            let idleDeadline = progress.lastActivity.advanced(by: configuration.idleTimeout)
            let now = clock.now
            if now >= deadline {
                throw AttemptFailure(.timeout("no complete answer within \(configuration.requestTimeout)"))
            }
            if now >= idleDeadline {
                throw AttemptFailure(.timeout("the server sent nothing for \(configuration.idleTimeout)"))
            }
            try await clock.sleep(until: min(deadline, idleDeadline))
        }
    }

    private func exchange(
        _ request: HTTPClientRequest,
        progress: AttemptProgress,
        deliver: @Sendable (ModelOutput) -> Void
    ) async throws {
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, deadline: .distantFuture, logger: logger)
        } catch {
            throw Self.failure(error, afterHead: false)
        }
        progress.touch()

        var body = BodyReader(response.body, progress: progress)
        guard (200..<300).contains(response.status.code) else {
            let text = (try? await body.prefix(2048)) ?? ""
            throw AttemptFailure(.status(
                Int(response.status.code),
                body: excerpt(text),
                retryAfter: response.headers.first(name: "retry-after").flatMap(Self.retryAfter)
            ))
        }

        var assembler = ChatCompletionAssembler()
        let contentType = response.headers.first(name: "content-type")?.lowercased() ?? ""
        do {
            if contentType.hasPrefix("application/json") {
                let text = try await body.all()
                for output in try assembler.consume(response: text) {
                    progress.didDeliver()
                    deliver(output)
                }
                return
            }
            guard contentType.isEmpty || contentType.hasPrefix("text/event-stream") else {
                let text = (try? await body.prefix(2048)) ?? ""
                throw AttemptFailure(.invalidResponse("content-type \(contentType), not an event stream: \(excerpt(text))"))
            }

            var parser = ServerSentEventParser()
            var firstBytes = ""
            streaming: while let buffer = try await body.next() {
                if firstBytes.count < 200 { firstBytes += String(buffer: buffer) }
                for event in parser.consume(buffer.readableBytesView) {
                    let step = try assembler.consume(event: event)
                    let outputs: [ModelOutput]
                    switch step {
                    case .outputs(let pieces): outputs = pieces
                    case .finished(let pieces): outputs = pieces
                    }
                    for output in outputs {
                        progress.didDeliver()
                        deliver(output)
                    }
                    if case .finished = step { break streaming }
                }
            }
            for event in parser.finish() {
                for output in try assembler.consume(response: event) {
                    progress.didDeliver()
                    deliver(output)
                }
            }
            guard assembler.receivedEvent else {
                let line = parser.firstUnrecognizedLine ?? firstBytes
                throw AttemptFailure(.invalidResponse(
                    line.isEmpty ? "an empty event stream" : "not an event stream: \(excerpt(line))"
                ))
            }
            for output in assembler.finish() {
                progress.didDeliver()
                deliver(output)
            }
        } catch let error as ChatCompletionAssembler.InvalidEvent {
            throw AttemptFailure(.invalidResponse(error.message))
        } catch let error as AttemptFailure {
            throw error
        } catch {
            throw Self.failure(error, afterHead: true)
        }
    }

    /// Maps an error of the HTTP client; cancellation stays cancellation.
    private static func failure(_ error: any Error, afterHead: Bool) -> any Error {
        if error is CancellationError || Task.isCancelled { return CancellationError() }
        switch error as? HTTPClientError {
        case .cancelled?: return CancellationError()
        case .deadlineExceeded?, .readTimeout?: return AttemptFailure(.timeout("\(error)"))
        case .connectTimeout?: return AttemptFailure(.unreachable("connect timed out"))
        default: break
        }
        let cause = "\(error)"
        return AttemptFailure(afterHead ? .cutOff(cause) : .unreachable(cause))
    }

    /// `Retry-After` in seconds or as an HTTP date.
    static func retryAfter(_ value: String) -> Duration? {
        let value = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(value), seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
    }
}

/// What one attempt did so far: when the server was last heard from (for the idle timeout) and whether
/// anything reached the caller (after which the attempt must not be retried).
private final class AttemptProgress: Sendable {
    private struct State {
        var lastActivity: AnyClock.Instant
        var outputStarted = false
    }
    private let state: Mutex<State>
    private let clock: AnyClock

    init(clock: AnyClock) {
        self.clock = clock
        state = Mutex(State(lastActivity: clock.now))
    }

    var lastActivity: AnyClock.Instant { state.withLock { $0.lastActivity } }
    var outputStarted: Bool { state.withLock { $0.outputStarted } }

    func touch() {
        let now = clock.now
        state.withLock { $0.lastActivity = now }
    }
    func didDeliver() { state.withLock { $0.outputStarted = true } }
}

/// The schema format ``OpenAICompatibleModel/StructuredOutputMode/automatic`` settled on.
private final class LearntSchemaFormat: Sendable {
    private let format = Mutex<SchemaFormat?>(nil)
    var value: SchemaFormat? {
        get { format.withLock { $0 } }
        set { format.withLock { $0 = newValue } }
    }
}

/// Reads a response body piece by piece, noting each piece for the idle timeout.
private struct BodyReader {
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    private let progress: AttemptProgress

    init(_ body: HTTPClientResponse.Body, progress: AttemptProgress) {
        iterator = body.makeAsyncIterator()
        self.progress = progress
    }

    mutating func next() async throws -> ByteBuffer? {
        let buffer = try await iterator.next()
        progress.touch()
        return buffer
    }

    /// The whole body as text.
    mutating func all() async throws -> String {
        var text = ""
        while let buffer = try await next() { text += String(buffer: buffer) }
        return text
    }

    /// At most about `limit` bytes of the body as text.
    mutating func prefix(_ limit: Int) async throws -> String {
        var bytes: [UInt8] = []
        while bytes.count < limit, let buffer = try await next() { bytes += buffer.readableBytesView }
        return String(decoding: bytes.prefix(limit), as: UTF8.self)
    }
}
