import AmigoWire
import Foundation
import SQLKit

/// A conversation as stored: what the API shows of it, plus where the Engine left it.
public struct ConversationRecord: Codable, Sendable, Hashable {
    public var id: String
    public var orgID: String
    public var userID: String
    public var serviceID: String
    public var createdAt: Date
    public var isFinished: Bool
    public var isAnalyzed: Bool
    public var completedPostProcessings: [String]
    public var versionSetInfo: VersionSetInfo
    public var tags: [String: String?]
    public var numMessages: Int
    /// The latest user-visible message (user or agent message).
    public var finalMessage: String
    /// The number of committed interactions.
    public var interactionCount: Int
    public var lastInteractionID: String?
    /// The Engine's position in the context graphs, as JSON owned by the Engine.
    public var position: String
    /// What recall states found so far in this conversation.
    public var workingMemory: [WorkingMemory]
    /// The dynamic behavior selected most recently in this conversation.
    public var lastDynamicBehavior: VersionInfo?
    /// The user's model when the conversation started (from earlier conversations' analysis).
    public var userModel: [String]?
    /// The user's memories when the conversation started, newest first: what recall may answer from.
    public var memoryFacts: [String]?
    /// Set on a simulated conversation (a unit test run or a replay): its tools run in simulation mode,
    /// and its end starts no analysis.
    public var simulation: SimulationTag?

    public init(
        id: String, orgID: String, userID: String, serviceID: String, createdAt: Date,
        versionSetInfo: VersionSetInfo, tags: [String: String?], position: String
    ) {
        self.id = id
        self.orgID = orgID
        self.userID = userID
        self.serviceID = serviceID
        self.createdAt = createdAt
        self.isFinished = false
        self.isAnalyzed = false
        self.completedPostProcessings = []
        self.versionSetInfo = versionSetInfo
        self.tags = tags
        self.numMessages = 0
        self.finalMessage = ""
        self.interactionCount = 0
        self.lastInteractionID = nil
        self.position = position
        self.workingMemory = []
    }

    enum CodingKeys: String, CodingKey {
        case id, orgID = "org_id", userID = "user_id", serviceID = "service_id", createdAt = "created_at"
        case isFinished = "is_finished", isAnalyzed = "is_analyzed", completedPostProcessings = "completed_post_processings"
        case versionSetInfo = "version_set_info", tags, numMessages = "num_messages", finalMessage = "final_message"
        case interactionCount = "interaction_count", lastInteractionID = "last_interaction_id", position
        case workingMemory = "working_memory"
        case lastDynamicBehavior = "last_dynamic_behavior"
        case userModel = "user_model", memoryFacts = "memory_facts"
        case simulation
    }

    /// The API's view of the conversation.
    public var instance: ConversationInstance {
        ConversationInstance(
            id: id, userID: userID, createdAt: createdAt, isFinished: isFinished, isAnalyzed: isAnalyzed,
            completedPostProcessings: completedPostProcessings, finalMessage: finalMessage, serviceID: serviceID,
            versionSetInfo: versionSetInfo, numMessages: numMessages, tags: tags
        )
    }
}

/// Filters of the conversation listing (all optional; values within one filter are alternatives).
public struct ConversationFilter: Sendable {
    public var ids: [String] = []
    public var userIDs: [String] = []
    public var serviceIDs: [String] = []
    public var isFinished: Bool?
    /// `key:value` pairs; value `*` matches any value, an empty value matches a null value.
    public var tags: [(key: String, value: String)] = []

    public init(
        ids: [String] = [], userIDs: [String] = [], serviceIDs: [String] = [], isFinished: Bool? = nil,
        tags: [(key: String, value: String)] = []
    ) {
        self.ids = ids
        self.userIDs = userIDs
        self.serviceIDs = serviceIDs
        self.isFinished = isFinished
        self.tags = tags
    }

    func matchesTags(_ record: ConversationRecord) -> Bool {
        tags.allSatisfy { TagMatch(key: $0.key, value: $0.value).matches(record.tags) }
    }
}

