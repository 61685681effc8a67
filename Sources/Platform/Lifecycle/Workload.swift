import Synchronization

/// What the server is doing right now — running interactions, open realtime sessions — so that a
/// shutdown can let it finish.
///
/// Rules:
/// - Work is admitted with a ``Ticket`` and ends when its ticket ends. While the workload drains, no
///   new work is admitted (`unavailable`).
/// - ``drain(grace:clock:)`` asks every admitted piece of work to wind down (its `windDown`, for work
///   that would otherwise go on for ever, such as a socket), then waits until all of it has ended or
///   `grace` has passed on `clock`; what is still running then is cancelled, and the drain returns
///   once it has ended.
/// - Cancelled work stores nothing it had not committed: an interaction cut by the drain is an
///   interaction that failed.
public final class Workload: Sendable {
    private struct Entry {
        var windDown: (@Sendable () -> Void)?
        var cancel: (@Sendable () -> Void)?
        var isCancelled = false
    }

    private struct State {
        var isDraining = false
        var nextID = 0
        var entries: [Int: Entry] = [:]
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Whether a drain has started (no new work is admitted).
    public var isDraining: Bool { state.withLock { $0.isDraining } }

    /// How much admitted work has not ended yet.
    public var count: Int { state.withLock { $0.entries.count } }

    /// Admits one piece of work. `windDown` is called once when a drain starts; `cancel` when the grace
    /// period ends with the work still running (``Ticket/run(_:)`` sets it for the work it runs).
    public func admit(
        windDown: (@Sendable () -> Void)? = nil, cancel: (@Sendable () -> Void)? = nil
    ) throws(PlatformError) -> Ticket {
        let id = try state.withLock { state throws(PlatformError) -> Int in
            if state.isDraining { throw PlatformError.unavailable("The server is shutting down; try again in a moment.") }
            state.nextID += 1
            state.entries[state.nextID] = Entry(windDown: windDown, cancel: cancel)
            return state.nextID
        }
        return Ticket(id: id, workload: self)
    }

    /// Stops admitting work, winds down what runs, waits up to `grace` for it to end, then cancels the rest
    /// and waits for it to end.
    public func drain<C: Clock>(grace: Duration, clock: C) async where C.Duration == Duration {
        let windDowns = state.withLock { state in
            state.isDraining = true
            return state.entries.values.compactMap(\.windDown)
        }
        for windDown in windDowns { windDown() }
        let ended = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitUntilEmpty()
                return true
            }
            group.addTask {
                try? await clock.sleep(for: grace)
                return false
            }
            let first = await group.next() ?? true
            group.cancelAll()
            return first
        }
        if ended { return }
        let cancels = state.withLock { state in
            state.entries.keys.compactMap { id -> (@Sendable () -> Void)? in
                state.entries[id]?.isCancelled = true
                return state.entries[id]?.cancel
            }
        }
        for cancel in cancels { cancel() }
        await waitUntilEmpty()
    }

    /// Waits until no admitted work is left; returns at once when cancelled.
    func waitUntilEmpty() async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.entries.isEmpty || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Sets how the work of ticket `id` is cancelled; cancels it at once if the drain already has.
    fileprivate func setCancel(_ id: Int, _ cancel: @escaping @Sendable () -> Void) {
        let cancelNow = state.withLock { state -> Bool in
            guard state.entries[id] != nil else { return false }
            state.entries[id]?.cancel = cancel
            return state.entries[id]?.isCancelled == true
        }
        if cancelNow { cancel() }
    }

    fileprivate func end(_ id: Int) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.entries.removeValue(forKey: id)
            guard state.entries.isEmpty else { return [] }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// One admitted piece of work of a ``Workload``. It ends when its work ends: by ``run(_:)``, by
/// ``end()``, or when the ticket is dropped.
public final class Ticket: Sendable {
    fileprivate let id: Int
    fileprivate let workload: Workload
    private let ended = Atomic<Bool>(false)

    fileprivate init(id: Int, workload: Workload) {
        self.id = id
        self.workload = workload
    }

    deinit { end() }

    /// Runs `body` as this ticket's work and ends the ticket. The drain cancels `body` if it still runs
    /// when the grace period is over; so does the cancellation of the calling task.
    public func run<Result: Sendable>(_ body: @escaping @Sendable () async -> Result) async -> Result {
        let task = Task { await body() }
        workload.setCancel(id) { task.cancel() }
        let result = await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
        end()
        return result
    }

    /// Ends the ticket (the work ended, or failed before it started). Idempotent.
    public func end() {
        if ended.exchange(true, ordering: .acquiringAndReleasing) { return }
        workload.end(id)
    }
}
