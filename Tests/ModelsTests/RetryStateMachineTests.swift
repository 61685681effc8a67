import Engine
import Testing

@testable import Models

@Suite("RetryStateMachine")
struct RetryStateMachineTests {
    static let target = "POST http://llm/v1/chat/completions (model m)"

    func machine(maxRetries: Int = 3) -> RetryStateMachine {
        RetryStateMachine(target: Self.target, maxRetries: maxRetries, initialBackoff: .milliseconds(500))
    }

    func fail(
        _ machine: inout RetryStateMachine,
        _ reason: AttemptFailure.Reason,
        outputStarted: Bool = false,
        mayFallBack: Bool = false,
        remaining: Duration = .seconds(120),
        jitter: Double = 1
    ) -> RetryStateMachine.Action {
        machine.failed(AttemptFailure(reason), outputStarted: outputStarted, mayFallBack: mayFallBack, remaining: remaining, jitter: jitter)
    }

    @Test func backoffDoublesWithEachRetry() {
        var retries = machine()
        let delays = (0..<3).map { _ in fail(&retries, .status(503, body: "", retryAfter: nil)) }
        #expect(delays == [.retry(after: .milliseconds(500)), .retry(after: .seconds(1)), .retry(after: .seconds(2))])
    }

    @Test(arguments: [0.0, 0.5, 1.0])
    func jitterKeepsTheDelayBetweenHalfAndAllOfTheBackoff(jitter: Double) {
        var retries = machine()
        guard case .retry(let delay) = fail(&retries, .unreachable("refused"), jitter: jitter) else {
            Issue.record("expected a retry")
            return
        }
        #expect(delay >= .milliseconds(250) && delay <= .milliseconds(500))
    }

    @Test func retryAfterReplacesTheBackoff() {
        var retries = machine()
        #expect(fail(&retries, .status(429, body: "", retryAfter: .seconds(7))) == .retry(after: .seconds(7)))
    }

    @Test func givesUpAfterMaxRetriesWithTheLastFailure() {
        var retries = machine(maxRetries: 1)
        _ = fail(&retries, .status(429, body: "", retryAfter: nil))
        guard case .fail(let error) = fail(&retries, .status(429, body: "slow down", retryAfter: nil)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.kind == .rateLimited)
        #expect(error.message.hasPrefix(Self.target))
        #expect(error.message.contains("after 2 attempts"))
        #expect(error.message.contains("slow down"))
    }

    @Test func nothingIsRetriedOnceOutputStarted() {
        var retries = machine()
        #expect(fail(&retries, .cutOff("reset"), outputStarted: true) == .fail(LanguageModelError(.invalidResponse, "\(Self.target): the answer was cut off: reset")))
    }

    @Test(arguments: [400, 401, 404, 422])
    func clientErrorsAreNotRetried(status: Int) {
        var retries = machine()
        guard case .fail(let error) = fail(&retries, .status(status, body: "", retryAfter: nil)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.kind == .httpStatus(status))
    }

    @Test func timeoutsAndInvalidAnswersAreNotRetried() {
        var retries = machine()
        #expect(fail(&retries, .timeout("slow")) == .fail(LanguageModelError(.timeout, "\(Self.target): slow")))
        #expect(fail(&retries, .invalidResponse("html")) == .fail(LanguageModelError(.invalidResponse, "\(Self.target): invalid answer: html")))
    }

    @Test(arguments: [400, 422, 500])
    func aRefusedJSONSchemaFallsBackToJSONObject(status: Int) {
        var retries = machine()
        #expect(fail(&retries, .status(status, body: "", retryAfter: nil), mayFallBack: true) == .fallBackToJSONObject)
        #expect(retries.retries == 0, "a fallback is not a retry")
    }

    @Test func aWaitPastTheDeadlineFailsAtOnce() {
        var retries = machine()
        guard case .fail(let error) = fail(&retries, .status(503, body: "", retryAfter: .seconds(30)), remaining: .seconds(5)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.kind == .httpStatus(503))
        #expect(error.message.contains("no time left to retry"))
    }
}
