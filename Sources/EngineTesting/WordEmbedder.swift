import Engine
import Foundation
import Synchronization

/// A deterministic embedder for tests: each content word of a text lands in one of `dimension`
/// buckets (FNV-1a, the same in every process), so texts sharing words are similar and texts sharing
/// none are orthogonal. Counts its calls; can be made to fail.
public final class WordEmbedder: Embedder {
    public let model: String
    public let dimension: Int
    private let state = Mutex((calls: [[String]](), failing: false))

    static let stopWords: Set<String> = [
        "a", "an", "the", "i", "is", "are", "am", "to", "of", "and", "or", "in", "on", "my", "me", "you", "user", "it",
        "have", "has", "about", "for", "with", "be", "do", "does", "what", "can",
    ]

    public init(model: String = "word-embedder", dimension: Int = 4096) {
        self.model = model
        self.dimension = dimension
    }

    /// Every call's texts, in order.
    public var calls: [[String]] { state.withLock { $0.calls } }

    /// Makes every later call fail (an embedding provider that went away).
    public func fail(_ failing: Bool = true) { state.withLock { $0.failing = failing } }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        let failing = state.withLock { state -> Bool in
            state.calls.append(texts)
            return state.failing
        }
        if failing { throw EmbeddingError(.unavailable, "the word embedder was told to fail") }
        return texts.map(vector)
    }

    public func vector(_ text: String) -> [Float] {
        var vector = [Float](repeating: 0, count: dimension)
        for word in text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }) where !Self.stopWords.contains(String(word)) {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in word.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            vector[Int(hash % UInt64(dimension))] += 1
        }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? vector.map { $0 / norm } : vector
    }
}
