import AmigoWire
import Engine
import Storage

/// An error of the platform's operations that a caller can act on: what went wrong (`kind`) and a
/// message for a person.
///
/// The platform never speaks HTTP: the Server maps each `kind` to the wire in one table (HTTP status and
/// JSON body, realtime close code, the `http_error_code` of an NDJSON `error` event). A new kind makes
/// that table fail to compile until it says how the kind looks on the wire.
public struct PlatformError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as far as a caller can tell.
    public enum Kind: Sendable, Hashable {
        /// The request contradicts the resource's rules or state.
        case badRequest
        /// No valid credentials.
        case unauthorized
        /// The caller lacks a permission.
        case forbidden
        case notFound
        /// Another operation holds the resource, or the resource is in a state that refuses this one.
        case conflict
        /// Fields that fail validation, each with its location (`issues`).
        case invalidInput
        case tooLarge
        case unsupportedMediaType
        /// Too many requests; `rateLimit` says until when.
        case rateLimited
        /// A dependency of the server (the database, a subsystem that is off) cannot serve now.
        case unavailable
        /// The language model answered with an error or an answer that cannot be used.
        case modelFailed
        case modelUnreachable
        case modelTimedOut
        case modelRateLimited
        /// The work did not finish within its time limit (an analytics query).
        case timedOut
        /// The caller went away or the server is stopping.
        case cancelled
        /// A fault of the server; its details are logged, never shown.
        case `internal`
    }

    /// A spent request budget: `limit` requests per minute, the next allowed in `retryAfter` seconds,
    /// the window resetting at `resetAt` (Unix time).
    public struct RateLimit: Sendable, Hashable {
        public var limit: Int
        public var retryAfter: Int
        public var resetAt: Int
    }

    private enum Base: Sendable {
        case message(Kind, String)
        case issues([ValidationIssue])
        case rateLimited(RateLimit, message: String?)
    }

    private let base: Base

    private init(_ base: Base) { self.base = base }

    public init(_ kind: Kind, _ message: String) {
        self.init(.message(kind, message))
    }

    public var kind: Kind {
        switch base {
        case .message(let kind, _): kind
        case .issues: .invalidInput
        case .rateLimited: .rateLimited
        }
    }

    /// A sentence for the caller; for invalid input, the issues' messages joined.
    public var message: String {
        switch base {
        case .message(_, let message): message
        case .issues(let issues): issues.map(\.msg).joined(separator: "; ")
        case .rateLimited(let limit, let message): message ?? "Rate limit of \(limit.limit) requests per minute exceeded for this endpoint."
        }
    }

    /// The failing fields of `invalidInput`; empty for every other kind.
    public var issues: [ValidationIssue] {
        if case .issues(let issues) = base { return issues }
        return []
    }

    public var rateLimit: RateLimit? {
        if case .rateLimited(let limit, _) = base { return limit }
        return nil
    }

    public var description: String { message }

    public static func badRequest(_ message: String) -> PlatformError { PlatformError(.badRequest, message) }
    public static func timeout(_ message: String) -> PlatformError { PlatformError(.timedOut, message) }
    public static func unauthorized(_ message: String = "Invalid authorization credentials.") -> PlatformError {
        PlatformError(.unauthorized, message)
    }
    public static func forbidden(_ message: String = "Missing required permissions.") -> PlatformError {
        PlatformError(.forbidden, message)
    }
    public static func notFound(_ message: String) -> PlatformError { PlatformError(.notFound, message) }
    public static func conflict(_ message: String) -> PlatformError { PlatformError(.conflict, message) }
    public static func payloadTooLarge(_ message: String) -> PlatformError { PlatformError(.tooLarge, message) }
    public static func unsupportedMediaType(_ message: String) -> PlatformError { PlatformError(.unsupportedMediaType, message) }
    public static func unavailable(_ message: String) -> PlatformError { PlatformError(.unavailable, message) }
    public static func internalError(_ message: String = "Internal server error.") -> PlatformError {
        PlatformError(.internal, message)
    }

    public static func validation(_ issues: [ValidationIssue]) -> PlatformError { PlatformError(.issues(issues)) }
    public static func validation(_ loc: [ValidationIssue.Location], _ msg: String, type: String = "value_error") -> PlatformError {
        validation([ValidationIssue(loc: loc, msg: msg, type: type)])
    }

    public static func rateLimited(limit: Int, retryAfter: Int, resetAt: Int) -> PlatformError {
        PlatformError(.rateLimited(RateLimit(limit: limit, retryAfter: retryAfter, resetAt: resetAt), message: nil))
    }

    /// Too many requests of another kind than a per-minute budget (failed sign-ins): `message` says
    /// which; the next may come in `retryAfter` seconds.
    public static func tooManyRequests(_ message: String, retryAfter: Int) -> PlatformError {
        PlatformError(.rateLimited(RateLimit(limit: 0, retryAfter: retryAfter, resetAt: 0), message: message))
    }
}

extension PlatformError {
    /// What any error means to a caller: platform errors as they are, the Engine's and the model's
    /// failures by their cause, validation failures with their issues; anything else is internal.
    public init(_ error: any Error) {
        switch error {
        case let error as PlatformError:
            self = error
        case let error as RequestValidationError:
            self = .validation(error.issues)
        case let error as InteractionError:
            self.init(error.kind.platformKind, error.message)
        case is CancellationError:
            self.init(.cancelled, "The operation was cancelled.")
        case StorageError.unstorableText:
            self.init(.badRequest, "Text may not contain NUL characters or invalid UTF-8.")
        case let error as SpeechError:
            switch error.kind {
            case .unreadableAudio: self.init(.unsupportedMediaType, error.message)
            // The API document's 400 for it.
            case .unsupportedLanguage: self.init(.badRequest, "The preferred language does not support voice transcription (\(error.message)).")
            case .unavailable, .failed: self.init(.unavailable, "Speech engine: \(error.message)")
            }
        default:
            if let error = error as? LanguageModelError {
                self.init(InteractionError(error))
            } else {
                self.init(.internal, "Internal error.")
            }
        }
    }
}

extension InteractionError.Kind {
    fileprivate var platformKind: PlatformError.Kind {
        switch self {
        case .modelFailed: .modelFailed
        case .modelUnreachable: .modelUnreachable
        case .modelTimedOut: .modelTimedOut
        case .modelRateLimited: .modelRateLimited
        case .cancelled: .cancelled
        case .speechFailed: .unavailable
        case .toolUnusable, .navigationFailed, .internal: .internal
        }
    }
}
