import AmigoWire
import Foundation
import SQLKit

/// One model call as the prompt logs keep it: what was asked, what came back, how long it took.
public struct PromptLogEntry: Codable, Sendable, Hashable {
    public struct Message: Codable, Sendable, Hashable {
        public var role: String
        public var content: String

        public init(role: String, content: String) {
            self.role = role
            self.content = content
        }
    }

    public var id: String
    public var orgID: String
    /// `conversation/<conversation>/<interaction>/<call>-<kind>`, `job/<kind>/<subject>/<call>-<kind>` or
    /// `request/<operation>/<request>/<call>-<kind>` (`<call>`: the entry's id, which grows with time).
    public var logKey: String
    public var userID: String?
    public var conversationID: String?
    public var promptKind: String
    public var model: String
    public var messages: [Message]
    public var answer: String
    public var outcome: String
    public var startedAt: Date
    public var durationMs: Int
    /// Streamed pieces of the answer (one per token for the engines Compadre uses).
    public var outputPieces: Int

    public init(
        id: String, orgID: String, logKey: String, userID: String?, conversationID: String?, promptKind: String, model: String,
        messages: [Message], answer: String, outcome: String, startedAt: Date, durationMs: Int, outputPieces: Int
    ) {
        self.id = id
        self.orgID = orgID
        self.logKey = logKey
        self.userID = userID
        self.conversationID = conversationID
        self.promptKind = promptKind
        self.model = model
        self.messages = messages
        self.answer = answer
        self.outcome = outcome
        self.startedAt = startedAt
        self.durationMs = durationMs
        self.outputPieces = outputPieces
    }

    enum CodingKeys: String, CodingKey {
        case id
        case orgID = "org_id"
        case logKey = "log_key"
        case userID = "user_id"
        case conversationID = "conversation_id"
        case promptKind = "prompt_kind"
        case model, messages, answer, outcome
        case startedAt = "started_at"
        case durationMs = "duration_ms"
        case outputPieces = "output_pieces"
    }
}

/// The prompt logs of every organization.
public struct PromptLogRepository: Sendable {
    let sql: any SQLDatabase

    public func insert(_ entries: [PromptLogEntry]) async throws {
        for entry in entries {
            try await sql.raw("""
                INSERT INTO prompt_logs (id, org_id, log_key, user_id, created_at, doc) VALUES (\(bind: entry.id), \(bind: entry.orgID), \
                \(bind: entry.logKey), \(bind: entry.userID), \(bind: entry.startedAt.timeIntervalSince1970), \(bind: try Documents.encode(entry)))
                """).run()
        }
    }

    /// The organization's logs whose key starts with `prefix`, made after `after`, oldest first, at most `limit`.
    public func logs(orgID: String, prefix: String, after: Date, limit: Int) async throws -> [PromptLogEntry] {
        try await sql.raw("""
            SELECT doc FROM prompt_logs WHERE org_id = \(bind: orgID) AND SUBSTR(log_key, 1, \(bind: prefix.count)) = \(bind: prefix) \
            AND created_at > \(bind: after.timeIntervalSince1970) ORDER BY created_at, id LIMIT \(bind: limit)
            """).all().map { try Documents.decode(PromptLogEntry.self, from: $0) }
    }

    /// Forgets the logs made before `date`.
    public func deleteOlder(than date: Date) async throws {
        try await sql.raw("DELETE FROM prompt_logs WHERE created_at < \(bind: date.timeIntervalSince1970)").run()
    }
}
