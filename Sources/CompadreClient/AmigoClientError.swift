import AmigoWire
import Foundation

/// A failure the caller can act on: the API answered with an error status, signing in failed, or the
/// answer could not be understood. Transport failures (connection refused, timeouts) are thrown as the
/// `HTTPClientError` of AsyncHTTPClient, and cancellation as `CancellationError`.
public struct AmigoClientError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Hashable, Sendable {
        case status
        case signInFailed
        case invalidResponse
    }

    private let kind: Kind
    /// The HTTP status of the answer; nil when there was no usable answer (``isInvalidResponse``).
    public let status: Int?
    /// The API's `detail` message: for a 422 its issues joined as `body.field: message; …`.
    public let detail: String
    /// The issues of a 422 answer, as the API listed them.
    public let issues: [ValidationIssue]

    private init(_ kind: Kind, status: Int?, detail: String, issues: [ValidationIssue] = []) {
        self.kind = kind
        self.status = status
        self.detail = detail
        self.issues = issues
    }

    /// The API answered a request with a non-2xx status.
    public static func status(_ status: Int, detail: String, issues: [ValidationIssue] = []) -> AmigoClientError {
        AmigoClientError(.status, status: status, detail: detail, issues: issues)
    }

    /// Exchanging the API key for a token failed (wrong key, key expired, unknown user).
    public static func signInFailed(status: Int, detail: String) -> AmigoClientError {
        AmigoClientError(.signInFailed, status: status, detail: detail)
    }

    /// A 2xx answer whose body is not what the API promises.
    public static func invalidResponse(_ detail: String) -> AmigoClientError {
        AmigoClientError(.invalidResponse, status: nil, detail: detail)
    }

    public var isSignInFailure: Bool { kind == .signInFailed }
    public var isInvalidResponse: Bool { kind == .invalidResponse }

    public var description: String {
        switch kind {
        case .status: "HTTP \(status ?? 0): \(detail)"
        case .signInFailed: "sign-in with the API key failed (HTTP \(status ?? 0)): \(detail)"
        case .invalidResponse: "invalid response: \(detail)"
        }
    }

    /// The error for an answer with `status` and `body`: `{"detail": "…"}`, `{"detail": [issues]}`, or
    /// anything else (an excerpt of it is kept).
    static func answer(status: Int, body: [UInt8], signIn: Bool = false) -> AmigoClientError {
        let (detail, issues) = Self.detail(of: body)
        return signIn
            ? .signInFailed(status: status, detail: detail)
            : .status(status, detail: detail, issues: issues)
    }

    private struct Body: Decodable {
        enum Detail: Decodable {
            case message(String)
            case issues([ValidationIssue])

            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let message = try? container.decode(String.self) {
                    self = .message(message)
                } else {
                    self = .issues(try container.decode([ValidationIssue].self))
                }
            }
        }
        var detail: Detail
    }

    private static func detail(of body: [UInt8]) -> (String, [ValidationIssue]) {
        switch (try? JSONDecoder().decode(Body.self, from: Data(body)))?.detail {
        case .message(let message):
            return (message, [])
        case .issues(let issues):
            let text = issues.map { issue in
                let path = issue.loc.map { location in
                    switch location {
                    case .key(let key): key
                    case .index(let index): String(index)
                    }
                }
                return "\(path.joined(separator: ".")): \(issue.msg)"
            }
            return (text.joined(separator: "; "), issues)
        case nil:
            let text = String(decoding: body.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return (text.isEmpty ? "no detail" : text, [])
        }
    }
}
