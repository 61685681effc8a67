import Engine

/// Why one attempt at a request failed.
struct AttemptFailure: Error {
    enum Reason {
        /// No connection, or it closed before the answer's head.
        case unreachable(String)
        /// The answer's head arrived, then the connection broke.
        case cutOff(String)
        /// A non-2xx status, with the start of the body and the server's `Retry-After`.
        case status(Int, body: String, retryAfter: Duration?)
        case timeout(String)
        case invalidResponse(String)
    }

    var reason: Reason
    init(_ reason: Reason) { self.reason = reason }
}

/// Decides what follows a failed attempt: wait and retry, retry at once with `json_object`, or fail.
///
/// Retries only what a new attempt can fix (connection failures, 429, 5xx) and only while nothing of the
/// answer was delivered: a caller never sees a piece twice. Performs no I/O and reads no clock; the
/// caller passes the time left and a random jitter in `0...1`, and performs the action.
struct RetryStateMachine {
    enum Action: Equatable {
        case retry(after: Duration)
        case fallBackToJSONObject
        case fail(LanguageModelError)
    }

    /// `POST {url} (model {model})`, the start of every error message.
    let target: String
    let maxRetries: Int
    let initialBackoff: Duration
    private(set) var retries = 0

    init(target: String, maxRetries: Int, initialBackoff: Duration) {
        self.target = target
        self.maxRetries = max(0, maxRetries)
        self.initialBackoff = initialBackoff
    }

    /// - Parameters:
    ///   - outputStarted: whether the failed attempt delivered anything to the caller.
    ///   - mayFallBack: whether the request asked for `json_schema` in automatic mode, not yet settled.
    ///   - remaining: time left before the request's deadline.
    ///   - jitter: a random number in `0...1`.
    mutating func failed(
        _ failure: AttemptFailure,
        outputStarted: Bool,
        mayFallBack: Bool,
        remaining: Duration,
        jitter: Double
    ) -> Action {
        if case .status(let code, _, _) = failure.reason, mayFallBack, [400, 422, 500].contains(code) {
            return .fallBackToJSONObject
        }
        guard !outputStarted, isRetryable(failure.reason) else { return .fail(finalError(for: failure.reason)) }
        guard retries < maxRetries else {
            return .fail(finalError(for: failure.reason, note: "after \(retries + 1) attempts"))
        }

        var delay = initialBackoff * (1 << min(retries, 20))
        delay = delay / 2 + delay / 2 * min(max(jitter, 0), 1)
        if case .status(_, _, let retryAfter?) = failure.reason { delay = retryAfter }
        guard delay < remaining else {
            return .fail(finalError(for: failure.reason, note: "no time left to retry"))
        }
        retries += 1
        return .retry(after: delay)
    }

    private func isRetryable(_ reason: AttemptFailure.Reason) -> Bool {
        switch reason {
        case .unreachable, .cutOff: true
        case .status(let code, _, _): code == 429 || (500..<600).contains(code)
        case .timeout, .invalidResponse: false
        }
    }

    private func finalError(for reason: AttemptFailure.Reason, note: String? = nil) -> LanguageModelError {
        let target = note.map { "\(self.target) (\($0))" } ?? self.target
        return switch reason {
        case .unreachable(let cause):
            LanguageModelError(.unreachable, "\(target): cannot reach the server: \(cause)")
        case .cutOff(let cause):
            LanguageModelError(.invalidResponse, "\(target): the answer was cut off: \(cause)")
        case .status(429, let body, _):
            LanguageModelError(.rateLimited, "\(target): HTTP 429 (rate limited)\(Self.bodySuffix(body))")
        case .status(let code, let body, _):
            LanguageModelError(.httpStatus(code), "\(target): HTTP \(code)\(Self.bodySuffix(body))")
        case .timeout(let cause):
            LanguageModelError(.timeout, "\(target): \(cause)")
        case .invalidResponse(let cause):
            LanguageModelError(.invalidResponse, "\(target): invalid answer: \(cause)")
        }
    }

    private static func bodySuffix(_ body: String) -> String {
        body.isEmpty ? "" : ": \(body)"
    }
}
