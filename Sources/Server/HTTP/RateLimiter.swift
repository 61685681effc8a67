import Foundation
import Synchronization
import Platform

/// Per-user, per-operation request budgets over fixed one-minute windows, as the API documents them
/// ("N requests per minute for this endpoint"). Counts live in this process.
public final class RateLimiter: Sendable {
    public struct Decision: Sendable {
        public var allowed: Bool
        public var limit: Int
        public var remaining: Int
        /// Epoch seconds at which the window resets.
        public var resetAt: Int
        public var retryAfter: Int
    }

    private struct Key: Hashable {
        var subject: String
        var operation: String
    }

    private struct Window {
        var start: Int
        var count: Int
    }

    private let windows = Mutex<[Key: Window]>([:])
    private let now: @Sendable () -> Date
    private let windowSeconds = 60

    public init(now: @escaping @Sendable () -> Date = Date.init) {
        self.now = now
    }

    /// Counts one request of `subject` to `operation` against `limit` per minute.
    public func check(subject: String, operation: String, limit: Int) -> Decision {
        let seconds = Int(now().timeIntervalSince1970)
        let windowStart = seconds - seconds % windowSeconds
        let count = windows.withLock { windows -> Int in
            let key = Key(subject: subject, operation: operation)
            var window = windows[key] ?? Window(start: windowStart, count: 0)
            if window.start != windowStart { window = Window(start: windowStart, count: 0) }
            window.count += 1
            windows[key] = window
            if windows.count > 100_000 { windows = windows.filter { $0.value.start == windowStart } }
            return window.count
        }
        let resetAt = windowStart + windowSeconds
        return Decision(allowed: count <= limit, limit: limit, remaining: max(0, limit - count), resetAt: resetAt, retryAfter: max(1, resetAt - seconds))
    }
}
