import AsyncHTTPClient
import CompadreTesting
import Engine
import Foundation
import Logging
import Models
import Testing

@Suite("OpenAI-compatible embeddings")
struct OpenAICompatibleEmbedderTests {
    func embedder(_ server: FakeSpeechServer, batchSize: Int = 64) -> OpenAICompatibleEmbedder {
        OpenAICompatibleEmbedder(
            configuration: .init(baseURL: server.baseURL, apiKey: "sk-test", model: "all-MiniLM-L6-v2", batchSize: batchSize, initialBackoff: .zero),
            httpClient: .shared, logger: Logger(label: "test")
        )
    }

    /// Answers each input with `[index of the text in its request, its length]`, items in reverse order.
    static func answer(_ request: FakeSpeechServer.Request) -> FakeSpeechServer.Reply {
        let body = (try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any]
        let input = body?["input"] as? [String] ?? []
        let items = input.enumerated().reversed().map { index, text in
            #"{"object": "embedding", "index": \#(index), "embedding": [\#(index), \#(text.count)]}"#
        }
        return .json(#"{"object": "list", "data": [\#(items.joined(separator: ","))], "model": "m"}"#)
    }

    @Test func textsGoInBatchesAndComeBackInOrder() async throws {
        try await FakeSpeechServer.withServer({ Self.answer($0) }) { server in
            let vectors = try await embedder(server, batchSize: 2).embed(["a", "bb", "ccc", "dddd", "eeeee"])
            #expect(vectors.map { $0[1] } == [1, 2, 3, 4, 5])
            #expect(server.requests.count == 3)
            let first = try #require(server.requests.first)
            #expect(first.path == "/v1/embeddings")
            #expect(first.headers["authorization"] == "Bearer sk-test")
            let body = try JSONSerialization.jsonObject(with: first.body) as? [String: Any]
            #expect(body?["model"] as? String == "all-MiniLM-L6-v2")
            #expect(body?["input"] as? [String] == ["a", "bb"])
        }
    }

    @Test func aRefusalFailsAtOnceAndAnOutageAfterItsRetries() async throws {
        try await FakeSpeechServer.withServer({ _ in .json(#"{"error": {"message": "input too long"}}"#, status: 400) }) { server in
            let error = await #expect(throws: EmbeddingError.self) { try await embedder(server).embed(["x"]) }
            #expect(error?.kind == .failed)
            #expect(error?.message.contains("input too long") == true)
            #expect(server.requests.count == 1)
        }
        try await FakeSpeechServer.withServer({ _ in .json("{}", status: 503) }) { server in
            let error = await #expect(throws: EmbeddingError.self) { try await embedder(server).embed(["x"]) }
            #expect(error?.kind == .unavailable)
            #expect(server.requests.count == 3)
        }
    }

    @Test func anAnswerWithoutOneVectorPerTextIsAFailure() async throws {
        try await FakeSpeechServer.withServer({ _ in .json(#"{"data": [{"index": 0, "embedding": [1]}]}"#) }) { server in
            let error = await #expect(throws: EmbeddingError.self) { try await embedder(server).embed(["x", "y"]) }
            #expect(error?.kind == .failed)
        }
    }
}
