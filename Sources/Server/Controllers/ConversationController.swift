import AmigoWire
import Engine
import Foundation
import Hummingbird
import Platform
import Storage

/// Conversations: create, interact, list, messages, finish, insights, recommendations, starters, tags.
struct ConversationController {
    let api: API

    func addRoutes(to router: Router<AppContext>) {
        let api = api

        router.operation(.post, "/v1/:organization/conversation/", "create-conversation", api: api) { call in
            let caller = try call.caller
            let query = call.query
            let voiceReply = try Self.repliesInVoice(query, required: true)
            try caller.require("Conversation:CreateConversation", on: ["user_id": caller.user.userID])
            let filter = try AgentActionFilter(
                pattern: query.string("current_agent_action_type"),
                allowed: caller.can("Conversation:GetInteractionInsights", on: ["user_id": caller.user.userID])
            )
            let body = try await call.body(CreateConversationRequest.self)
            let conversations = api.conversations
            let pending = try await conversations.prepareCreate(orgID: call.orgID, caller: caller, request: body, voiceReply: voiceReply)
            return .ndjson(status: .created, filter: filter) { events in
                await conversations.run(pending, events: events)
            }
        }

        router.operation(.post, "/v1/:organization/conversation/:conversation_id/interact", "interact-with-conversation", api: api) { call in
            let caller = try call.caller
            let conversationID = try call.objectID("conversation_id")
            let query = call.query
            let voiceInput: Bool
            switch query.string("request_format") {
            case "text": voiceInput = false
            case "voice": voiceInput = true
            case nil:
                throw PlatformError.validation(["query", "request_format"], "Field required", type: "missing")
            case let other?:
                throw PlatformError.validation(["query", "request_format"], "Input should be 'text' or 'voice', got '\(other)'", type: "enum")
            }
            let voiceReply = try Self.repliesInVoice(query, required: true)
            let audioConfig = voiceInput ? try VoiceInput.config(query.string("request_audio_config")) : nil
            let orgID = call.orgID
            // The regex is checked before anything else; who may see agent actions once the owner is known.
            var filter = try AgentActionFilter(pattern: query.string("current_agent_action_type"), allowed: true)
            let form = try await InteractForm.read(from: &call.request, voice: voiceInput)
            var turn = try Conversations.Turn(form: form)
            if voiceInput, form.initialMessageType == .userMessage {
                turn.audio = try VoiceInput.clip(form.recordedBody, contentType: form.recordedContentType, config: audioConfig)
            }
            let conversations = api.conversations
            // Loads the conversation once: 404, 403 (InteractWithConversation) and 409 come from here.
            let pending = try await conversations.prepareInteract(
                orgID: orgID, conversationID: conversationID, caller: caller, turn: turn, voiceReply: voiceReply
            )
            filter.allowed = caller.can("Conversation:GetInteractionInsights", on: ["user_id": pending.record.userID])
            return .ndjson(status: .ok, filter: filter) { events in
                await conversations.run(pending, events: events)
            }
        }

        router.operation(.get, "/v1/:organization/conversation/", "get-conversations", api: api) { call in
            let caller = try call.caller
            let query = call.query
            var filter = ConversationFilter(
                ids: try query.objectIDs("id"), userIDs: query.all("user_id"), serviceIDs: try query.objectIDs("service_id"),
                isFinished: try query.bool("is_finished"), tags: try query.keyValues("tag")
            )
            let sort = try query.sort(allowed: ["created_at": "created_at"]).map { SortKey(column: $0.column, ascending: $0.ascending) }
            let page = try query.page(defaultLimit: 150, maxLimit: 150)
            let me = caller.user.userID
            // Callers who may only read their own conversations see only those.
            if !caller.can("Conversation:GetConversation", on: ["user_id": "\u{0}another user"]) {
                guard caller.can("Conversation:GetConversation", on: ["user_id": me]) else {
                    return try .json(Page<ConversationInstance>(itemsKey: "conversations", items: [], hasMore: false, continuationToken: nil))
                }
                // Filtering by other users only: nothing they may see (not a query PostgreSQL would refuse).
                guard filter.userIDs.isEmpty || filter.userIDs.contains(me) else {
                    return try .json(Page<ConversationInstance>(itemsKey: "conversations", items: [], hasMore: false, continuationToken: nil))
                }
                filter.userIDs = [me]
            }
            let orgID = call.orgID
            let finalFilter = filter
            let (result, hidden) = try await api.store.read { repositories in
                let result = try await repositories.conversations.list(
                    orgID: orgID, filter: finalFilter, sort: sort, page: PageRequest(limit: page.limit, offset: page.offset)
                )
                // Owners on this page who hide their conversations from others.
                var hidden: Set<String> = []
                for owner in Set(result.items.map(\.userID)) where owner != me {
                    if !Visibility.conversationsVisible(of: try await repositories.users.get(id: owner, orgID: orgID), to: caller) { hidden.insert(owner) }
                }
                return (result, hidden)
            }
            let canSeeVersionSets = caller.can("Service:GetVersionSet")
            let instances = result.items.map { record in
                var instance = record.instance
                if hidden.contains(record.userID) || !caller.can("Conversation:GetMessage", on: ["user_id": record.userID]) { instance.finalMessage = "" }
                if !canSeeVersionSets { instance.versionSetInfo = nil }
                return instance
            }
            return try .json(Page(itemsKey: "conversations", items: instances, hasMore: result.hasMore, continuationToken: result.nextToken))
        }

        router.operation(.get, "/v1/:organization/conversation/:conversation_id/messages/", "get-conversation-messages", api: api) { call in
            let caller = try call.caller
            let conversationID = try call.objectID("conversation_id")
            let query = call.query
            var types: [MessageType] = []
            for (index, raw) in query.all("message_type").enumerated() {
                guard let type = MessageType(rawValue: raw) else {
                    throw PlatformError.validation(
                        ["query", "message_type", .index(index)],
                        "Input should be 'user-message', 'agent-message', 'agent-inner-thought' or 'external-event'", type: "enum"
                    )
                }
                if !types.contains(type) { types.append(type) }
            }
            if types.isEmpty { types = [.externalEvent, .agentMessage, .userMessage] }
            let filter = MessageFilter(ids: try query.objectIDs("id"), types: types, interactionIDs: try query.objectIDs("interaction_id"))
            let sort = try query.sort(allowed: ["interaction_id": "interaction_id", "created_at": "created_at"])
                .map { SortKey(column: $0.column, ascending: $0.ascending) }
            let page = try query.page(defaultLimit: 500, maxLimit: 500)
            let orgID = call.orgID
            let result = try await api.store.read { repositories -> PageResult<MessageInstance> in
                _ = try await repositories.conversation(conversationID, orgID: orgID, caller: caller, requiring: "Conversation:GetMessage")
                return try await repositories.conversations.messages(
                    conversationID: conversationID, orgID: orgID, filter: filter, sort: sort,
                    page: PageRequest(limit: page.limit, offset: page.offset)
                )
            }
            return try .json(Page(itemsKey: "messages", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }

        router.operation(.post, "/v1/:organization/conversation/:conversation_id/finish/", "finish-conversation", api: api) { call in
            let caller = try call.caller
            let conversationID = try call.objectID("conversation_id")
            try await api.conversations.finish(orgID: call.orgID, conversationID: conversationID, caller: caller)
            return .empty(.noContent)
        }

        router.operation(.get, "/v1/:organization/conversation/:conversation_id/interaction/:interaction_id/insights", "get-interaction-insights", api: api) { call in
            let caller = try call.caller
            let conversationID = try call.objectID("conversation_id")
            let interactionID = try call.objectID("interaction_id")
            let orgID = call.orgID
            let insights = try await api.store.read { repositories -> InteractionInsights in
                _ = try await repositories.conversation(conversationID, orgID: orgID, caller: caller, requiring: "Conversation:GetInteractionInsights")
                guard let interaction = try await repositories.conversations.interaction(id: interactionID, conversationID: conversationID, orgID: orgID) else {
                    throw PlatformError.notFound("Interaction `\(interactionID)` does not exist in this conversation.")
                }
                return interaction.insights
            }
            return try .json(insights)
        }

        router.operation(.post, "/v1/:organization/conversation/:conversation_id/interaction/:interaction_id/recommend_responses", "recommend-responses-for-interaction", api: api) { call in
            let caller = try call.caller
            let conversationID = try call.objectID("conversation_id")
            let interactionID = try call.objectID("interaction_id")
            let body = try await call.optionalBody(RecommendResponsesRequest.self) ?? RecommendResponsesRequest(context: RecommendResponsesRequest.defaultContext)
            let responses = try await api.conversations.recommendResponses(
                conversationID: conversationID, interactionID: interactionID, orgID: call.orgID, caller: caller, context: body.context
            )
            return try .json(RecommendResponsesResponse(recommendedResponses: responses))
        }

        router.operation(.get, "/v1/:organization/conversation/:conversation_id/messages/:message_id/source", "retrieve-message-source", api: api) { call in
            let caller = try call.caller
            let conversationID = try call.objectID("conversation_id")
            let messageID = try call.objectID("message_id")
            let longLived = try call.query.bool("long_lived") ?? false
            let orgID = call.orgID
            let (message, contentType) = try await api.store.read { repositories -> (MessageInstance?, String?) in
                _ = try await repositories.conversation(conversationID, orgID: orgID, caller: caller, requiring: "Conversation:GetMessage")
                let message = try await repositories.conversations.message(id: messageID, conversationID: conversationID, orgID: orgID)
                guard message?.format == .voice else { return (message, nil) }
                let audio = try await repositories.conversations.audio(messageID: messageID, conversationID: conversationID, orgID: orgID)
                return (message, audio?.contentType)
            }
            guard let message else { throw PlatformError.notFound("Message `\(messageID)` does not exist in this conversation.") }
            if message.format == .text { throw PlatformError.badRequest("The message is a text message; only voice messages have a source.") }
            guard let contentType else { throw PlatformError.notFound("The audio of message `\(messageID)` is not stored.") }
            // A link Compadre serves itself (there is no object store): 1 hour, 12 with `long_lived`.
            let expires = Date().addingTimeInterval(longLived ? 12 * 3600 : 3600)
            let path = MediaRoutes.messageAudioPath(org: orgID, conversation: conversationID, message: messageID)
            let url = "\(MediaRoutes.origin(of: call.request))\(path)?\(api.links.query(path: path, expires: expires))"
            return try .json(MessageSource(url: url, expiresAt: expires, contentType: contentType))
        }

        router.operation(.post, "/v1/:organization/conversation/conversation_starter", "generate-conversation-starter", api: api) { call in
            let caller = try call.caller
            let body = try await call.body(ConversationStarterRequest.self)
            let prompts = try await api.conversations.starters(body, orgID: call.orgID, caller: caller)
            return try .json(ConversationStarterResponse(prompts: prompts))
        }

        router.operation(.post, "/v1/:organization/conversation/:conversation_id/tags/", "modify-tags-of-conversation", api: api) { call in
            let caller = try call.caller
            let conversationID = try call.objectID("conversation_id")
            let body = try await call.body(ModifyConversationTagsRequest.self)
            let orgID = call.orgID
            try await api.store.write { repositories in
                var record = try await repositories.conversation(conversationID, orgID: orgID, caller: caller, requiring: "Conversation:ModifyConversation")
                for (key, value) in body.updates { record.tags[key] = .some(value) }
                for key in body.deletes { record.tags.removeValue(forKey: key) }
                if record.tags.count > 20 { throw PlatformError.badRequest("The conversation cannot contain more than 20 tags.") }
                try await repositories.conversations.update(record)
            }
            return .empty(.noContent)
        }
    }

    /// The audio format of a spoken reply when `response_format` asks for one, nil for text. With voice,
    /// `response_audio_format` may say `pcm` (the default: base64 PCM16 mono 16 kHz in each `new-message`)
    /// or `mp3` (base64 MP3 frames).
    static func repliesInVoice(_ query: Query, required: Bool) throws -> SpokenAudioFormat? {
        switch query.string("response_format") {
        case "text": return nil
        case "voice":
            let raw = query.string("response_audio_format") ?? "pcm"
            guard let format = SpokenAudioFormat(rawValue: raw) else {
                throw PlatformError.validation(["query", "response_audio_format"], "Input should be 'pcm' or 'mp3', got '\(raw)'", type: "enum")
            }
            return format
        case nil where required: throw PlatformError.validation(["query", "response_format"], "Field required", type: "missing")
        case nil: return nil
        case let other?: throw PlatformError.validation(["query", "response_format"], "Input should be 'text' or 'voice', got '\(other)'", type: "enum")
        }
    }

}
