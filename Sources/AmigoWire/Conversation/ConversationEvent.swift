import Foundation

/// One line of an NDJSON conversation stream (create-conversation, interact-with-conversation) and the
/// payload of realtime server events. A flat JSON object discriminated by `type`; it decodes as well as
/// encodes so Swift clients can read streams.
///
/// Encoding writes the keys straight into one keyed container, with no intermediate dictionaries: it runs
/// for every streamed event.
public enum ConversationEvent: Codable, Sendable, Hashable {
    /// The first event of a create-conversation stream.
    case conversationCreated(conversationID: String)
    /// The first event of an interact stream, once the user's text (or transcript) is known.
    case userMessageAvailable(messageID: String, userMessage: String)
    case newMessage(NewMessage)
    /// The interaction is committed; comes after every `newMessage` of it.
    case interactionComplete(InteractionComplete)
    case currentAgentAction(AgentAction)
    /// Before `interactionComplete` the interaction is void; after it, only post-processing failed.
    case error(httpErrorCode: Int, errorDescription: String)

    /// The wire `type`.
    public var type: String {
        switch self {
        case .conversationCreated: "conversation-created"
        case .userMessageAvailable: "user-message-available"
        case .newMessage: "new-message"
        case .interactionComplete: "interaction-complete"
        case .currentAgentAction: "current-agent-action"
        case .error: "error"
        }
    }

    enum CodingKeys: String, CodingKey {
        case type
        case conversationID = "conversation_id"
        case messageID = "message_id"
        case userMessage = "user_message"
        case message
        case transcriptAlignment = "transcript_alignment"
        case stop
        case sequenceNumber = "sequence_number"
        case interactionID = "interaction_id"
        case fullMessage = "full_message"
        case conversationCompleted = "conversation_completed"
        case action
        case httpErrorCode = "http_error_code"
        case errorDescription = "error_description"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "conversation-created":
            self = .conversationCreated(conversationID: try c.decode(String.self, forKey: .conversationID))
        case "user-message-available":
            self = .userMessageAvailable(messageID: try c.decode(String.self, forKey: .messageID), userMessage: try c.decode(String.self, forKey: .userMessage))
        case "new-message":
            self = .newMessage(try NewMessage(from: c))
        case "interaction-complete":
            self = .interactionComplete(try InteractionComplete(from: c))
        case "current-agent-action":
            self = .currentAgentAction(try c.decode(AgentAction.self, forKey: .action))
        case "error":
            self = .error(httpErrorCode: try c.decode(Int.self, forKey: .httpErrorCode), errorDescription: try c.decode(String.self, forKey: .errorDescription))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "Unknown conversation event type '\(type)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        switch self {
        case .conversationCreated(let conversationID):
            try c.encode(conversationID, forKey: .conversationID)
        case .userMessageAvailable(let messageID, let userMessage):
            try c.encode(messageID, forKey: .messageID)
            try c.encode(userMessage, forKey: .userMessage)
        case .newMessage(let message):
            try message.encodeFields(into: &c)
        case .interactionComplete(let complete):
            try complete.encodeFields(into: &c)
        case .currentAgentAction(let action):
            try c.encode(action, forKey: .action)
        case .error(let code, let description):
            try c.encode(code, forKey: .httpErrorCode)
            try c.encode(description, forKey: .errorDescription)
        }
    }
}

/// A piece of the agent's reply (`NewMessageEvent`): text, or base64 PCM16 audio with its transcript.
/// Encoded on its own it is the complete event, `type` included.
public struct NewMessage: Codable, Sendable, Hashable {
    /// Raw text, or base64-encoded audio bytes.
    public var message: String
    /// For audio: when each character is spoken. `null` for text (and for audio chunks whose alignment
    /// came with an earlier chunk); always encoded.
    public var transcriptAlignment: [TranscriptAlignment]?
    /// Whether this is the last piece of the agent message.
    public var stop: Bool
    public var sequenceNumber: Int
    public var messageID: String

