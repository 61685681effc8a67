import AmigoWire
import Foundation
import SQLKit

/// A memory with the embedding of its content, when one was made.
public struct StoredMemory: Sendable, Hashable {
    public var memory: Memory
    public var userID: String
    public var vector: TriggerVectors?

    public init(memory: Memory, userID: String, vector: TriggerVectors? = nil) {
        self.memory = memory
        self.userID = userID
        self.vector = vector
    }
}

/// The user's model as analysis last wrote it.
public struct StoredUserModel: Codable, Sendable, Hashable {
    public var userModels: [UserModel]
    public var updatedAt: Date

    public init(userModels: [UserModel], updatedAt: Date) {
        self.userModels = userModels
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case userModels = "user_models"
        case updatedAt = "updated_at"
    }
}

/// Users' memories (extracted from finished conversations) and user models.
public struct MemoryRepository: Sendable {
    let sql: any SQLDatabase

    public func insert(_ stored: StoredMemory, orgID: String) async throws {
        let memory = stored.memory
        try await sql.raw("""
            INSERT INTO memories (id, org_id, user_id, conversation_id, created_at, doc, embedding_model, dimension, embedding) VALUES \
            (\(bind: memory.id), \(bind: orgID), \(bind: stored.userID), \(bind: memory.conversationID), \
            \(bind: WireCoding.formatDate(memory.createdAt)), \(bind: try Documents.encode(memory)), \(bind: stored.vector?.model), \
            \(bind: stored.vector?.vectors.first?.count ?? 0), \(bind: stored.vector?.data))
            """).run()
    }

    /// Removes the memories a conversation gave (before they are extracted again).
    public func deleteMemories(conversationID: String, orgID: String) async throws {
        try await sql.raw("DELETE FROM memories WHERE conversation_id = \(bind: conversationID) AND org_id = \(bind: orgID)").run()
    }

    /// The user's memories, newest first.
    public func memories(userID: String, orgID: String) async throws -> [StoredMemory] {
        try await sql.raw("""
            SELECT doc, embedding_model, dimension, embedding FROM memories WHERE org_id = \(bind: orgID) AND user_id = \(bind: userID) \
            ORDER BY created_at DESC, id DESC
            """).all().map { row in
            var vector: TriggerVectors?
            if let model = try row.decode(column: "embedding_model", as: String?.self),
               let data = try row.decode(column: "embedding", as: Data?.self) {
                vector = TriggerVectors(model: model, dimension: try row.decode(column: "dimension", as: Int.self), data: data)
            }
            return StoredMemory(memory: try Documents.decode(Memory.self, from: row), userID: userID, vector: vector)
        }
    }

    /// One page of the user's memories (`ids`, `conversationIDs`: only those, when given), ordered by
    /// `sort` (columns `created_at`, `conversation_id`), then newest first.
    public func page(
        userID: String, orgID: String, ids: [String], conversationIDs: [String], sort: [SortKey], page: PageRequest
    ) async throws -> PageResult<Memory> {
        var query = sql.select().column("doc").from("memories").where("org_id", .equal, orgID).where("user_id", .equal, userID)
        if !ids.isEmpty { query = query.where("id", .in, ids) }
        if !conversationIDs.isEmpty { query = query.where("conversation_id", .in, conversationIDs) }
        for key in sort { query = query.orderBy(key.column, key.ascending ? .ascending : .descending) }
        let rows = try await query.orderBy("created_at", .descending).orderBy("id", .descending).paged(page).all()
        return PageResult(fetched: try rows.map { try Documents.decode(Memory.self, from: $0) }, page: page)
    }

    public func userModel(userID: String, orgID: String) async throws -> StoredUserModel? {
        try await sql.raw("SELECT doc FROM user_models WHERE org_id = \(bind: orgID) AND user_id = \(bind: userID)")
            .first().map { try Documents.decode(StoredUserModel.self, from: $0) }
    }

    public func save(_ model: StoredUserModel, userID: String, orgID: String) async throws {
        let doc = try Documents.encode(model)
        try await sql.raw("""
            INSERT INTO user_models (org_id, user_id, doc) VALUES (\(bind: orgID), \(bind: userID), \(bind: doc))
            ON CONFLICT (org_id, user_id) DO UPDATE SET doc = excluded.doc
            """).run()
    }
}
