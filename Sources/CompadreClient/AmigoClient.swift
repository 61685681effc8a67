import AmigoWire
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// A client of the Amigo Classic API (Compadre or Amigo itself), the Swift counterpart of the Python
/// SDK's `AsyncAmigoClient`: it exchanges an API key for an access token and calls the conversation
/// endpoints with it.
///
/// The token is refreshed `Configuration.refreshMargin` before it expires; concurrent callers share one
/// sign-in; a request answered with 401 is sent again, once, after a new sign-in. Only the token is
/// actor-isolated: requests and streams run concurrently.
public actor AmigoClient {
    /// Where the API is and whom to sign in as.
    public struct Configuration: Sendable {
        /// Scheme, host and port, e.g. `http://127.0.0.1:8080` or `https://api.amigo.ai`.
        public var baseURL: String
        public var organizationID: String
        public var apiKey: String
        public var apiKeyID: String
        /// The user the API key acts for (`x-user-id`).
        public var userID: String
        /// How long before its expiry a token is replaced: 5 minutes, as in the Python SDK.
        public var refreshMargin: TimeInterval = 5 * 60
        /// The deadline of a request whose answer is not streamed: 60 seconds. Streams have none; a
        /// stalled stream ends with the `HTTPClient`'s read timeout (see ``recommendedHTTPClientConfiguration``).
        public var requestTimeout: TimeAmount = .seconds(60)

        public init(baseURL: String, organizationID: String, apiKey: String, apiKeyID: String, userID: String) {
            self.baseURL = baseURL
            self.organizationID = organizationID
            self.apiKey = apiKey
            self.apiKeyID = apiKeyID
            self.userID = userID
        }
    }

    /// Timeouts like the Python SDK's for streams: 10 s to connect, 300 s of silence before a read fails
    /// (an agent may think for a minute and more).
    public static var recommendedHTTPClientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(300))
        return configuration
    }

    public nonisolated let configuration: Configuration
    nonisolated let httpClient: HTTPClient
    nonisolated let logger: Logger
    private nonisolated let now: @Sendable () -> Date
    private var tokens: AccessTokenStateMachine<Task<String, any Error>>

    /// The largest JSON answer read (event streams are read piece by piece and have no limit).
    static let maximumBodySize = 16 << 20

    /// - Parameters:
    ///   - httpClient: owned and shut down by the caller.
    ///   - logger: gets debug logs of sign-ins and retries; never tokens, keys or message contents.
    ///   - now: the wall clock that token expiry is compared with; tests move it.
    public init(
        configuration: Configuration,
        httpClient: HTTPClient,
        logger: Logger = Logger(label: "compadre.client", factory: { _ in SwiftLogNoOpLogHandler() }),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.configuration = configuration
        self.httpClient = httpClient
        var logger = logger
        logger[metadataKey: "org_id"] = .string(configuration.organizationID)
        self.logger = logger
        self.now = now
        self.tokens = AccessTokenStateMachine(refreshMargin: configuration.refreshMargin)
    }

    /// `/v1/{organization}`, escaped, for building paths.
    nonisolated var organizationPath: String { "/v1/" + APIRequest.segment(configuration.organizationID) }

    // MARK: - Access token

    /// A token valid for at least the refresh margin, signing in if needed (once for all callers).
    func accessToken() async throws -> String {
        switch tokens.tokenNeeded(now: now()) {
        case .use(let token):
            return token
        case .wait(let pending):
            return try await pending.value
        case .signIn:
            // Runs on this actor, after `signInStarted` below: no caller can see `.signedOut` meanwhile.
            let pending = Task<String, any Error> {
                do {
                    let answer = try await signIn()
                    tokens.signedIn(token: answer.idToken, expiresAt: answer.expiresAt)
                    return answer.idToken
                } catch {
                    tokens.signInFailed()
                    throw error
                }
            }
            tokens.signInStarted(pending)
            return try await pending.value
        }
    }

    private func rejected(token: String) {
        tokens.rejected(token: token)
    }

    /// `POST /v1/{org}/user/signin_with_api_key`.
    private nonisolated func signIn() async throws -> SignInResponse {
        var request = HTTPClientRequest(url: APIRequest(.POST, organizationPath + "/user/signin_with_api_key").url(baseURL: configuration.baseURL))
        request.method = .POST
        request.headers.add(name: "x-api-key", value: configuration.apiKey)
        request.headers.add(name: "x-api-key-id", value: configuration.apiKeyID)
        request.headers.add(name: "x-user-id", value: configuration.userID)
        request.headers.add(name: "accept", value: "application/json")
        logger.debug("signing in with the API key", metadata: ["user_id": .string(configuration.userID)])
        let response = try await Self.mapCancellation {
            try await httpClient.execute(request, deadline: .now() + configuration.requestTimeout, logger: logger)
        }
        let body = try await Self.mapCancellation { try await response.body.collect(upTo: 1 << 20) }
        guard (200..<300).contains(response.status.code) else {
            throw AmigoClientError.answer(status: Int(response.status.code), body: Array(body.readableBytesView), signIn: true)
        }
        do {
            return try WireCoding.decoder().decode(SignInResponse.self, from: Data(body.readableBytesView))
        } catch {
            throw AmigoClientError.invalidResponse("the sign-in answer is not {id_token, expires_at}: \(error)")
        }
    }

    // MARK: - Requests

    /// Sends `request` with a token; on 401, signs in again and sends it once more. Returns a 2xx
    /// answer whose body is still to be read; throws ``AmigoClientError`` for any other status.
    nonisolated func send(_ request: APIRequest, deadline: NIODeadline) async throws -> HTTPClientResponse {
        var token = try await accessToken()
        var response = try await execute(request, token: token, deadline: deadline)
        if response.status == .unauthorized {
            _ = try? await response.body.collect(upTo: 1 << 20)
            logger.debug("the API rejected the token, signing in again", metadata: ["path": .string(request.path)])
            await rejected(token: token)
            token = try await accessToken()
            response = try await execute(request, token: token, deadline: deadline)
        }
        guard (200..<300).contains(response.status.code) else {
            let body = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            throw AmigoClientError.answer(status: Int(response.status.code), body: Array(body.readableBytesView))
        }
        return response
    }

    private nonisolated func execute(_ request: APIRequest, token: String, deadline: NIODeadline) async throws -> HTTPClientResponse {
        try await Self.mapCancellation {
            try await httpClient.execute(request.httpRequest(baseURL: configuration.baseURL, token: token), deadline: deadline, logger: logger)
        }
    }

    /// Sends `request` and decodes its JSON answer.
    nonisolated func json<Answer: Decodable>(_ type: Answer.Type, _ request: APIRequest) async throws -> Answer {
        let response = try await send(request, deadline: .now() + configuration.requestTimeout)
        let body = try await Self.mapCancellation { try await response.body.collect(upTo: Self.maximumBodySize) }
        do {
            return try WireCoding.decoder().decode(Answer.self, from: Data(body.readableBytesView))
        } catch {
            throw AmigoClientError.invalidResponse("\(request.method) \(request.path) answered with an unexpected body: \(error)")
        }
    }

    /// Sends `request` and expects an answer without a body (`204`).
    nonisolated func empty(_ request: APIRequest) async throws {
        let response = try await send(request, deadline: .now() + configuration.requestTimeout)
        _ = try await Self.mapCancellation { try await response.body.collect(upTo: Self.maximumBodySize) }
    }

    /// Sends `request` and streams the events of its NDJSON answer. Ending the iteration early (or
    /// cancelling its task) cancels the request.
    nonisolated func events(_ request: APIRequest) -> AsyncThrowingStream<ConversationEvent, any Error> {
        var request = request
        request.accept = "application/x-ndjson"
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ConversationEvent.self)
        let task = Task { [request] in
            do {
                let response = try await send(request, deadline: .distantFuture)
                var decoder = ConversationEventDecoder()
                try await Self.mapCancellation {
                    for try await buffer in response.body {
                        for event in try decoder.consume(buffer.readableBytesView) { continuation.yield(event) }
                    }
                }
                if let event = try decoder.finish() { continuation.yield(event) }
                if decoder.skippedUnknownEvents > 0 {
                    logger.debug("skipped events of unknown types", metadata: ["count": .stringConvertible(decoder.skippedUnknownEvents)])
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// AsyncHTTPClient reports a cancelled request as `HTTPClientError.cancelled`; callers expect
    /// `CancellationError`.
    private static func mapCancellation<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as HTTPClientError where error == .cancelled {
            throw CancellationError()
        }
    }
}
