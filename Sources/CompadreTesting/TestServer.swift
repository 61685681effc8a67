import AmigoWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWebSocket
import Logging
import NIOCore
import Prometheus
import Engine
import Server
import Storage
import StorageTesting
import EngineTesting
import Platform

/// An in-process Compadre over a test database, with helpers to sign in and call the API.
public struct TestServer: Sendable {
    public var api: API

    /// A fresh router of every route, as `serve` builds it.
    public var router: Router<AppContext> { CompadreServer.makeRouter(api: api) }

    public init(
        database: any Database, rateLimiter: RateLimiter? = nil, tokenSecret: String = "compadre-test-secret-of-at-least-32-bytes",
        model: any LanguageModel = ScriptedModel(), realtimeLimits: RealtimeLimits = RealtimeLimits(),
        tools: ToolConfiguration? = nil, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        realtimeClock: AnyClock = .continuous, signInLimits: SignInLimits.Configuration? = nil,
        cacheClock: AnyClock = .continuous, leasesInProcess: Bool = false, speech: SpeechEngines = .none,
        embedder: (any Embedder)? = nil
    ) async throws {
        var configuration = ServerConfiguration()
        configuration.tokenSecret = tokenSecret
        configuration.rateLimitsEnabled = false
        configuration.tools = tools
        configuration.leasesInProcess = leasesInProcess
        // Tests receive webhooks on loopback, over plain HTTP.
        configuration.webhookPolicy.allowPlainHTTP = true
        configuration.webhookPolicy.allowPrivateNetworks = true
        let made = try await CompadreServer.makeAPI(
            store: Store(database: database), configuration: configuration, models: LanguageModels(default: model),
            speech: speech, embedder: embedder, logger: Logger(label: "compadre-test")
        )
        var api = API(
            store: made.store, tokens: made.tokens, rateLimiter: rateLimiter, catalog: made.catalog, conversations: made.conversations,
            cacheClock: cacheClock
        )
        api.realtimeLimits = realtimeLimits
        api.tools = made.tools
        api.links = made.links
        api.webhooks = made.webhooks
        api.promptLogs = made.promptLogs
        api.metrics = metrics
        api.realtimeClock = realtimeClock
        api.signIns = signInLimits.map { SignInGuard(configuration: $0) }
        self.api = api
    }

    /// Runs `body` with a client of the router (no sockets).
    public func test<Result: Sendable>(_ body: @Sendable (Client) async throws -> Result) async throws -> Result {
        let app = Application(router: CompadreServer.makeRouter(api: api))
        return try await app.test(.router) { client in try await body(Client(client: client)) }
    }

