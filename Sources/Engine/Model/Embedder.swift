import Foundation

/// Turns texts into vectors whose cosine similarity tells how close their meanings are.
///
/// Dynamic behaviors' triggers are embedded once per version and stored with the model's name; a
/// conversation embeds only what just happened in it.
public protocol Embedder: Sendable {
    /// The model's name, stored next to its vectors: vectors of another model are computed again.
    var model: String { get }
    /// One vector per text, in order.
    func embed(_ texts: [String]) async throws -> [[Float]]
}

/// An embedding request that failed: the provider is unreachable or refused the input.
public struct EmbeddingError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case unavailable, failed }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}

/// Vector arithmetic for similarity search.
public enum Similarity {
    /// The cosine of the angle between `a` and `b` (0 when either is zero or they differ in length).
    public static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count, !a.isEmpty else { return 0 }
        var dot: Float = 0, normA: Float = 0, normB: Float = 0
        for index in a.indices {
            dot += a[index] * b[index]
            normA += a[index] * a[index]
            normB += b[index] * b[index]
        }
        guard normA > 0, normB > 0 else { return 0 }
        return dot / (normA.squareRoot() * normB.squareRoot())
    }

    /// The best cosine between any of `queries` and any of `keys`.
    public static func best(_ queries: [[Float]], _ keys: [[Float]]) -> Float {
        var best: Float = -1
        for query in queries {
            for key in keys { best = max(best, cosine(query, key)) }
        }
        return best
    }
}
