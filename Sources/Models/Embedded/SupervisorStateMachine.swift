/// When to start, restart and stop a supervised child process. Pure logic: the caller performs the
/// returned ``Action`` and reports what happened; time enters only as the backoff it is told to wait.
///
/// Rules: a child that dies is restarted after a backoff that doubles from `initialBackoff` up to
/// `maximumBackoff`; the backoff resets once a child became ready; after `shutdown()` nothing is
/// started again and a running child is terminated.
struct SupervisorStateMachine: Sendable {
    enum Action: Sendable, Hashable {
        case spawn
        case restart(after: Duration)
        case terminateChild
        case finish
        case none
    }

    private enum State: Sendable, Hashable {
        case idle
        case starting
        case ready
        case backingOff
        case stopping
        case stopped
    }

    private var state: State = .idle
    private var failures = 0
    let initialBackoff: Duration
    let maximumBackoff: Duration

    init(initialBackoff: Duration = .milliseconds(500), maximumBackoff: Duration = .seconds(30)) {
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    var isReady: Bool { state == .ready }
    var isFinished: Bool { state == .stopped }

    mutating func start() -> Action {
        guard state == .idle else { return .none }
        state = .starting
        return .spawn
    }

    mutating func childBecameReady() -> Action {
        guard state == .starting else { return .none }
        state = .ready
        failures = 0
        return .none
    }

    mutating func childExited() -> Action {
        switch state {
        case .starting, .ready:
            state = .backingOff
            let delay = backoff()
            failures += 1
            return .restart(after: delay)
        case .stopping:
            state = .stopped
            return .finish
        case .idle, .backingOff, .stopped:
            return .none
        }
    }

    mutating func restartDue() -> Action {
        guard state == .backingOff else { return .none }
        state = .starting
        return .spawn
    }

    mutating func shutdown() -> Action {
        switch state {
        case .starting, .ready:
            state = .stopping
            return .terminateChild
        case .idle, .backingOff:
            state = .stopped
            return .finish
        case .stopping, .stopped:
            return .none
        }
    }

    private func backoff() -> Duration {
        var delay = initialBackoff
        for _ in 0..<min(failures, 16) where delay < maximumBackoff { delay *= 2 }
        return min(delay, maximumBackoff)
    }
}