    /// Runs `body` against a live server on a free loopback port (HTTP and the realtime socket).
    public func live<Result: Sendable>(_ body: @Sendable (_ port: Int) async throws -> Result) async throws -> Result {
        let router = self.router
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(maxFrameSize: 4 << 20)),
            configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
        return try await app.test(.live) { client in
            guard let port = client.port else { throw TestFailure("the live test server has no port") }
            return try await body(port)
        }
    }

    /// Creates an organization with its administrator and API key.
    public func bootstrap(_ orgID: String = uniqueOrgID()) async throws -> OrganizationBootstrap.Credentials {
        try await OrganizationBootstrap.create(orgID: orgID, store: api.store)
    }

    /// A client of the API that encodes bodies and decodes JSON answers.
    public struct Client: Sendable {
        let client: any TestClientProtocol

        public struct Answer: Sendable {
            public var status: HTTPResponse.Status
            public var headers: HTTPFields
            public var body: Data

            public func json() throws -> Any { try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) }
            public func object() throws -> [String: Any] { (try json() as? [String: Any]) ?? [:] }
            public func decode<T: Decodable>(_ type: T.Type) throws -> T { try WireCoding.decoder().decode(T.self, from: body) }
            public var text: String { String(decoding: body, as: UTF8.self) }
            /// The lines of an NDJSON answer, each parsed as a JSON object.
            public func events() throws -> [[String: Any]] {
                try text.split(separator: "\n").map {
                    guard let event = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] else {
                        throw TestFailure("not a JSON object: \($0)")
                    }
                    return event
                }
            }
            /// The action types of the `current-agent-action` events, in order.
            public func agentActionTypes() throws -> [String] {
                try events().compactMap { event in
                    guard event["type"] as? String == "current-agent-action" else { return nil }
                    return (event["action"] as? [String: Any])?["type"] as? String
                }
            }
            /// The `type` of every NDJSON event, and of the action of `current-agent-action` events.
            public func eventTypes() throws -> [String] {
                try events().map { event in
                    let type = event["type"] as? String ?? "?"
                    guard type == "current-agent-action", let action = event["action"] as? [String: Any] else { return type }
                    return "action:" + (action["type"] as? String ?? "?")
                }
            }
        }

        /// Sends a request; `json` is serialized with JSONSerialization (dictionaries and arrays).
        @discardableResult
        public func call(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, json: Any? = nil, headers: HTTPFields = [:]) async throws -> Answer {
            var fields = headers
            if let token { fields[.authorization] = "Bearer \(token)" }
            var body: ByteBuffer?
            if let json {
                fields[.contentType] = "application/json"
                body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed]))
            }
            return try await client.execute(uri: uri, method: method, headers: fields, body: body) { response in
                Answer(status: response.status, headers: response.headers, body: Data(response.body.readableBytesView))
            }
        }

        /// Sends a multipart form (`fields` in order) as the interact endpoint takes it.
        @discardableResult
        public func form(_ uri: String, token: String, fields: [(String, String)]) async throws -> Answer {
            let boundary = "compadre-test-boundary"
            var text = ""
            for (name, value) in fields {
                text += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\""
                if name == "recorded_message" { text += "; filename=\"message.txt\"\r\nContent-Type: text/plain" }
                text += "\r\n\r\n\(value)\r\n"
            }
            text += "--\(boundary)--\r\n"
            let fields: HTTPFields = [
                .authorization: "Bearer \(token)", .contentType: "multipart/form-data; boundary=\(boundary)",
            ]
            return try await client.execute(uri: uri, method: .post, headers: fields, body: ByteBuffer(string: text)) { response in
                Answer(status: response.status, headers: response.headers, body: Data(response.body.readableBytesView))
            }
        }

        /// Interacts with a conversation by voice, as the official SDK sends it: the audio file as the
        /// `recorded_message` part, `request_format=voice` and whatever else `query` says.
        @discardableResult
        public func interactByVoice(
            org: String, conversation: String, token: String, audio: Data, contentType: String = "audio/wav",
            query: String = "request_format=voice&response_format=text"
        ) async throws -> Answer {
            let boundary = "compadre-test-boundary"
            var body = ByteBuffer()
            body.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"initial_message_type\"\r\n\r\nuser-message\r\n")
            body.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"recorded_message\"; filename=\"audio.wav\"\r\n")
            body.writeString("Content-Type: \(contentType)\r\n\r\n")
            body.writeBytes(audio)
            body.writeString("\r\n--\(boundary)--\r\n")
            let fields: HTTPFields = [
                .authorization: "Bearer \(token)", .contentType: "multipart/form-data; boundary=\(boundary)",
            ]
            let uri = "/v1/\(org)/conversation/\(conversation)/interact?\(query)"
            return try await client.execute(uri: uri, method: .post, headers: fields, body: body) { response in
                Answer(status: response.status, headers: response.headers, body: Data(response.body.readableBytesView))
            }
        }

        /// Interacts with a conversation in text, as the official SDK sends it.
        @discardableResult
        public func interact(
            org: String, conversation: String, token: String, text: String, type: String = "user-message",
            events: [(content: String, timestamp: String)] = [], query: String = "request_format=text&response_format=text"
        ) async throws -> Answer {
            var fields = [("initial_message_type", type)]
            fields += events.map { ("external_event_message_content", $0.content) }
            fields += events.map { ("external_event_message_timestamp", $0.timestamp) }
            fields.append(("recorded_message", text))
            return try await form("/v1/\(org)/conversation/\(conversation)/interact?\(query)", token: token, fields: fields)
        }

        /// Signs `userID` in with an API key and returns the access token.
        public func signIn(org: String, keyID: String, key: String, userID: String) async throws -> String {
            let answer = try await call(.post, "/v1/\(org)/user/signin_with_api_key", headers: [
                HTTPField.Name("x-api-key")!: key, HTTPField.Name("x-api-key-id")!: keyID, HTTPField.Name("x-user-id")!: userID,
            ])
            guard answer.status == .ok, let token = try answer.object()["id_token"] as? String else {
                throw TestFailure("sign-in failed: \(answer.status) \(answer.text)")
            }
            return token
        }

        /// Signs in the administrator of `credentials`.
        public func signIn(_ credentials: OrganizationBootstrap.Credentials) async throws -> String {
            try await signIn(org: credentials.organizationID, keyID: credentials.apiKeyID, key: credentials.apiKey, userID: credentials.userID)
        }
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A test's server: a fresh database of one engine, an organization with its administrator signed in,
/// and a client of the router.
public struct SignedInAdmin: Sendable {
    public let server: TestServer
    public let client: TestServer.Client
    public let credentials: OrganizationBootstrap.Credentials
    public let token: String

    public var org: String { credentials.organizationID }

    /// Runs `body` with a server over a fresh `engine` database and its signed-in administrator.
    public static func with<Result: Sendable>(
        _ engine: TestDatabase = .sqlite, model: any LanguageModel = ScriptedModel(),
        realtimeLimits: RealtimeLimits = RealtimeLimits(), tools: ToolConfiguration? = nil, embedder: (any Embedder)? = nil,
        _ body: @Sendable (SignedInAdmin) async throws -> Result
    ) async throws -> Result {
        try await engine.with { database in
            let server = try await TestServer(database: database, model: model, realtimeLimits: realtimeLimits, tools: tools, embedder: embedder)
            let credentials = try await server.bootstrap()
            return try await server.test { client in
                let token = try await client.signIn(credentials)
                return try await body(SignedInAdmin(server: server, client: client, credentials: credentials, token: token))
            }
        }
    }
}
