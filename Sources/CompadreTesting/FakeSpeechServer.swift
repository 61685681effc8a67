import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// An OpenAI-compatible audio and embeddings API (`/v1/audio/transcriptions`, `/v1/audio/speech`, `/v1/audio/turn`,
/// `/v1/embeddings`) on 127.0.0.1 whose answers a test gives, for exercising providers over real HTTP.
public struct FakeSpeechServer: Sendable {
    /// A request as the server received it.
    public struct Request: Sendable {
        public var path: String
        /// Header fields, names lowercased.
        public var headers: [String: String]
        public var body: Data

        /// The body as text (a multipart form's fields are readable in it).
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// What the server answers.
    public struct Reply: Sendable {
        /// The HTTP status code.
        public var status: Int
        public var contentType: String
        public var body: Data
        public var headers: [String: String]

        public init(status: Int = 200, contentType: String = "application/json", body: Data, headers: [String: String] = [:]) {
            self.status = status
            self.contentType = contentType
            self.body = body
            self.headers = headers
        }

        public static func json(_ text: String, status: Int = 200) -> Reply {
            Reply(status: status, body: Data(text.utf8))
        }
    }

    public typealias Handler = @Sendable (Request) async -> Reply

    public let port: Int
    private let log: RequestLog

    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    public var requests: [Request] { log.requests }

    final class RequestLog: Sendable {
        private let entries = Mutex<[Request]>([])
        var requests: [Request] { entries.withLock { $0 } }
        func append(_ request: Request) { entries.withLock { $0.append(request) } }
    }

    /// Starts a server answering with `handler`, runs `body`, and shuts the server down.
    public static func withServer<Result: Sendable>(
        _ handler: @escaping Handler, _ body: (FakeSpeechServer) async throws -> Result
    ) async throws -> Result {
        let log = RequestLog()
        let router = Router()
        for path in ["v1/audio/transcriptions", "v1/audio/speech", "v1/audio/turn", "v1/embeddings"] {
            router.post(RouterPath(path)) { request, _ -> Response in
                let bytes = try await request.body.collect(upTo: 64 << 20)
                var headers: [String: String] = [:]
                for field in request.headers { headers[field.name.canonicalName] = field.value }
                let received = Request(path: request.uri.path, headers: headers, body: Data(bytes.readableBytesView))
                log.append(received)
                let reply = await handler(received)
                var fields: HTTPFields = [.contentType: reply.contentType]
                for (name, value) in reply.headers { fields[HTTPField.Name(name)!] = value }
                return Response(status: HTTPResponse.Status(code: reply.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
            }
        }
        let logger = Logger(label: "FakeSpeechServer", factory: { _ in SwiftLogNoOpLogHandler() })
        return try await withLoopbackServer(router, logger: logger) { port in
            try await body(FakeSpeechServer(port: port, log: log))
        }
    }
}