/// Filters of the message listing.
public struct MessageFilter: Sendable {
    public var ids: [String] = []
    public var types: [MessageType] = []
    public var interactionIDs: [String] = []

    public init(ids: [String] = [], types: [MessageType] = [], interactionIDs: [String] = []) {
        self.ids = ids
        self.types = types
        self.interactionIDs = interactionIDs
    }
}

/// The audio of a voice message: what the user sent, or what the agent's reply sounded like.
public struct MessageAudio: Sendable, Hashable {
    public var messageID: String
    public var conversationID: String
    /// `audio/wav` or `audio/mpeg`.
    public var contentType: String
    public var data: Data

    public init(messageID: String, conversationID: String, contentType: String, data: Data) {
        self.messageID = messageID
        self.conversationID = conversationID
        self.contentType = contentType
        self.data = data
    }
}

/// A committed interaction: when it happened and what the Engine recorded about it.
public struct InteractionRecord: Codable, Sendable, Hashable {
    public var id: String
    public var conversationID: String
    public var createdAt: Date
    public var insights: InteractionInsights

    public init(id: String, conversationID: String, createdAt: Date, insights: InteractionInsights) {
        self.id = id
        self.conversationID = conversationID
        self.createdAt = createdAt
        self.insights = insights
    }

    enum CodingKeys: String, CodingKey {
        case id, conversationID = "conversation_id", createdAt = "created_at", insights
    }
}

/// Conversations, their messages and their interactions. All queries are scoped to one organization.
public struct ConversationRepository: Sendable {
    let sql: any SQLDatabase

    public func insert(_ record: ConversationRecord) async throws {
        try await sql.insert(into: "conversations")
            .columns("id", "org_id", "user_id", "service_id", "created_at", "is_finished", "doc")
            .values(
                SQLBind(record.id), SQLBind(record.orgID), SQLBind(record.userID), SQLBind(record.serviceID),
                SQLBind(record.createdAt.timeIntervalSince1970), SQLBind(record.isFinished),
                SQLBind(try Documents.encode(record))
            )
            .run()
    }

    // The statements of every interaction (`update`, `get`, `append`, `recentMessages` and inserting the
    // interaction) are written as SQL text: SQLKit's builders serialize each query anew, which was a tenth
    // of an interaction's time.

    public func update(_ record: ConversationRecord) async throws {
        try await sql.raw("""
            UPDATE conversations SET is_finished = \(bind: record.isFinished), doc = \(bind: try Documents.encode(record))
            WHERE id = \(bind: record.id) AND org_id = \(bind: record.orgID)
            """).run()
    }

    public func get(id: String, orgID: String) async throws -> ConversationRecord? {
        try await sql.raw("SELECT doc FROM conversations WHERE id = \(bind: id) AND org_id = \(bind: orgID)").first()
            .map { try Documents.decode(ConversationRecord.self, from: $0) }
    }

    /// Deletes the conversation with its messages and interactions.
    public func delete(id: String, orgID: String) async throws {
        for table in ["messages", "interactions", "message_audio", "dynamic_behavior_invocations"] {
            try await sql.delete(from: table).where("conversation_id", .equal, id).where("org_id", .equal, orgID).run()
        }
        try await sql.delete(from: "conversations").where("id", .equal, id).where("org_id", .equal, orgID).run()
    }

    /// The user's unfinished conversation for the service, if any.
    public func unfinished(orgID: String, userID: String, serviceID: String) async throws -> ConversationRecord? {
        try await sql.select().column("doc").from("conversations")
            .where("org_id", .equal, orgID).where("user_id", .equal, userID)
            .where("service_id", .equal, serviceID).where("is_finished", .equal, false)
            .first()
            .map { try Documents.decode(ConversationRecord.self, from: $0) }
    }

    /// How many conversations the user has had with the service.
    public func count(orgID: String, userID: String, serviceID: String) async throws -> Int {
        let row = try await sql.raw("""
            SELECT COUNT(*) AS n FROM conversations
            WHERE org_id = \(bind: orgID) AND user_id = \(bind: userID) AND service_id = \(bind: serviceID)
            """).first()
        return try row?.decode(column: "n", as: Int.self) ?? 0
    }

