import AmigoWire
import Foundation

/// What post-conversation analysis asks the model: the memories worth keeping from a finished
/// conversation, and the user model they add up to.
extension Prompts {
    /// A memory the model found: a fact about the user, why it matters, and the numbers of the
    /// messages that say it.
    public struct FoundMemory: Sendable, Hashable, Decodable {
        public var content: String
        public var context: String
        public var messages: [Int]
    }

    struct FoundMemories: Decodable { var memories: [FoundMemory] }

    /// The facts about the user worth remembering in later conversations, from a whole transcript.
    public static func conversationMemories(_ messages: [MessageInstance], persona: Persona) -> ModelRequest {
        var transcript = ""
        for (index, message) in messages.enumerated() {
            switch message.messageType {
            case .userMessage: transcript += "\(index + 1). User: \(message.message)\n"
            case .agentMessage: transcript += "\(index + 1). \(persona.name.isEmpty ? "Agent" : persona.name): \(message.message)\n"
            case .externalEvent: transcript += "\(index + 1). Event: \(message.message)\n"
            case .agentInnerThought: continue
            }
        }
        let question = """
            A conversation between a user and \(persona.name.isEmpty ? "an agent" : persona.name) has ended.

            \(transcript)
            List the facts about the user worth remembering in later conversations: who they are, what \
            they need, what they prefer, what happened to them. Each fact is one short sentence about the \
            user ("content"), why it matters ("context"), and the numbers of the messages that say it \
            ("messages"). Leave out greetings and small talk. If nothing is worth remembering, give none.
            """
        return ModelRequest(
            kind: .extractMemories,
            messages: [.user(question)],
            output: .json(name: "memories", schema: .object([
                "type": "object",
                "properties": .object([
                    "memories": .object([
                        "type": "array", "maxItems": 20,
                        "items": .object([
                            "type": "object",
                            "properties": .object([
                                "content": .object(["type": "string", "minLength": 1]),
                                "context": .object(["type": "string"]),
                                "messages": .object(["type": "array", "items": .object(["type": "integer", "minimum": 1])]),
                            ]),
                            "required": ["content", "context", "messages"],
                            "additionalProperties": false,
                        ]),
                    ]),
                ]),
                "required": ["memories"],
                "additionalProperties": false,
            ])),
            temperature: 0
        )
    }

    /// The found memories of an answer, with message numbers checked against `count` messages.
    public static func memories(in text: String, messageCount: Int) throws -> [FoundMemory] {
        try StructuredAnswer.decode(FoundMemories.self, from: text, kind: .extractMemories).memories.compactMap { memory in
            let content = memory.content.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !content.isEmpty else { return nil }
            return FoundMemory(
                content: content, context: memory.context.trimmingCharacters(in: .whitespacesAndNewlines),
                messages: memory.messages.filter { (1...max(1, messageCount)).contains($0) }
            )
        }
    }

    struct UserModelAnswer: Decodable { var descriptions: [String] }

    /// What is known about the user along each of the organization's dimensions (one description per
    /// dimension, or one overall description without dimensions).
    public static func userModel(
        memories: [String], additionalContext: [String], dimensions: [String], previous: [String]
    ) -> ModelRequest {
        let count = max(1, dimensions.count)
        var question = "Facts remembered about a user:\n"
        for memory in memories { question += "- \(memory)\n" }
        if !additionalContext.isEmpty {
            question += "\nWhat the organization's systems say about the user:\n"
            for fact in additionalContext { question += "- \(fact)\n" }
        }
        if !previous.isEmpty {
            question += "\nThe user's model so far:\n"
            for line in previous { question += "- \(line)\n" }
        }
        if dimensions.isEmpty {
            question += "\nDescribe the user in a few sentences: who they are, what they need and prefer."
        } else {
            question += "\nDescribe the user along each of these dimensions, in order, a few sentences each "
                + "(\"Unknown\" where the facts say nothing):\n"
            for (index, dimension) in dimensions.enumerated() { question += "\(index + 1). \(dimension)\n" }
        }
        return ModelRequest(
            kind: .generateUserModels,
            messages: [.user(question)],
            output: .json(name: "user_model", schema: stringList(key: "descriptions", min: count, max: count)),
            temperature: 0
        )
    }

    /// The descriptions of a user-model answer, one per dimension.
    public static func userModelDescriptions(in text: String, count: Int) throws -> [String] {
        let descriptions = try StructuredAnswer.decode(UserModelAnswer.self, from: text, kind: .generateUserModels).descriptions
        guard descriptions.count >= count else {
            throw LanguageModelError(.invalidResponse, "the model described \(descriptions.count) dimensions, not \(count)")
        }
        return Array(descriptions.prefix(count))
    }
}
