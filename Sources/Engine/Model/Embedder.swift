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
        bestDot(queries.compactMap(unit), keys.compactMap(unit))
    }

    /// The best dot product between any of `queries` and any of `keys`: their best cosine when both are
    /// unit vectors (see ``unit(_:)``), which the hot path normalizes once.
    public static func bestDot(_ queries: [[Float]], _ keys: [[Float]]) -> Float {
        var best: Float = -1
        for key in keys {
            for query in queries where query.count == key.count {
                best = max(best, dot(query, key))
            }
        }
        return best
    }

    /// `vector` scaled to length 1 (nil for the zero vector).
    public static func unit(_ vector: [Float]) -> [Float]? {
        let norm = dot(vector, vector).squareRoot()
        guard norm > 0 else { return nil }
        return vector.map { $0 / norm }
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                let count = min(a.count, b.count)
                // Four running sums let the loop use vector registers.
                var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
                var index = 0
                while index + 4 <= count {
                    s0 += a[index] * b[index]
                    s1 += a[index + 1] * b[index + 1]
                    s2 += a[index + 2] * b[index + 2]
                    s3 += a[index + 3] * b[index + 3]
                    index += 4
                }
                while index < count {
                    s0 += a[index] * b[index]
                    index += 1
                }
                return (s0 + s1) + (s2 + s3)
            }
        }
    }
}
