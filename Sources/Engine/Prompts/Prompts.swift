import AmigoWire
import Foundation

/// Every prompt the Engine sends, one function per prompt kind.
///
/// Prompts are short and plain so that small local models follow them: one question per prompt, the
/// options numbered, and every structured answer constrained by a JSON schema (see ``Choice``).
public enum Prompts {
    /// How many recent conversation messages decision prompts show.
    static let transcriptWindow = 16
    /// The longest reply the agent writes, in tokens: a conversational turn, not an essay.
    public static let replyTokenLimit = 300
    /// How many persisted tool results prompts show, newest last.
    static let toolResultWindow = 10

    // MARK: - select-next-action

    /// Choose what to do in an action state: perform one of its actions now, or leave through an exit
    /// condition. Options are numbered actions first, then exit conditions.
    public static func selectNextAction(_ state: ActionState, context: PromptContext) -> ModelRequest {
        var system = identityLine(context.persona)
        system += "\nYou are deciding what to do next in a conversation. Current objective: \(state.objective)"
        system += section("Guidelines for deciding", state.intraStateNavigationGuidelines)
        system += userSection(context)
        system += memorySection(context)
        system += toolResultsSection(context)

        var question = "Conversation so far:\n\(transcript(context))\n\n"
        question += "Options:\n"
        var number = 0
        for action in state.actions {
            number += 1
            question += "\(number). Do now: \(action)\n"
        }
        for exit in state.exitConditions {
            number += 1
            question += "\(number). Move on, because: \(exit.description)\n"
        }
        question += "\nWhich option fits the conversation now? Answer with its number."
        return ModelRequest(
            kind: .selectNextAction,
            messages: [.system(system), .user(question)],
            output: Choice.schema(name: "select_next_action", count: number),
            temperature: 0
        )
    }

    // MARK: - select-next-state-for-decision-state

    /// Choose the exit condition of a decision state that holds now.
    public static func decide(_ state: DecisionState, context: PromptContext) -> ModelRequest {
        var system = identityLine(context.persona)
        system += "\nYou are making a decision about a conversation. Objective: \(state.objective)"
        system += section("Decision guidelines", state.decisionGuidelines)
        system += userSection(context)
        system += memorySection(context)
        system += toolResultsSection(context)
        var question = "Conversation so far:\n\(transcript(context))\n\nWhich statement is true now?\n"
        for (index, exit) in state.exitConditions.enumerated() {
            question += "\(index + 1). \(exit.description)\n"
        }
        question += "\nAnswer with its number."
        return ModelRequest(
            kind: .selectNextStateForDecisionState,
            messages: [.system(system), .user(question)],
            output: Choice.schema(name: "select_next_state", count: state.exitConditions.count),
            temperature: 0
        )
    }

    // MARK: - engage-user

    /// Write the agent's reply, performing `action` in `state`.
    public static func engageUser(_ state: ActionState, action: String, context: PromptContext) -> ModelRequest {
        var system = identityLine(context.persona)
        let persona = context.persona
        if !persona.background.isEmpty { system += "\nBackground: \(persona.background)" }
        system += section("Your behaviors", persona.behaviors)
        system += section("How you communicate", persona.communicationPatterns)
        system += "\n\nCurrent objective: \(state.objective)"
        system += "\nWhat to do in this reply: \(action)"
        system += section("Guidelines", state.actionGuidelines)
        system += section("Never", state.boundaryConstraints)
        system += userSection(context)
        system += memorySection(context)
        system += toolResultsSection(context)
        system += section("Your private thoughts (never reveal them)", recentThoughts(context))
        system += "\n\nReply with what you say to the user, and nothing else."

        var messages: [ChatMessage] = [.system(system)]
        for message in context.history {
            switch message.messageType {
            case .userMessage: messages.append(.user(message.message))
            case .agentMessage: messages.append(.assistant(message.message))
            case .externalEvent:
                messages.append(.user("[Event at \(timestamp(message.createdAt))] \(message.message)"))
            case .agentInnerThought: continue
            }
        }
        if messages.last?.role != .user {
            messages.append(.user(context.history.isEmpty
                ? "(The conversation starts now. Speak first.)"
                : "(The user says nothing. Continue.)"))
        }
        return ModelRequest(kind: .engageUser, messages: messages, maxTokens: replyTokenLimit)
    }

    // MARK: - generate-tool-params

