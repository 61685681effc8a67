import Foundation

/// Who or what produced a message of a conversation.
public enum MessageType: String, Codable, Sendable, Hashable, CaseIterable {
    case userMessage = "user-message"
    case agentMessage = "agent-message"
    case agentInnerThought = "agent-inner-thought"
    case externalEvent = "external-event"
}

/// Whether a message was exchanged as text or as audio (`Format` in the API document).
public enum MessageFormat: String, Codable, Sendable, Hashable {
    case text, voice
}

/// One message of a conversation as listed by `GET /v1/{org}/conversation/{id}/messages/`.
public struct MessageInstance: Codable, Sendable, Hashable {
    public var id: String
    public var interactionID: String
    public var createdAt: Date
    public var sender: String
    /// The text, or the transcript of a voice message.
    public var message: String
    public var format: MessageFormat
    public var messageType: MessageType

    public init(id: String, interactionID: String, createdAt: Date, sender: String, message: String, format: MessageFormat, messageType: MessageType) {
        self.id = id
        self.interactionID = interactionID
        self.createdAt = createdAt
        self.sender = sender
        self.message = message
        self.format = format
        self.messageType = messageType
    }

    enum CodingKeys: String, CodingKey {
        case id
        case interactionID = "interaction_id"
        case createdAt = "created_at"
        case sender, message, format
        case messageType = "message_type"
    }
}
