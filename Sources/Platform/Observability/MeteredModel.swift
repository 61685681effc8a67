import Engine
import Foundation
import Tracing

/// A language model that measures every call: a `model.call` span (a child of the interaction's),
/// the call metrics of ``Telemetry``, and the interaction's time waiting for models.
public struct MeteredModel: LanguageModel {
    public let base: any LanguageModel
    /// The model's name in spans (`compadre.model`).
    public let name: String

    public init(_ base: any LanguageModel, name: String) {
        self.base = base
        self.name = name
    }

    /// The base model's stream, pulled through as the caller reads it (no buffering, no task of its own).
    public func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelOutput, any Error> {
        let call = MeteredCall(base.stream(request), request: request, model: name)
        return AsyncThrowingStream { try await call.next() }
    }
}

/// One measured model call: the span starts when the call is made, and the call is recorded when the
/// stream ends, fails, or is dropped by a reader that stopped early (an interrupted reply).
private final class MeteredCall: @unchecked Sendable {
    // Read by one consumer at a time, as every AsyncThrowingStream iterator is.
    private var iterator: AsyncThrowingStream<ModelOutput, any Error>.AsyncIterator
    private let kind: PromptKind
    private let span: any Span
    private let modelTime = ModelTime.current
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private var pieces = 0
    private var isFinished = false
    /// Where the call is logged, with what it was asked and what it answered so far.
    private let log = PromptLogScope.current
    private let request: ModelRequest?
    private let model: String
    private let startedAt = Date()
    private var answer = ""

    init(_ stream: AsyncThrowingStream<ModelOutput, any Error>, request: ModelRequest, model: String) {
        iterator = stream.makeAsyncIterator()
        self.kind = request.kind
        self.model = model
        self.request = log == nil ? nil : request
        span = startSpan("model.call", ofKind: .client)
        span.attributes["compadre.prompt_kind"] = kind.rawValue
        span.attributes["compadre.model"] = model
        started = clock.now
    }

    deinit {
        if !isFinished { finish("stopped") }
    }

    func next() async throws -> ModelOutput? {
        do {
            let output = try await iterator.next()
            switch output {
            case .text(let piece)?:
                pieces += 1
                if log != nil { answer += piece }
            case .toolCall(let call)?:
                if log != nil { answer += "\n[tool call \(call.name)] \(call.arguments)" }
            case nil: finish("ok")
            }
            return output
        } catch {
            span.recordError(error)
            finish(MeteredModel.outcome(of: error))
            throw error
        }
    }

    private func finish(_ outcome: String) {
        guard !isFinished else { return }
        isFinished = true
        let duration = clock.now - started
        modelTime?.add(duration)
        span.attributes["compadre.output_pieces"] = pieces
        span.end()
        Telemetry.modelCallFinished(kind: kind, outcome: outcome, duration: duration, pieces: pieces)
        if let log, let request {
            log.record(request, model: model, answer: answer, outcome: outcome, startedAt: startedAt, duration: duration, pieces: pieces)
        }
    }
}

extension MeteredModel {
    /// A short label of why a call failed.
    static func outcome(of error: any Error) -> String {
        guard let error = error as? LanguageModelError else { return error is CancellationError ? "cancelled" : "error" }
        return switch error.kind {
        case .unreachable: "unreachable"
        case .timeout: "timeout"
        case .rateLimited: "rate_limited"
        case .httpStatus(let status): "http_\(status)"
        case .invalidResponse: "invalid_response"
        }
    }
}

extension LanguageModels {
    /// Every model measured by ``MeteredModel``.
    public func metered() -> LanguageModels {
        var models = LanguageModels(
            default: MeteredModel(defaultModel, name: "default"),
            named: Dictionary(uniqueKeysWithValues: named.map { ($0.key, MeteredModel($0.value, name: $0.key) as any LanguageModel) })
        )
        models.descriptions = descriptions
        return models
    }
}
