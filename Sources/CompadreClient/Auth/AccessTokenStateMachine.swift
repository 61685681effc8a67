import Foundation

/// When to exchange the API key for a new access token, with no I/O.
///
/// A token is used until `refreshMargin` before it expires (five minutes, as the Python SDK does).
/// Callers that need a token while a sign-in is under way wait for that one (`PendingSignIn` is what
/// they wait on), so concurrent requests share a sign-in. A token the API rejected with 401 is dropped
/// unless a newer one replaced it already, so several requests failing at once cause one sign-in.
struct AccessTokenStateMachine<PendingSignIn: Sendable>: Sendable {
    private enum State: Sendable {
        case signedOut
        case signingIn(PendingSignIn)
        case signedIn(token: String, expiresAt: Date)
    }

    enum Action {
        case use(token: String)
        case wait(PendingSignIn)
        /// Sign in, then report with ``signInStarted(_:)`` right away and ``signedIn(token:expiresAt:)``
        /// or ``signInFailed()`` when done.
        case signIn
    }

    private var state = State.signedOut
    let refreshMargin: TimeInterval

    init(refreshMargin: TimeInterval) {
        self.refreshMargin = refreshMargin
    }

    mutating func tokenNeeded(now: Date) -> Action {
        switch state {
        case .signedIn(let token, let expiresAt) where now <= expiresAt.addingTimeInterval(-refreshMargin):
            return .use(token: token)
        case .signedIn, .signedOut:
            return .signIn
        case .signingIn(let pending):
            return .wait(pending)
        }
    }

    mutating func signInStarted(_ pending: PendingSignIn) {
        state = .signingIn(pending)
    }

    mutating func signedIn(token: String, expiresAt: Date) {
        state = .signedIn(token: token, expiresAt: expiresAt)
    }

    mutating func signInFailed() {
        state = .signedOut
    }

    /// The API answered 401 to a request made with `token`.
    mutating func rejected(token: String) {
        if case .signedIn(let current, _) = state, current == token {
            state = .signedOut
        }
    }
}
