import Synchronization

/// A wake-up for one waiter at a time: `ring()` resumes the waiter, or is kept until the next `wait()`
/// (several rings before a wait count as one). A cancelled wait returns at once and leaves the signal as
/// it was, so later waits still wait for a ring — unlike iterating an `AsyncStream`, which cancellation
/// finishes for good (a job runner that raced its doorbell against its poll timer that way found the
/// doorbell finished after the first timeout, and polled the database in a tight loop).
public final class WakeSignal: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    /// Wakes the waiter, or the next one.
    public func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns once rung (at once when a ring is pending), or when the task is cancelled.
    public func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    // The cancellation flag is set before the handler runs, so a cancellation that came
                    // before this lock is seen here, and one after it finds the waiter.
                    if state.rung || Task.isCancelled {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    /// Whether a wait is under way (for tests).
    public var isWaiting: Bool { state.withLock { $0.waiter != nil } }
}
