import AmigoWire
import Foundation
import NIOCore
import NIOHTTP1

extension AmigoClient {
    /// Creates a conversation with a service and streams its events: `conversation-created` first,
    /// then the agent's opening message (`new-message` pieces, `interaction-complete`), unless
    /// `initialMessage` starts it with a user message instead.
    ///
    /// - Parameter currentAgentActionType: a regex of the agent action types to stream
    ///   (`current-agent-action` events), e.g. `.*`; nil for none.
    public nonisolated func createConversation(
        serviceID: String,
        versionSetName: String = "release",
        initialMessage: String? = nil,
        currentAgentActionType: String? = nil
    ) -> AsyncThrowingStream<ConversationEvent, any Error> {
        var request = APIRequest(.POST, organizationPath + "/conversation/", query: [("response_format", "text")])
        if let currentAgentActionType { request.query.append(("current_agent_action_type", currentAgentActionType)) }
        let body = CreateConversationRequest(serviceID: serviceID, serviceVersionSetName: versionSetName, initialMessage: initialMessage)
        do {
            request.body = ByteBuffer(bytes: try WireCoding.encoder().encode(body))
        } catch {
            return AsyncThrowingStream { $0.finish(throwing: error) }
        }
        request.contentType = "application/json"
        return events(request)
    }

    /// Sends a message to a conversation in text and streams the events of the interaction:
    /// `user-message-available`, the agent's reply (`new-message` pieces), `interaction-complete`.
    ///
    /// - Parameters:
    ///   - text: the user's message, or the external event's text when `messageType` is `.externalEvent`.
    ///   - externalEvents: events that happened before `text`, each with when it happened; the
    ///     conversation records them first.
    ///   - currentAgentActionType: a regex of the agent action types to stream; nil for none.
    public nonisolated func interact(
        conversationID: String,
        text: String,
        messageType: InitialMessageType = .userMessage,
        externalEvents: [(String, Date)] = [],
        currentAgentActionType: String? = nil
    ) -> AsyncThrowingStream<ConversationEvent, any Error> {
        var request = APIRequest(
            .POST, organizationPath + "/conversation/\(APIRequest.segment(conversationID))/interact",
            query: [("request_format", "text"), ("response_format", "text")]
        )
        if let currentAgentActionType { request.query.append(("current_agent_action_type", currentAgentActionType)) }
        let form = Self.interactForm(text: text, messageType: messageType, externalEvents: externalEvents)
        request.contentType = form.contentType
        request.body = ByteBuffer(bytes: form.encoded())
        return events(request)
    }

    /// Sends the user's speech (a WAV or MP3 file) as the next message; with `spokenReply` the agent's
    /// `new-message` pieces are base64 PCM16 mono 16 kHz audio instead of text.
    public nonisolated func interact(
        conversationID: String,
        audio: [UInt8],
        contentType: String = "audio/wav",
        spokenReply: Bool = false,
        currentAgentActionType: String? = nil
    ) -> AsyncThrowingStream<ConversationEvent, any Error> {
        var request = APIRequest(
            .POST, organizationPath + "/conversation/\(APIRequest.segment(conversationID))/interact",
            query: [("request_format", "voice"), ("response_format", spokenReply ? "voice" : "text")]
        )
        if let currentAgentActionType { request.query.append(("current_agent_action_type", currentAgentActionType)) }
        var form = MultipartForm()
        form.add("initial_message_type", InitialMessageType.userMessage.rawValue)
        form.addFile("recorded_message", filename: contentType == "audio/mpeg" ? "audio.mp3" : "audio.wav", contentType: contentType, bytes: audio)
        request.contentType = form.contentType
        request.body = ByteBuffer(bytes: form.encoded())
        return events(request)
    }

    /// The form the Python SDK sends for a text interaction.
    static func interactForm(
        text: String, messageType: InitialMessageType, externalEvents: [(String, Date)], boundary: String? = nil
    ) -> MultipartForm {
        var form = boundary.map { MultipartForm(boundary: $0) } ?? MultipartForm()
        form.add("initial_message_type", messageType.rawValue)
        for (content, _) in externalEvents { form.add("external_event_message_content", content) }
        for (_, date) in externalEvents { form.add("external_event_message_timestamp", WireCoding.formatDate(date)) }
        form.addFile("recorded_message", filename: "message.txt", contentType: "text/plain; charset=utf-8", text)
        return form
    }

    /// Finishes a conversation: no more interactions; post-session analysis starts.
    public nonisolated func finish(conversationID: String) async throws {
        try await empty(APIRequest(.POST, organizationPath + "/conversation/\(APIRequest.segment(conversationID))/finish/"))
    }

    /// How the agent navigated its context graph during one interaction.
    public nonisolated func insights(conversationID: String, interactionID: String) async throws -> InteractionInsights {
        try await json(InteractionInsights.self, APIRequest(
            .GET,
            organizationPath + "/conversation/\(APIRequest.segment(conversationID))/interaction/\(APIRequest.segment(interactionID))/insights"
        ))
    }

    /// One page of a conversation's messages, oldest first.
    public nonisolated func messages(conversationID: String, limit: Int? = nil, continuationToken: Int? = nil) async throws -> MessagePage {
        var request = APIRequest(.GET, organizationPath + "/conversation/\(APIRequest.segment(conversationID))/messages/")
        if let limit { request.query.append(("limit", String(limit))) }
        if let continuationToken { request.query.append(("continuation_token", String(continuationToken))) }
        return try await json(MessagePage.self, request)
    }

    /// One page of conversations, newest first.
    public nonisolated func conversations(
        serviceID: String? = nil,
        isFinished: Bool? = nil,
        userID: String? = nil,
        limit: Int? = nil,
        continuationToken: Int? = nil
    ) async throws -> ConversationPage {
        var request = APIRequest(.GET, organizationPath + "/conversation/", query: [("sort_by", "-created_at")])
        if let serviceID { request.query.append(("service_id", serviceID)) }
        if let isFinished { request.query.append(("is_finished", isFinished ? "true" : "false")) }
        if let userID { request.query.append(("user_id", userID)) }
        if let limit { request.query.append(("limit", String(limit))) }
        if let continuationToken { request.query.append(("continuation_token", String(continuationToken))) }
        return try await json(ConversationPage.self, request)
    }

    /// The newest unfinished conversation of the signed-in user with `serviceID`, to resume it.
    public nonisolated func unfinishedConversation(serviceID: String) async throws -> ConversationInstance? {
        try await conversations(serviceID: serviceID, isFinished: false, userID: configuration.userID, limit: 1).conversations.first
    }
}

/// A page of `GET /v1/{org}/conversation/{id}/messages/`.
public struct MessagePage: Decodable, Sendable {
    public var messages: [MessageInstance]
    public var hasMore: Bool
    /// Pass it back to get the next page; nil on the last one.
    public var continuationToken: Int?

    enum CodingKeys: String, CodingKey {
        case messages
        case hasMore = "has_more"
        case continuationToken = "continuation_token"
    }
}

/// A page of `GET /v1/{org}/conversation/`.
public struct ConversationPage: Decodable, Sendable {
    public var conversations: [ConversationInstance]
    public var hasMore: Bool
    public var continuationToken: Int?

    enum CodingKeys: String, CodingKey {
        case conversations
        case hasMore = "has_more"
        case continuationToken = "continuation_token"
    }
}
