import AmigoWire
import Foundation
import HTTPTypes
import Logging
import Hummingbird
import NIOCore
import Platform
import Synchronization

/// How an error reaches a client: the one table from what went wrong to the wire.
///
/// Every failure a client sees passes through here: an HTTP response (status, headers and the API's
/// JSON body `{"detail": "message"}` or `{"detail": [issues]}` for invalid input, with the request's
/// ID), the `http_error_code` of an NDJSON or realtime `error` event, and the close code of a realtime
/// socket whose conversation could not start.
struct WireError: HTTPResponseError {
    private enum Base {
        case platform(PlatformError)
        /// The router's own answers (404 for an unknown path, 405 for an unknown method, 413 for a
        /// body over the limit) keep their status.
        case http(HTTPError)
    }

    private let base: Base
    /// The request the error answers, echoed in the body and the `X-Request-ID` header.
    var requestID: String?

    /// Any error as a client sees it; errors nobody anticipated are internal and show no detail.
    init(_ error: any Error, requestID: String? = nil) {
        switch error {
        case let error as WireError:
            self = error
            self.requestID = requestID ?? error.requestID
            return
        case let error as HTTPError:
            base = .http(error)
        default:
            base = .platform(PlatformError(error))
        }
        self.requestID = requestID
    }

    /// The table.
    static func status(of kind: PlatformError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .invalidInput: .unprocessableContent
        case .tooLarge: .contentTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .rateLimited, .modelRateLimited: .tooManyRequests
        case .unavailable, .modelUnreachable: .serviceUnavailable
        case .modelFailed: .badGateway
        case .modelTimedOut: .gatewayTimeout
        case .timedOut: .requestTimeout
        case .cancelled: .init(code: 499, reasonPhrase: "Client Closed Request")
        case .internal: .internalServerError
        }
    }

    var status: HTTPResponse.Status {
        switch base {
        case .platform(let error): Self.status(of: error.kind)
        case .http(let error): error.status
        }
    }

    /// What the client is told. Internal faults say no more than that.
    var message: String {
        switch base {
        case .platform(let error): error.message
        case .http(let error): error.body ?? error.status.reasonPhrase
        }
    }

    var kind: PlatformError.Kind? {
        if case .platform(let error) = base { return error.kind }
        return nil
    }

    var headers: HTTPFields {
        var fields: HTTPFields = [.contentType: "application/json"]
        if let requestID { fields[.requestID] = requestID }
        guard case .platform(let error) = base else {
            if case .http(let error) = base {
                for field in error.headers where field.name != .contentType { fields[field.name] = field.value }
            }
            return fields
        }
        switch error.kind {
        case .unauthorized:
            fields[.wwwAuthenticate] = "Bearer"
        case .rateLimited:
            if let limit = error.rateLimit {
                fields[.retryAfter] = "\(limit.retryAfter)"
                if limit.limit > 0 {
                    fields[.rateLimitLimit] = "\(limit.limit)"
                    fields[.rateLimitRemaining] = "0"
                    fields[.rateLimitReset] = "\(limit.resetAt)"
                }
            }
        default:
            break
        }
        return fields
    }

    var body: Data {
        struct MessageBody: Encodable {
            var detail: String
            var requestID: String?
            enum CodingKeys: String, CodingKey { case detail, requestID = "request_id" }
        }
        struct IssuesBody: Encodable {
            var detail: [ValidationIssue]
            var requestID: String?
            enum CodingKeys: String, CodingKey { case detail, requestID = "request_id" }
        }
        if case .platform(let error) = base, error.kind == .invalidInput {
            return (try? JSONEncoder().encode(IssuesBody(detail: error.issues, requestID: requestID))) ?? Data()
        }
        return (try? JSONEncoder().encode(MessageBody(detail: message, requestID: requestID))) ?? Data()
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The `error` event of a conversation stream.
    var event: ConversationEvent {
        .error(httpErrorCode: status.code, errorDescription: message)
    }

    /// The close code of a realtime socket whose conversation could not start for this reason; nil
    /// when the socket stays open and the client is told with an `error` event.
    var closeCode: RealtimeConnection.CloseCode? {
        switch kind {
        case .notFound: .notFound
        case .forbidden: .forbidden
        default: nil
        }
    }
}

extension HTTPField.Name {
    static let requestID = Self("X-Request-ID")!
    static let rateLimitLimit = Self("X-RateLimit-Limit")!
    static let rateLimitRemaining = Self("X-RateLimit-Remaining")!
    static let rateLimitReset = Self("X-RateLimit-Reset")!
}

/// Turns every error that escapes a route (the router's own 404 included) into the API's JSON
/// body with the request's ID, and logs the unexpected ones without showing them to the client. A
/// method the API does not declare on a path it serves is a 405 with `Allow`.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The routes' paths and methods, filled once every route is registered.
    let routes: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let requestID = context.id
        do {
            var response = try await RequestScope.$id.withValue(requestID) { try await next(request, context) }
            response.headers[.requestID] = requestID
            return response
        } catch {
            var error = error
            if let notFound = error as? HTTPError, notFound.status == .notFound,
               let allowed = routes.methods(for: request.uri.path), !allowed.contains(request.method) {
                error = HTTPError(
                    .methodNotAllowed, headers: [.allow: allowed.map(\.rawValue).sorted().joined(separator: ", ")],
                    message: "Method \(request.method.rawValue) is not allowed here."
                )
            }
            let wire = WireError(error, requestID: requestID)
            if wire.kind == .internal {
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            throw wire
        }
    }
}

/// Which methods each route path serves, to answer an undeclared method with 405 and `Allow`.
/// Path patterns are matched segment by segment: `:name` / `{name}` match one segment, `**` the rest.
final class RouteMethods: Sendable {
    private let table = Mutex<[(segments: [Substring], methods: Set<HTTPRequest.Method>)]>([])

    func register(_ routes: [(path: String, method: HTTPRequest.Method)]) {
        var byPath: [String: Set<HTTPRequest.Method>] = [:]
        for route in routes { byPath[route.path, default: []].insert(route.method) }
        table.withLock { table in
            table = byPath.map { (segments: $0.key.split(separator: "/"), methods: $0.value) }
        }
    }

    /// The methods of the route the router picks for `path` — the most specific matching pattern (a
    /// constant segment before a parameter, a parameter before `**`), with patterns of the same shape
    /// merged; nil when none matches.
    func methods(for path: String) -> Set<HTTPRequest.Method>? {
        let parts = path.split(separator: "/")
        let matching = table.withLock { table in
            table.filter { Self.matches($0.segments, parts) }.map { (rank: Self.specificity($0.segments), methods: $0.methods) }
        }
        guard let best = matching.map(\.rank).max(by: { $0.lexicographicallyPrecedes($1) }) else { return nil }
        return matching.filter { $0.rank == best }.reduce(into: []) { $0.formUnion($1.methods) }
    }

    /// Per segment: 2 for a constant, 1 for a parameter, 0 for `**`.
    private static func specificity(_ pattern: [Substring]) -> [Int] {
        pattern.map { segment in
            if segment == "**" { return 0 }
            return segment.hasPrefix(":") || segment.hasPrefix("{") ? 1 : 2
        }
    }

    private static func matches(_ pattern: [Substring], _ parts: [Substring]) -> Bool {
        for (index, segment) in pattern.enumerated() {
            if segment == "**" { return parts.count > index }
            guard index < parts.count else { return false }
            if segment.hasPrefix(":") || segment.hasPrefix("{") { continue }
            if segment != parts[index] { return false }
        }
        return pattern.count == parts.count
    }
}