    public func list(
        orgID: String, filter: ConversationFilter, sort: [SortKey], page: PageRequest
    ) async throws -> PageResult<ConversationRecord> {
        let query = sql.select().column("doc").from("conversations").where("org_id", .equal, orgID)
        if !filter.ids.isEmpty { query.where("id", .in, filter.ids) }
        if !filter.userIDs.isEmpty { query.where("user_id", .in, filter.userIDs) }
        if !filter.serviceIDs.isEmpty { query.where("service_id", .in, filter.serviceIDs) }
        if let isFinished = filter.isFinished { query.where("is_finished", .equal, isFinished) }
        query.sorted(by: sort, then: "id")
        if filter.tags.isEmpty {
            let rows = try await query.paged(page).all()
            return PageResult(fetched: try rows.map { try Documents.decode(ConversationRecord.self, from: $0) }, page: page)
        }
        let all = try await query.all().map { try Documents.decode(ConversationRecord.self, from: $0) }
        return PageResult(all: all.filter(filter.matchesTags), page: page)
    }

    // MARK: - Messages

    /// Appends messages after the conversation's existing ones, in the given order.
    public func append(_ messages: [MessageInstance], conversationID: String, orgID: String) async throws {
        guard !messages.isEmpty else { return }
        let row = try await sql.raw("""
            SELECT COALESCE(MAX(seq), 0) AS last FROM messages WHERE conversation_id = \(bind: conversationID)
            """).first()
        var seq = try row?.decode(column: "last", as: Int.self) ?? 0
        var insert: SQLQueryString = "INSERT INTO messages (id, org_id, conversation_id, interaction_id, seq, created_at, message_type, doc) VALUES "
        for (index, message) in messages.enumerated() {
            seq += 1
            if index > 0 { insert += ", " }
            insert += """
                (\(bind: message.id), \(bind: orgID), \(bind: conversationID), \(bind: message.interactionID), \(bind: seq), \
                \(bind: message.createdAt.timeIntervalSince1970), \(bind: message.messageType.rawValue), \(bind: try Documents.encode(message)))
                """
        }
        try await sql.raw(insert).run()
    }

    public func messages(
        conversationID: String, orgID: String, filter: MessageFilter, sort: [SortKey], page: PageRequest
    ) async throws -> PageResult<MessageInstance> {
        let query = sql.select().column("doc").from("messages")
            .where("conversation_id", .equal, conversationID).where("org_id", .equal, orgID)
        if !filter.ids.isEmpty { query.where("id", .in, filter.ids) }
        if !filter.types.isEmpty { query.where("message_type", .in, filter.types.map(\.rawValue)) }
        if !filter.interactionIDs.isEmpty { query.where("interaction_id", .in, filter.interactionIDs) }
        let rows = try await query.sorted(by: sort, then: "seq").paged(page).all()
        return PageResult(fetched: try rows.map { try Documents.decode(MessageInstance.self, from: $0) }, page: page)
    }

    /// The organization's first `limit` messages with their conversation, in order (analytics snapshots).
    public func allMessages(orgID: String, limit: Int) async throws -> [(conversationID: String, message: MessageInstance)] {
        let rows = try await sql.raw("""
            SELECT conversation_id, doc FROM messages WHERE org_id = \(bind: orgID) ORDER BY seq LIMIT \(literal: limit)
            """).all()
        return try rows.map { (try $0.decode(column: "conversation_id", as: String.self), try Documents.decode(MessageInstance.self, from: $0)) }
    }

    /// The last `limit` messages of the conversation, oldest first.
    public func recentMessages(conversationID: String, orgID: String, limit: Int) async throws -> [MessageInstance] {
        let rows = try await sql.raw("""
            SELECT doc FROM messages WHERE conversation_id = \(bind: conversationID) AND org_id = \(bind: orgID)
            ORDER BY seq DESC LIMIT \(literal: limit)
            """).all()
        return try rows.reversed().map { try Documents.decode(MessageInstance.self, from: $0) }
    }

