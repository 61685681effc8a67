import AsyncHTTPClient
import Engine
import Foundation
import Logging

/// Embeddings through an OpenAI-compatible `POST {baseURL}/embeddings`. The embedded companion server
/// (`scripts/speech-server.py --engines embed`, all-MiniLM-L6-v2) speaks the same API.
///
/// Texts go in batches of at most `batchSize`; connection failures, 429 and 5xx are retried
/// (``OpenAICompatibleHTTP``), anything else fails at once with the server's message.
public struct OpenAICompatibleEmbedder: Embedder {
    public struct Configuration: Sendable {
        /// The API root, for example `https://api.openai.com/v1`.
        public var baseURL: String
        /// Sent as `Authorization: Bearer …` when set. Never logged.
        public var apiKey: String?
        /// The `model` field, stored next to every vector it makes.
        public var model: String
        public var batchSize: Int
        public var timeout: Duration
        public var maxRetries: Int
        public var initialBackoff: Duration

        public init(
            baseURL: String, apiKey: String? = nil, model: String, batchSize: Int = 64, timeout: Duration = .seconds(30),
            maxRetries: Int = 2, initialBackoff: Duration = .milliseconds(250)
        ) {
            self.baseURL = baseURL
            self.apiKey = apiKey
            self.model = model
            self.batchSize = batchSize
            self.timeout = timeout
            self.maxRetries = maxRetries
            self.initialBackoff = initialBackoff
        }
    }

    public let configuration: Configuration
    private let http: OpenAICompatibleHTTP

    public init(configuration: Configuration, httpClient: HTTPClient, logger: Logger) {
        self.configuration = configuration
        http = OpenAICompatibleHTTP(
            baseURL: configuration.baseURL, apiKey: configuration.apiKey, model: configuration.model, timeout: configuration.timeout,
            maxRetries: configuration.maxRetries, initialBackoff: configuration.initialBackoff, client: httpClient, logger: logger
        )
    }

    public var model: String { configuration.model }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        var start = 0
        while start < texts.count {
            let batch = Array(texts[start..<min(texts.count, start + max(1, configuration.batchSize))])
            vectors += try await embedBatch(batch)
            start += batch.count
        }
        return vectors
    }

    private struct Request: Encodable {
        var model: String
        var input: [String]
        var encodingFormat = "float"
        enum CodingKeys: String, CodingKey { case model, input, encodingFormat = "encoding_format" }
    }

    private struct Answer: Decodable {
        struct Item: Decodable {
            var index: Int
            var embedding: [Float]
        }
        var data: [Item]
    }

    private func embedBatch(_ texts: [String]) async throws -> [[Float]] {
        let body: Data
        do {
            (body, _) = try await http.send(
                path: "/embeddings", contentType: "application/json", body: try JSONEncoder().encode(Request(model: model, input: texts))
            )
        } catch let failure as OpenAICompatibleHTTP.Failure {
            throw EmbeddingError(failure.kind == .rejected ? .failed : .unavailable, failure.message)
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: body), answer.data.count == texts.count else {
            throw EmbeddingError(.failed, "\(http.target("/embeddings")) answered without one embedding per text.")
        }
        let sorted = answer.data.sorted { $0.index < $1.index }
        guard sorted.map(\.index) == Array(0..<texts.count), Set(sorted.map(\.embedding.count)).count == 1 else {
            throw EmbeddingError(.failed, "\(http.target("/embeddings")) answered embeddings out of order or of mixed sizes.")
        }
        return sorted.map(\.embedding)
    }
}
