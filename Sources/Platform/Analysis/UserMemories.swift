import AmigoWire
import Engine
import Foundation
import Storage

/// The memories of one user, searched by meaning: the queries are embedded and each memory scores its
/// best cosine with any of them. Memories without an embedding by the same model (none was made, or
/// the model changed) are ranked after, newest first. Loaded from the database at the first search.
struct UserMemories: MemorySearch {
    let store: Store
    let userID: String
    let orgID: String
    let embedder: (any Embedder)?

    func facts(answering queries: [String], limit: Int) async throws -> [String] {
        let memories = try await store.read { [userID, orgID] in try await $0.memories.memories(userID: userID, orgID: orgID) }
        guard let embedder, !queries.isEmpty else { return memories.prefix(limit).map(\.memory.content) }
        let vectors = try await embedder.embed(queries)
        let scored = memories.enumerated().map { index, stored -> (score: Float, index: Int, content: String) in
            guard let vector = stored.vector, vector.model == embedder.model, let first = vector.vectors.first else {
                return (-2, index, stored.memory.content)
            }
            return (Similarity.best(vectors, [first]), index, stored.memory.content)
        }
        // Best score first; among equals (or unembedded ones) the newest (memories come newest first).
        return scored.sorted { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }.prefix(limit).map(\.content)
    }
}