    /// Write the input of a tool-call state's designated tool, as a JSON object matching its schema.
    public static func generateToolParams(_ state: ToolCallState, tool: ResolvedTool, context: PromptContext) -> ModelRequest {
        var system = identityLine(context.persona)
        system += "\nYou are preparing a call to the tool `\(tool.name)`: \(tool.description)"
        if !state.designatedTool.additionalInstruction.isEmpty {
            system += "\n\(state.designatedTool.additionalInstruction)"
        }
        system += "\n\nWhat an ideal input achieves: \(state.designatedToolCallObjective)"
        system += "\nWhy the call is made: \(state.designatedToolCallContext)"
        system += section("Tips", state.designatedToolCallGuidances)
        system += section("The input must satisfy", state.designatedToolCallValidations)
        system += userSection(context)
        system += memorySection(context)
        system += toolResultsSection(context)
        let question = """
            Conversation so far:
            \(transcript(context))

            Write the tool's input as one JSON object matching this schema:
            \(tool.inputSchema.compactJSON)
            """
        return ModelRequest(
            kind: .generateToolParams,
            messages: [.system(system), .user(question)],
            output: .json(name: "tool_input", schema: tool.inputSchema),
            temperature: 0
        )
    }

    // MARK: - generate-reflection

    /// Think about `state.problem` privately, in at most `state.wordLimit` words.
    public static func reflect(_ state: ReflectionState, context: PromptContext) -> ModelRequest {
        var system = identityLine(context.persona)
        system += "\nYou are thinking privately about the conversation before you answer."
        system += userSection(context)
        system += memorySection(context)
        system += toolResultsSection(context)
        let question = """
            Conversation so far:
            \(transcript(context))

            Think about this: \(state.problem)
            Write your thoughts in at most \(state.wordLimit) words.
            """
        return ModelRequest(
            kind: .generateReflection,
            messages: [.system(system), .user(question)],
            maxTokens: max(32, state.wordLimit * 2)
        )
    }

    // MARK: - check-if-active-memory-needed

    /// Whether the next reply needs facts about the user that the conversation itself does not hold.
    public static func checkActiveMemoryNeeded(context: PromptContext) -> ModelRequest {
        let question = """
            Conversation so far:
            \(transcript(context))

            To answer the user's last message well, do you need facts about this user from earlier
            conversations (their history, preferences, usual choices) that are not in the conversation above?
            Answer true or false.
            """
        return ModelRequest(
            kind: .checkIfActiveMemoryNeeded,
            messages: [.system(identityLine(context.persona)), .user(question)],
            output: .json(name: "memory_needed", schema: [
                "type": "object",
                "properties": ["needed": ["type": "boolean"]],
                "required": ["needed"],
                "additionalProperties": false,
            ]),
            temperature: 0
        )
    }

    // MARK: - generate-recall-queries

    /// Turn a recall state's `requested_information` into memory queries.
    public static func recallQueries(requestedInformation: String, context: PromptContext) -> ModelRequest {
        let question = """
            Conversation so far:
            \(transcript(context))

            Information needed: \(requestedInformation)
            Write one to three short questions about the user that would find this information.
            """
        return ModelRequest(
            kind: .generateRecallQueries,
            messages: [.system(identityLine(context.persona)), .user(question)],
            output: .json(name: "recall_queries", schema: stringList(key: "queries", min: 1, max: 3)),
            temperature: 0
        )
    }

    // MARK: - extract-active-memories

    /// Answer each query from what is known about the user, or say nothing is known.
    public static func extractMemories(queries: [String], facts: [String]) -> ModelRequest {
        var question = "Known facts about the user:\n"
        for fact in facts { question += "- \(fact)\n" }
        question += "\nAnswer each question from these facts only. If the facts do not say, answer \"Unknown\".\n"
        for (index, query) in queries.enumerated() { question += "\(index + 1). \(query)\n" }
        return ModelRequest(
            kind: .extractActiveMemories,
            messages: [.user(question)],
            output: .json(
                name: "memory_answers",
                schema: stringList(key: "answers", min: queries.count, max: queries.count)
            ),
            temperature: 0
        )
    }

    // MARK: - recommend-responses

    /// Suggest what the user could say next, playing the persona and scenario in `userContext`.
    public static func recommendResponses(userContext: String, context: PromptContext) -> ModelRequest {
        let question = """
            You play the user in this conversation.
            \(userContext)

            Conversation so far:
            \(transcript(context))

            Write two or three different short replies the user could send next.
            """
        return ModelRequest(
            kind: .recommendResponses,
            messages: [.user(question)],
            output: .json(name: "recommended_responses", schema: stringList(key: "responses", min: 2, max: 3)),
            temperature: 0.7
        )
    }

    // MARK: - generate-conversation-starters

