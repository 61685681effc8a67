import AmigoWire
import AsyncHTTPClient
import Engine
import NIOCore

extension OpenAICompatibleModel {
    /// How a request with `OutputFormat.json` asks the server for schema-constrained output.
    public enum StructuredOutputMode: String, Sendable, Hashable, Codable {
        /// OpenAI's `{"type":"json_schema","json_schema":{"name":…,"schema":…,"strict":true}}`.
        case jsonSchema = "json_schema"
        /// `{"type":"json_object","schema":…}`, the form llama-cpp-python's server enforces with a grammar
        /// (it answers the `json_schema` form with HTTP 500).
        case jsonObject = "json_object"
        /// `json_schema` first; if the server answers a structured request with 400, 422 or 500, that
        /// request is sent again at once with `json_object`, and the form that worked is kept for the
        /// model's lifetime.
        case automatic
    }

    /// Where the model is and how patient to be with it.
    public struct Configuration: Sendable {
        /// The API root; requests go to `{baseURL}/chat/completions`. Example: `http://127.0.0.1:8081/v1`.
        public var baseURL: String
        /// Sent as `Authorization: Bearer …` when set. Never logged.
        public var apiKey: String?
        /// The `model` field of every request.
        public var model: String
        /// The longest a call may take from the first byte sent to the last received, retries and their
        /// waits included. Default 120 s.
        public var requestTimeout: Duration
        /// The longest the server may stay silent: before its answer starts and between two pieces of a
        /// streamed answer (a server that ignores `stream` must send its whole answer within it).
        /// Default 30 s.
        public var idleTimeout: Duration
        /// The longest to wait for a TCP connection. It is a setting of the `HTTPClient`, so it applies to
        /// clients made with ``httpClientConfiguration``. Default 5 s.
        public var connectTimeout: Duration
        /// How many times a failed request is sent again (connection failures, 429 and 5xx, and only
        /// while nothing of the answer was delivered). Default 3.
        public var maxRetries: Int
        /// The wait before the first retry; it doubles with each retry, with jitter, unless the server
        /// sends `Retry-After`. Default 0.5 s.
        public var initialBackoff: Duration
        /// How to ask for JSON answers. Default ``StructuredOutputMode/automatic``.
        public var structuredOutput: StructuredOutputMode
        /// Extra request headers (an organization id, a proxy's routing key).
        public var headers: [String: String]
        /// Body parameters sent with every request unless the request sets them (for example the
        /// embedded model's `repeat_penalty`).
        public var defaultParameters: [String: JSONValue] = [:]
        /// The clock of the request deadline, the idle timeout and retry backoffs. Default: continuous.
        public var clock: AnyClock = .continuous

        public init(
            baseURL: String,
            apiKey: String? = nil,
            model: String,
            requestTimeout: Duration = .seconds(120),
            idleTimeout: Duration = .seconds(30),
            connectTimeout: Duration = .seconds(5),
            maxRetries: Int = 3,
            initialBackoff: Duration = .milliseconds(500),
            structuredOutput: StructuredOutputMode = .automatic,
            headers: [String: String] = [:]
        ) {
            self.baseURL = baseURL
            self.apiKey = apiKey
            self.model = model
            self.requestTimeout = requestTimeout
            self.idleTimeout = idleTimeout
            self.connectTimeout = connectTimeout
            self.maxRetries = maxRetries
            self.initialBackoff = initialBackoff
            self.structuredOutput = structuredOutput
            self.headers = headers
        }

        /// `{baseURL}/chat/completions`.
        public var chatCompletionsURL: String {
            var base = baseURL
            while base.hasSuffix("/") { base.removeLast() }
            return base + "/chat/completions"
        }

        /// A configuration for the `HTTPClient` the models share: `connectTimeout`, and no connection
        /// retries inside the client (the model retries with backoff itself, so an unreachable server is
        /// reported after the model's retries rather than after the client's connect timeout each time).
        /// Read timeouts are left to the model, which knows when a stream is idle.
        /// Connections kept to one model host: at most this many model calls stream at once per host.
        public static let connectionsPerHost = 512

        public var httpClientConfiguration: HTTPClient.Configuration {
            var configuration = HTTPClient.Configuration(
                timeout: .init(connect: TimeAmount(connectTimeout), read: nil)
            )
            configuration.connectionPool.retryConnectionEstablishment = false
            // AsyncHTTPClient opens 8 connections per host by default and lets a request wait for one only
            // as long as the connect timeout: at 100 interactions streaming at once, most would fail as
            // "unreachable". Streams are long-lived, so the pool must hold one connection per interaction.
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = Self.connectionsPerHost
            configuration.decompression = .disabled
            return configuration
        }
    }
}
