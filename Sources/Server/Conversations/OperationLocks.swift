/// "One operation at a time" per conversation (and per user and service while a conversation is created).
///
/// A second create, interact or finish while one runs gets 409 and changes nothing. The locks live in
/// this process; scale-out replicas need a lease in the database (the realtime issue adds it). A lock
/// older than `maximumHold` is treated as abandoned, so a lost response can never lock a conversation
/// for good.
actor OperationLocks {
    private var held: [String: ContinuousClock.Instant] = [:]
    private let maximumHold: Duration

    init(maximumHold: Duration = .seconds(15 * 60)) {
        self.maximumHold = maximumHold
    }

    /// Takes `key` if nobody holds it.
    func acquire(_ key: String) -> Bool {
        let now = ContinuousClock.now
        if let since = held[key], now - since < maximumHold { return false }
        held[key] = now
        return true
    }

    func release(_ key: String) {
        held[key] = nil
    }
}

/// A held lock, released once the operation ends whichever way.
struct OperationLease: Sendable {
    let locks: OperationLocks
    let key: String

    func release() async {
        await locks.release(key)
    }
}