    /// Opening messages a user could send to this service, each about some of `facets`.
    public static func conversationStarters(
        persona: Persona, serviceDescription: String, facets: [String],
        minCount: Int, maxCount: Int, instructions: String
    ) -> ModelRequest {
        var question = "\(identityLine(persona))\nService: \(serviceDescription)\n"
        question += "Write between \(minCount) and \(maxCount) messages a user could send to start a conversation with you.\n"
        question += "Instructions: \(instructions)\nEach message must be about one or more of these facets: "
        question += facets.joined(separator: "; ")
        let facetSchema: JSONValue = .object([
            "type": "array", "minItems": 1,
            "items": .object(["type": "string", "enum": .array(facets.map(JSONValue.string))]),
        ])
        let schema: JSONValue = .object([
            "type": "object",
            "properties": .object([
                "prompts": .object([
                    "type": "array",
                    "minItems": .number(Double(minCount)),
                    "maxItems": .number(Double(maxCount)),
                    "items": .object([
                        "type": "object",
                        "properties": .object(["prompt": .object(["type": "string"]), "facets": facetSchema]),
                        "required": ["prompt", "facets"],
                        "additionalProperties": false,
                    ]),
                ]),
            ]),
            "required": ["prompts"],
            "additionalProperties": false,
        ])
        return ModelRequest(
            kind: .generateConversationStarters,
            messages: [.user(question)],
            output: .json(name: "conversation_starters", schema: schema),
            temperature: 0.7
        )
    }

    // MARK: - Pieces

    static func identityLine(_ persona: Persona) -> String {
        var line = "You are \(persona.name), \(persona.role)"
        if !persona.developedBy.isEmpty { line += ", developed by \(persona.developedBy)" }
        return line + "."
    }

    static func section(_ title: String, _ items: [String]) -> String {
        guard !items.isEmpty else { return "" }
        return "\n\n\(title):\n" + items.map { "- \($0)" }.joined(separator: "\n")
    }

    static func userSection(_ context: PromptContext) -> String {
        var facts = context.user.additionalContext
        if !context.user.name.isEmpty { facts.insert("Name: \(context.user.name)", at: 0) }
        return section("About the user", facts) + section("What you know of the user from earlier conversations", context.user.model)
    }

    static func memorySection(_ context: PromptContext) -> String {
        section("What you recalled", context.workingMemory.map { "\($0.context): \($0.content)" })
    }

    static func toolResultsSection(_ context: PromptContext) -> String {
        section("Results of tools you called", context.toolResults.suffix(toolResultWindow).map {
            "\($0.toolName)(\($0.input)): \($0.output)"
        })
    }

    static func recentThoughts(_ context: PromptContext) -> [String] {
        context.reflections
            + context.history.suffix(transcriptWindow).filter { $0.messageType == .agentInnerThought }.map(\.message)
    }

    /// The last messages of the conversation as plain lines.
    static func transcript(_ context: PromptContext) -> String {
        let lines = context.history.suffix(transcriptWindow).compactMap { message -> String? in
            switch message.messageType {
            case .userMessage: "User: \(message.message)"
            case .agentMessage: "Agent: \(message.message)"
            case .externalEvent: "Event at \(timestamp(message.createdAt)): \(message.message)"
            case .agentInnerThought: nil
            }
        }
        return lines.isEmpty ? "(nothing yet: the conversation is starting)" : lines.joined(separator: "\n")
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    static func stringList(key: String, min: Int, max: Int) -> JSONValue {
        .object([
            "type": "object",
            "properties": .object([
                key: .object([
                    "type": "array",
                    "minItems": .number(Double(min)),
                    "maxItems": .number(Double(max)),
                    "items": .object(["type": "string", "minLength": 1]),
                ]),
            ]),
            "required": .array([.string(key)]),
            "additionalProperties": false,
        ])
    }
}

/// The structured answer to a numbered-options question, and its parsing.
public struct Choice: Sendable, Hashable, Decodable {
    /// The model's short justification, recorded for insights.
    public var reason: String
    /// The chosen option, 1-based.
    public var choice: Int

    public init(reason: String, choice: Int) {
        self.reason = reason
        self.choice = choice
    }

    enum CodingKeys: String, CodingKey { case reason, choice }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        reason = (try? container.decodeIfPresent(String.self, forKey: .reason)) ?? ""
        choice = try container.decode(Int.self, forKey: .choice)
    }

    static func schema(name: String, count: Int) -> OutputFormat {
        .json(name: name, schema: .object([
            "type": "object",
            "properties": .object([
                "reason": .object(["type": "string", "maxLength": 300]),
                "choice": .object(["type": "integer", "enum": .array((1...max(1, count)).map { .number(Double($0)) })]),
            ]),
            "required": ["reason", "choice"],
            "additionalProperties": false,
        ]))
    }
}
