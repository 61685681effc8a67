import AmigoWire
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A tiny Amigo API on 127.0.0.1 for testing the client over real HTTP: API-key sign-in that hands out
/// numbered tokens valid for 10 minutes, token checks that answer 401 to stale tokens, and canned
/// conversation endpoints whose NDJSON answers arrive in awkward pieces.
struct FakeAmigoServer: Sendable {
    static let organizationID = "acme"
    static let apiKey = "secret-key"
    static let apiKeyID = "key-1"
    static let userID = "user-1"

    struct Recorded: Sendable {
        var method: String
        var path: String
        var query: [String: [String]]
        var headers: [String: String]
        var body: String
    }

    /// What the server knows; tests read and change it.
    final class State: Sendable {
        private struct Values {
            var signIns = 0
            var validTokens: Set<String> = []
            var rejectEveryToken = false
            var requests: [Recorded] = []
        }
        private let values = Mutex(Values())

        var signIns: Int { values.withLock { $0.signIns } }
        var requests: [Recorded] { values.withLock { $0.requests } }

        /// Makes every token issued so far stale: requests with them get 401.
        func revokeTokens() { values.withLock { $0.validTokens.removeAll() } }
        /// Answers 401 to every request, whatever its token.
        func rejectEveryToken() { values.withLock { $0.rejectEveryToken = true } }

        func issueToken() -> String {
            values.withLock {
                $0.signIns += 1
                let token = "token-\($0.signIns)"
                $0.validTokens.insert(token)
                return token
            }
        }

        func accepts(_ authorization: String?) -> Bool {
            values.withLock { values in
                guard !values.rejectEveryToken, let authorization, authorization.hasPrefix("Bearer ") else { return false }
                return values.validTokens.contains(String(authorization.dropFirst("Bearer ".count)))
            }
        }

        func record(_ request: Recorded) { values.withLock { $0.requests.append(request) } }
    }

