import AmigoWire
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// An error a client can act on, mapped in one place to the status and the JSON body the API uses:
/// `{"detail": "message"}`, or `{"detail": [issues]}` for 422.
public struct APIError: Error, HTTPResponseError, Sendable {
    private enum Body: Sendable {
        case message(String)
        case issues([ValidationIssue])
    }

    public let status: HTTPResponse.Status
    private let body: Body
    private let extraHeaders: HTTPFields

    private init(_ status: HTTPResponse.Status, _ body: Body, headers: HTTPFields = [:]) {
        self.status = status
        self.body = body
        self.extraHeaders = headers
    }

    public static func badRequest(_ detail: String) -> APIError { APIError(.badRequest, .message(detail)) }
    public static func unauthorized(_ detail: String = "Invalid authorization credentials.") -> APIError {
        APIError(.unauthorized, .message(detail), headers: [.wwwAuthenticate: "Bearer"])
    }
    public static func forbidden(_ detail: String = "Missing required permissions.") -> APIError { APIError(.forbidden, .message(detail)) }
    public static func notFound(_ detail: String) -> APIError { APIError(.notFound, .message(detail)) }
    public static func conflict(_ detail: String) -> APIError { APIError(.conflict, .message(detail)) }
    public static func payloadTooLarge(_ detail: String) -> APIError { APIError(.contentTooLarge, .message(detail)) }
    public static func unsupportedMediaType(_ detail: String) -> APIError { APIError(.unsupportedMediaType, .message(detail)) }
    public static func internalError() -> APIError { APIError(.internalServerError, .message("Internal server error.")) }
    public static func unavailable(_ detail: String) -> APIError { APIError(.serviceUnavailable, .message(detail)) }
    public static func generic(_ status: HTTPResponse.Status, _ detail: String) -> APIError { APIError(status, .message(detail)) }

    public static func validation(_ issues: [ValidationIssue]) -> APIError { APIError(.unprocessableContent, .issues(issues)) }
    public static func validation(_ loc: [ValidationIssue.Location], _ msg: String, type: String = "value_error") -> APIError {
        validation([ValidationIssue(loc: loc, msg: msg, type: type)])
    }

    public static func rateLimited(limit: Int, resetIn seconds: Int, resetAt epoch: Int) -> APIError {
        APIError(.tooManyRequests, .message("Rate limit of \(limit) requests per minute exceeded for this endpoint."), headers: [
            .retryAfter: "\(seconds)",
            HTTPField.Name("X-RateLimit-Limit")!: "\(limit)",
            HTTPField.Name("X-RateLimit-Remaining")!: "0",
            HTTPField.Name("X-RateLimit-Reset")!: "\(epoch)",
        ])
    }

    public var headers: HTTPFields {
        var fields = extraHeaders
        fields[.contentType] = "application/json"
        return fields
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bodyData)))
    }

    var bodyData: Data {
        struct MessageBody: Encodable { var detail: String }
        struct IssuesBody: Encodable { var detail: [ValidationIssue] }
        switch body {
        case .message(let detail): return (try? JSONEncoder().encode(MessageBody(detail: detail))) ?? Data()
        case .issues(let issues): return (try? JSONEncoder().encode(IssuesBody(detail: issues))) ?? Data()
        }
    }

    public var detailMessage: String {
        switch body {
        case .message(let detail): detail
        case .issues(let issues): issues.map(\.msg).joined(separator: "; ")
        }
    }
}

/// Turns every error that escapes a route (including the router's own 404/405) into a JSON body,
/// and logs unexpected ones without leaking them to the client.
struct ErrorBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            throw APIError.generic(error.status, error.body ?? error.status.reasonPhrase)
        } catch let error as RequestValidationError {
            throw APIError.validation(error.issues)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            throw APIError.internalError()
        }
    }
}
