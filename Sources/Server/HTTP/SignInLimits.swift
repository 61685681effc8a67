import Foundation
import Synchronization

/// How many sign-ins with an API key are allowed, as a state machine without I/O: the caller asks
/// before checking the key (``admit(key:address:at:)``) and reports the outcome (``failed(key:address:at:)``,
/// ``succeeded(key:at:)``). Time is passed in as seconds since any fixed origin.
///
/// The limits stop guessing without punishing valid keys (the API document's 5 sign-ins a minute breaks
/// ordinary SDK clients, which sign in once per client object):
/// - **Failures** are counted per API key id and per client address. The first `freeFailures` cost
///   nothing; each one after that blocks that key id and that address for a back-off that doubles with
///   every further failure (`initialBackoff`, then twice that, … at most `maximumBackoff`). A blocked
///   subject's sign-ins are refused (429 with the time left) without looking at the key.
/// - Failures are forgotten `failureMemory` after the last one; a successful sign-in with a key forgets
///   that key's failures (an address keeps its own: a guesser that also holds one valid key gains nothing).
/// - **Successes** of one key id are limited to `successesPerMinute` per fixed minute (generous: one
///   application creating a client per task signs in often).
public struct SignInLimits: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Failed sign-ins per key id and per address before back-off starts. Default 5.
        public var freeFailures = 5
        /// The first back-off, in seconds; it doubles with every further failure. Default 60.
        public var initialBackoff: Double = 60
        /// The longest back-off, in seconds. Default 3600.
        public var maximumBackoff: Double = 3600
        /// How long failures are remembered after the last one, in seconds. Default 3600.
        public var failureMemory: Double = 3600
        /// Successful sign-ins per API key per minute. Default 600.
        public var successesPerMinute = 600

        public init() {}
    }

    enum Decision: Sendable, Hashable {
        case allowed
        /// Refused; the next attempt may come in `retryAfter` seconds.
        case refused(retryAfter: Int, reason: String)
    }

    private struct Failures {
        var count = 0
        var last: Double = 0
        var blockedUntil: Double = 0
    }

    private struct Successes {
        var window: Int = 0
        var count = 0
    }

    let configuration: Configuration
    private var failures: [String: Failures] = [:]
    private var successes: [String: Successes] = [:]

    init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Whether a sign-in with `key` from `address` may be checked now.
    mutating func admit(key: String, address: String?, at now: Double) -> Decision {
        forgetOld(at: now)
        for subject in Self.subjects(key: key, address: address) {
            if let blocked = failures[subject]?.blockedUntil, blocked > now {
                return .refused(retryAfter: Int((blocked - now).rounded(.up)), reason: "Too many failed sign-ins; try again later.")
            }
        }
        let window = Int(now / 60)
        if let used = successes[key], used.window == window, used.count >= configuration.successesPerMinute {
            let next = Double(window + 1) * 60
            return .refused(
                retryAfter: max(1, Int((next - now).rounded(.up))),
                reason: "More than \(configuration.successesPerMinute) sign-ins a minute with this API key."
            )
        }
        return .allowed
    }

    /// A sign-in with `key` from `address` failed (wrong secret, unknown key or user).
    mutating func failed(key: String, address: String?, at now: Double) {
        for subject in Self.subjects(key: key, address: address) {
            var record = failures[subject] ?? Failures()
            record.count += 1
            record.last = now
            let over = record.count - configuration.freeFailures
            if over > 0 {
                let backoff = min(configuration.maximumBackoff, configuration.initialBackoff * pow(2, Double(over - 1)))
                record.blockedUntil = now + backoff
            }
            failures[subject] = record
        }
    }

    /// A sign-in with `key` succeeded.
    mutating func succeeded(key: String, at now: Double) {
        failures.removeValue(forKey: "key:" + key)
        let window = Int(now / 60)
        var used = successes[key] ?? Successes(window: window)
        if used.window != window { used = Successes(window: window) }
        used.count += 1
        successes[key] = used
    }

    private static func subjects(key: String, address: String?) -> [String] {
        ["key:" + key] + (address.map { ["address:" + $0] } ?? [])
    }

    /// Drops what no longer matters, so memory follows the traffic of the last hour.
    private mutating func forgetOld(at now: Double) {
        guard failures.count + successes.count > 10_000 else { return }
        failures = failures.filter { now - $0.value.last < configuration.failureMemory || $0.value.blockedUntil > now }
        let window = Int(now / 60)
        successes = successes.filter { $0.value.window == window }
    }
}

/// The process's ``SignInLimits``, shared by every request.
public final class SignInGuard: Sendable {
    private let limits: Mutex<SignInLimits>
    private let now: @Sendable () -> Double

    public init(configuration: SignInLimits.Configuration, now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.limits = Mutex(SignInLimits(configuration: configuration))
        self.now = now
    }

    func admit(key: String, address: String?) -> SignInLimits.Decision {
        let now = now()
        return limits.withLock { $0.admit(key: key, address: address, at: now) }
    }

    func failed(key: String, address: String?) {
        let now = now()
        limits.withLock { $0.failed(key: key, address: address, at: now) }
    }

    func succeeded(key: String) {
        let now = now()
        limits.withLock { $0.succeeded(key: key, at: now) }
    }
}