    let port: Int
    let state: State
    /// The clock of the server and of its clients: tokens expire 10 minutes after it says they were issued.
    let clock: MockWallClock

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts the server, runs `body` and stops the server.
    static func withServer<Result: Sendable>(_ body: (FakeAmigoServer) async throws -> Result) async throws -> Result {
        let state = State()
        let clock = MockWallClock()
        let router = Router()
        addRoutes(to: router, state: state, clock: clock)
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: Logger(label: "FakeAmigoServer", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { portContinuation.finish() }
                try await app.run()
            }
            defer { group.cancelAll() }
            guard let port = await ports.first(where: { _ in true }), port > 0 else {
                try await group.next()
                throw FakeServerFailure()
            }
            return try await body(FakeAmigoServer(port: port, state: state, clock: clock))
        }
    }

    struct FakeServerFailure: Error {}

    // MARK: - Canned answers

    static let createEvents: [ConversationEvent] = [
        .conversationCreated(conversationID: "c1"),
        .currentAgentAction(.stateTransitioned(
            previousState: "start", previousGraph: VersionInfo(id: "g", version: 1),
            nextState: "greet", nextGraph: VersionInfo(id: "g", version: 1))),
        .newMessage(NewMessage(message: "Hello", stop: false, sequenceNumber: 0, messageID: "m1")),
        .newMessage(NewMessage(message: ", how can I help?", stop: true, sequenceNumber: 1, messageID: "m1")),
        .interactionComplete(InteractionComplete(messageID: "m1", interactionID: "i1", fullMessage: "Hello, how can I help?", conversationCompleted: false)),
    ]

    static let interactEvents: [ConversationEvent] = [
        .userMessageAvailable(messageID: "m2", userMessage: "hi"),
        .newMessage(NewMessage(message: "Sure.", stop: true, sequenceNumber: 0, messageID: "m3")),
        .interactionComplete(InteractionComplete(messageID: "m3", interactionID: "i2", fullMessage: "Sure.", conversationCompleted: false)),
    ]

    static let insights = InteractionInsights(currentStateName: "triage", currentStateAction: "ask what hurts", currentStateObjective: "find the problem")

    private static func addRoutes(to router: Router<BasicRequestContext>, state: State, clock: MockWallClock) {
        router.post("/v1/:org/user/signin_with_api_key") { request, _ -> Response in
            try await Task.sleep(for: .milliseconds(100))  // long enough for concurrent callers to pile up
            guard request.headers[values: HTTPField.Name("x-api-key")!] == [apiKey],
                  request.headers[values: HTTPField.Name("x-api-key-id")!] == [apiKeyID],
                  request.headers[values: HTTPField.Name("x-user-id")!] == [userID]
            else { return json(#"{"detail":"Invalid API key."}"#, status: .unauthorized) }
            let token = state.issueToken()
            let expiresAt = WireCoding.formatDate(clock.now.addingTimeInterval(10 * 60))
            return json(#"{"id_token":"\#(token)","expires_at":"\#(expiresAt)"}"#)
        }

        router.get("/v1/:org/service/") { request, _ -> Response in
            try await protected(request, state) { _ in
                if request.uri.queryParameters["continuation_token"] == nil {
                    return json(#"{"services":[{"id":"s1","name":"Triage","is_active":true,"other":1}],"has_more":true,"continuation_token":1}"#)
                }
                return json(#"{"services":[{"id":"s2","name":"Billing","is_active":false}],"has_more":false,"continuation_token":null}"#)
            }
        }

        router.post("/v1/:org/conversation/") { request, _ -> Response in
            try await protected(request, state) { body in
                if body.contains(#""service_id":"invalid""#) {
                    return json(
                        #"{"detail":[{"loc":["body","service_id"],"msg":"Invalid ObjectId","type":"value_error"},{"loc":["query","limit",0],"msg":"Too big","type":"x"}]}"#,
                        status: .unprocessableContent)
                }
                return ndjson(createEvents, status: .created)
            }
        }

        router.post("/v1/:org/conversation/:id/interact") { request, _ -> Response in
            try await protected(request, state) { _ in ndjson(interactEvents, status: .ok) }
        }

        router.post("/v1/:org/conversation/:id/finish/") { request, context -> Response in
            try await protected(request, state) { _ in
                context.parameters.get("id") == "done"
                    ? json(#"{"detail":"The conversation is already finished."}"#, status: .conflict)
                    : Response(status: .noContent)
            }
        }

        router.get("/v1/:org/conversation/:id/interaction/:iid/insights") { request, _ -> Response in
            try await protected(request, state) { _ in
                json(String(decoding: try WireCoding.encoder().encode(insights), as: UTF8.self))
            }
        }

        router.get("/v1/:org/conversation/") { request, _ -> Response in
            try await protected(request, state) { _ in
                let conversation = ConversationInstance(
                    id: "c9", userID: userID, createdAt: Date(timeIntervalSince1970: 1_700_000_000), serviceID: "s1", versionSetInfo: nil)
                let page = Page(itemsKey: "conversations", items: [conversation], hasMore: false, continuationToken: nil)
                return json(String(decoding: try WireCoding.encoder().encode(page), as: UTF8.self))
            }
        }

        router.get("/v1/:org/conversation/:id/messages/") { request, _ -> Response in
            try await protected(request, state) { _ in
                let message = MessageInstance(
                    id: "m1", interactionID: "i1", createdAt: Date(timeIntervalSince1970: 1_700_000_000), sender: "agent",
                    message: "Hello", format: .text, messageType: .agentMessage)
                let page = Page(itemsKey: "messages", items: [message], hasMore: true, continuationToken: 1)
                return json(String(decoding: try WireCoding.encoder().encode(page), as: UTF8.self))
            }
        }
    }

    /// Records the request, then answers 401 unless its token is valid.
    private static func protected(
        _ request: Request, _ state: State, _ answer: (String) async throws -> Response
    ) async throws -> Response {
        let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        var query: [String: [String]] = [:]
        for (name, value) in request.uri.queryParameters { query[String(name), default: []].append(String(value)) }
        state.record(Recorded(method: request.method.rawValue, path: request.uri.path, query: query, headers: headers, body: body))
        guard state.accepts(request.headers[.authorization]) else {
            return json(#"{"detail":"Invalid authorization credentials."}"#, status: .unauthorized)
        }
        return try await answer(body)
    }

    private static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The events as NDJSON (CRLF after the second, a blank line, no newline after the last), written
    /// in 7-byte pieces so lines are split across writes.
    private static func ndjson(_ events: [ConversationEvent], status: HTTPResponse.Status) -> Response {
        let encoder = WireCoding.encoder()
        var text = ""
        for (index, event) in events.enumerated() {
            text += String(decoding: try! encoder.encode(event), as: UTF8.self)
            if index == events.count - 1 { break }
            text += index == 1 ? "\r\n\n" : "\n"
        }
        let bytes = Array(text.utf8)
        return Response(status: status, headers: [.contentType: "application/x-ndjson"], body: .init { writer in
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + 7, bytes.count)
                try await writer.write(ByteBuffer(bytes: bytes[offset..<end]))
                offset = end
                await Task.yield()
            }
            try await writer.finish(nil)
        })
    }
}
