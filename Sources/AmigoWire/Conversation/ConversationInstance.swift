import Foundation

/// A conversation as listed by `GET /v1/{org}/conversation/`.
public struct ConversationInstance: Codable, Sendable, Hashable {
    public var id: String
    public var userID: String
    public var createdAt: Date
    public var isFinished: Bool
    public var isAnalyzed: Bool
    /// The post-session analyses that ran: `generate-user-models`, `extract-memories`, `compute-metrics`.
    public var completedPostProcessings: [String]
    public var finalMessage: String
    public var serviceID: String
    /// `null` only for conversations created before version sets existed; always encoded.
    public var versionSetInfo: VersionSetInfo?
    public var numMessages: Int
    /// Tag values may be `null` (a key-only tag), and are encoded as such.
    public var tags: [String: String?]

    public init(
        id: String, userID: String, createdAt: Date, isFinished: Bool = false, isAnalyzed: Bool = false,
        completedPostProcessings: [String] = [], finalMessage: String = "", serviceID: String,
        versionSetInfo: VersionSetInfo?, numMessages: Int = 0, tags: [String: String?] = [:]
    ) {
        self.id = id
        self.userID = userID
        self.createdAt = createdAt
        self.isFinished = isFinished
        self.isAnalyzed = isAnalyzed
        self.completedPostProcessings = completedPostProcessings
        self.finalMessage = finalMessage
        self.serviceID = serviceID
        self.versionSetInfo = versionSetInfo
        self.numMessages = numMessages
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey {
        case id
        case userID = "user_id"
        case createdAt = "created_at"
        case isFinished = "is_finished"
        case isAnalyzed = "is_analyzed"
        case completedPostProcessings = "completed_post_processings"
        case finalMessage = "final_message"
        case serviceID = "service_id"
        case versionSetInfo = "version_set_info"
        case numMessages = "num_messages"
        case tags
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(userID, forKey: .userID)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(isFinished, forKey: .isFinished)
        try c.encode(isAnalyzed, forKey: .isAnalyzed)
        try c.encode(completedPostProcessings, forKey: .completedPostProcessings)
        try c.encode(finalMessage, forKey: .finalMessage)
        try c.encode(serviceID, forKey: .serviceID)
        try c.encode(versionSetInfo, forKey: .versionSetInfo)
        try c.encode(numMessages, forKey: .numMessages)
        try c.encode(tags, forKey: .tags)
    }
}