    public init(message: String, transcriptAlignment: [TranscriptAlignment]? = nil, stop: Bool, sequenceNumber: Int, messageID: String) {
        self.message = message
        self.transcriptAlignment = transcriptAlignment
        self.stop = stop
        self.sequenceNumber = sequenceNumber
        self.messageID = messageID
    }

    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder.container(keyedBy: ConversationEvent.CodingKeys.self))
    }

    init(from c: KeyedDecodingContainer<ConversationEvent.CodingKeys>) throws {
        message = try c.decode(String.self, forKey: .message)
        transcriptAlignment = try c.decodeIfPresent([TranscriptAlignment].self, forKey: .transcriptAlignment)
        stop = try c.decode(Bool.self, forKey: .stop)
        sequenceNumber = try c.decode(Int.self, forKey: .sequenceNumber)
        messageID = try c.decode(String.self, forKey: .messageID)
    }

    public func encode(to encoder: any Encoder) throws {
        try ConversationEvent.newMessage(self).encode(to: encoder)
    }

    func encodeFields(into c: inout KeyedEncodingContainer<ConversationEvent.CodingKeys>) throws {
        try c.encode(message, forKey: .message)
        try c.encode(transcriptAlignment, forKey: .transcriptAlignment)
        try c.encode(stop, forKey: .stop)
        try c.encode(sequenceNumber, forKey: .sequenceNumber)
        try c.encode(messageID, forKey: .messageID)
    }
}

/// When one character of spoken audio is heard: `[milliseconds since the audio started, character]` on the wire.
public struct TranscriptAlignment: Codable, Sendable, Hashable {
    public var ms: Int
    public var character: String

    public init(ms: Int, character: String) {
        self.ms = ms
        self.character = character
    }

    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        ms = try c.decode(Int.self)
        character = try c.decode(String.self)
        if !c.isAtEnd {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "Tuple should have at most 2 items")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(ms)
        try c.encode(character)
    }
}

/// The end of an interaction (`InteractionCompleteEvent`), emitted once it is committed to storage.
/// Encoded on its own it is the complete event, `type` included.
public struct InteractionComplete: Codable, Sendable, Hashable {
    /// The agent message of this interaction.
    public var messageID: String
    public var interactionID: String
    /// The agent's whole reply: its text, or the transcript of its audio.
    public var fullMessage: String
    /// Whether the conversation finished itself after this interaction.
    public var conversationCompleted: Bool

    public init(messageID: String, interactionID: String, fullMessage: String, conversationCompleted: Bool) {
        self.messageID = messageID
        self.interactionID = interactionID
        self.fullMessage = fullMessage
        self.conversationCompleted = conversationCompleted
    }

    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder.container(keyedBy: ConversationEvent.CodingKeys.self))
    }

    init(from c: KeyedDecodingContainer<ConversationEvent.CodingKeys>) throws {
        messageID = try c.decode(String.self, forKey: .messageID)
        interactionID = try c.decode(String.self, forKey: .interactionID)
        fullMessage = try c.decode(String.self, forKey: .fullMessage)
        conversationCompleted = try c.decode(Bool.self, forKey: .conversationCompleted)
    }

    public func encode(to encoder: any Encoder) throws {
        try ConversationEvent.interactionComplete(self).encode(to: encoder)
    }

    func encodeFields(into c: inout KeyedEncodingContainer<ConversationEvent.CodingKeys>) throws {
        try c.encode(messageID, forKey: .messageID)
        try c.encode(interactionID, forKey: .interactionID)
        try c.encode(fullMessage, forKey: .fullMessage)
        try c.encode(conversationCompleted, forKey: .conversationCompleted)
    }
}

/// Where a voice message's audio can be fetched (`GET …/messages/{id}/source`): a link that works
/// without credentials until `expires_at`.
public struct MessageSource: Codable, Sendable, Hashable {
    public var url: String
    public var expiresAt: Date
    /// `audio/wav` or `audio/mpeg`.
    public var contentType: String

    public init(url: String, expiresAt: Date, contentType: String) {
        self.url = url
        self.expiresAt = expiresAt
        self.contentType = contentType
    }

    enum CodingKeys: String, CodingKey {
        case url, expiresAt = "expires_at", contentType = "content_type"
    }
}