    public func message(id: String, conversationID: String, orgID: String) async throws -> MessageInstance? {
        try await sql.select().column("doc").from("messages")
            .where("id", .equal, id).where("conversation_id", .equal, conversationID).where("org_id", .equal, orgID)
            .first()
            .map { try Documents.decode(MessageInstance.self, from: $0) }
    }

    // MARK: - Audio

    public func insert(_ audio: MessageAudio, orgID: String) async throws {
        try await sql.raw("""
            INSERT INTO message_audio (org_id, message_id, conversation_id, content_type, audio) VALUES (\(bind: orgID), \
            \(bind: audio.messageID), \(bind: audio.conversationID), \(bind: audio.contentType), \(bind: audio.data))
            """).run()
    }

    /// The audio of message `messageID` in conversation `conversationID`, if it has any.
    public func audio(messageID: String, conversationID: String, orgID: String) async throws -> MessageAudio? {
        try await sql.raw("""
            SELECT content_type, audio FROM message_audio
            WHERE org_id = \(bind: orgID) AND message_id = \(bind: messageID) AND conversation_id = \(bind: conversationID)
            """).first().map { row in
            MessageAudio(
                messageID: messageID, conversationID: conversationID,
                contentType: try row.decode(column: "content_type", as: String.self), data: try row.decode(column: "audio", as: Data.self)
            )
        }
    }

    // MARK: - Interactions

    public func insert(_ interaction: InteractionRecord, orgID: String) async throws {
        try await sql.raw("""
            INSERT INTO interactions (id, org_id, conversation_id, created_at, doc) VALUES (\(bind: interaction.id), \(bind: orgID), \
            \(bind: interaction.conversationID), \(bind: interaction.createdAt.timeIntervalSince1970), \(bind: try Documents.encode(interaction)))
            """).run()
    }

    public func interaction(id: String, conversationID: String, orgID: String) async throws -> InteractionRecord? {
        try await sql.select().column("doc").from("interactions")
            .where("id", .equal, id).where("conversation_id", .equal, conversationID).where("org_id", .equal, orgID)
            .first()
            .map { try Documents.decode(InteractionRecord.self, from: $0) }
    }

    /// The last `limit` interactions of the conversation, oldest first.
    public func recentInteractions(conversationID: String, orgID: String, limit: Int) async throws -> [InteractionRecord] {
        let rows = try await sql.select().column("doc").from("interactions")
            .where("conversation_id", .equal, conversationID).where("org_id", .equal, orgID)
            .orderBy("created_at", .descending).orderBy("id", .descending).limit(limit).all()
        return try rows.reversed().map { try Documents.decode(InteractionRecord.self, from: $0) }
    }
}

/// What marks a simulated conversation: the run it belongs to (nil for a replay) and the simulated
/// user's variables, which its tools receive.
public struct SimulationTag: Codable, Sendable, Hashable {
    public var runID: String?
    public var unitTestID: String?
    public var runIndex: Int?
    public var nonsensitiveVariables: [String: String]
    public var sensitiveVariables: [String: String]
    /// Seconds the conversation's clock runs ahead of the server's (a scenario's `conversation_starts_at`).
    public var clockOffset: Double

    public init(
        runID: String?, unitTestID: String?, runIndex: Int?, nonsensitiveVariables: [String: String] = [:],
        sensitiveVariables: [String: String] = [:], clockOffset: Double = 0
    ) {
        self.clockOffset = clockOffset
        self.runID = runID
        self.unitTestID = unitTestID
        self.runIndex = runIndex
        self.nonsensitiveVariables = nonsensitiveVariables
        self.sensitiveVariables = sensitiveVariables
    }

    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case unitTestID = "unit_test_id"
        case runIndex = "run_index"
        case nonsensitiveVariables = "nonsensitive_variables"
        case sensitiveVariables = "sensitive_variables"
        case clockOffset = "clock_offset"
    }
}
