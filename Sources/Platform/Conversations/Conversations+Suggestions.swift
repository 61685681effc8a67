import AmigoWire
import Engine
import Storage

extension Conversations {
    /// Replies the user might send next in `conversationID`, written by the model for the latest
    /// interaction of an unfinished conversation; `context` steers what kind of replies.
    public func recommendResponses(
        conversationID: String, interactionID: String, orgID: String, caller: Principal, context userContext: String
    ) async throws -> [String] {
        let (record, history, persona) = try await store.read { repositories in
            let record = try await repositories.conversation(
                conversationID, orgID: orgID, caller: caller, requiring: "Conversation:GetRecommendedResponses"
            )
            guard try await repositories.conversations.interaction(id: interactionID, conversationID: conversationID, orgID: orgID) != nil else {
                throw PlatformError.notFound("Interaction `\(interactionID)` does not exist in this conversation.")
            }
            if record.isFinished || record.lastInteractionID != interactionID {
                throw PlatformError.badRequest("Responses can only be recommended for the latest interaction of an unfinished conversation.")
            }
            let history = try await repositories.conversations.recentMessages(conversationID: conversationID, orgID: orgID, limit: 30)
            let agent = record.versionSetInfo.agentVersionInfo
            let persona = try await repositories.agents.version(agent.version, of: agent.id, orgID: orgID).map(Persona.init)
            return (record, history, persona)
        }
        let context = PromptContext(persona: persona ?? Persona(name: "the agent", role: "assistant"), user: UserProfile(), history: history)
        let prompt = Prompts.recommendResponses(userContext: userContext, context: context)
        let answer = try await structured(prompt, as: RecommendedList.self, preferences: record.versionSetInfo.llmModelPreferences)
        return answer.responses
    }

    /// Opening messages a user could start a conversation with on a service, each tagged with the
    /// requested facets it covers; fails (model failed) when the model wrote fewer than `minCount`.
    public func starters(_ request: ConversationStarterRequest, orgID: String, caller: Principal) async throws -> [ConversationStarter] {
        try caller.require("Conversation:CreateConversation", on: ["user_id": caller.user.userID])
        let setting = try await store.read { repositories in
            try await ConversationSetting.resolve(
                serviceID: request.serviceID, versionSetName: request.serviceVersionSetName, orgID: orgID, repositories: repositories
            )
        }
        let prompt = Prompts.conversationStarters(
            persona: setting.persona, serviceDescription: setting.serviceDescription, facets: request.facets,
            minCount: request.minCount, maxCount: request.maxCount, instructions: request.generationInstructions
        )
        let generated = try await structured(prompt, as: StarterList.self, preferences: setting.versionSetInfo.llmModelPreferences)
        let facets = Set(request.facets)
        let starters = generated.prompts.prefix(request.maxCount).map { starter in
            ConversationStarter(prompt: starter.prompt, facets: starter.facets.filter(facets.contains))
        }
        guard starters.count >= request.minCount else {
            throw PlatformError(
                .modelFailed, "The language model wrote \(starters.count) conversation starters; at least \(request.minCount) were requested."
            )
        }
        return Array(starters)
    }

    /// One structured model call outside an interaction, routed as the Engine routes its own.
    private func structured<T: Decodable>(_ prompt: ModelRequest, as type: T.Type, preferences: [String: LLMConfig]) async throws -> T {
        do {
            return try await models.call(prompt.kind, preferences: preferences).structured(prompt, as: T.self)
        } catch {
            throw PlatformError(InteractionError(error))
        }
    }
}

private struct RecommendedList: Decodable { var responses: [String] }
private struct StarterList: Decodable { var prompts: [ConversationStarter] }
