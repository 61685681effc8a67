import AmigoWire
import Foundation

/// What the model is asked when it plays the user of a simulation: who it is (the persona), what it is
/// there for (the scenario), the conversation so far from its side, and an answer constrained to its
/// next message — or that it is done.
extension Prompts {
    /// Who the simulated user is and what it is there to do.
    public struct SimulatedUser: Sendable, Hashable {
        public var name: String
        public var role: String
        public var background: String
        public var userModels: [String]
        public var language: String?
        public var timezone: String?
        public var objective: String
        public var instructions: String

        public init(
            name: String, role: String, background: String, userModels: [String], language: String?, timezone: String?, objective: String,
            instructions: String
        ) {
            self.name = name
            self.role = role
            self.background = background
            self.userModels = userModels
            self.language = language
            self.timezone = timezone
            self.objective = objective
            self.instructions = instructions
        }
    }

    /// The simulated user's next turn: a message, or done (nothing more to say).
    public struct SimulatedTurn: Sendable, Hashable {
        public var finished: Bool
        public var message: String
    }

    /// Asks for the simulated user's next message (`opening`: the first of the conversation; as an
    /// `event`, what happened in the user's world that starts it).
    public static func simulatedUserTurn(
        _ user: SimulatedUser, transcript: [MessageInstance], now: Date, opening: Bool = false, event: Bool = false
    ) -> ModelRequest {
        var lines = ""
        for message in transcript {
            let speaker = switch message.messageType {
            case .userMessage: "You"
            case .agentMessage: "Agent"
            case .externalEvent: "Event"
            case .agentInnerThought: "Agent (thinking)"
            }
            lines += "\(speaker): \(message.message)\n"
        }
        var who = "You play a user talking to an AI agent, to test the agent. Stay in character; never say you are simulated.\n\n"
        who += "Your name: \(user.name)\nYour role: \(user.role)\nYour background: \(user.background)\n"
        if !user.userModels.isEmpty { who += "What is known about you:\n" + user.userModels.map { "- \($0)\n" }.joined() }
        if let language = user.language { who += "Write in the language with ISO 639-3 code `\(language)`.\n" }
        who += "It is now \(WireCoding.formatDate(now)) (your time zone: \(user.timezone ?? "UTC")).\n"
        who += "\nYour objective in this conversation: \(user.objective)\nHow to behave: \(user.instructions)\n"
        let task: String
        if opening && event {
            task = "Nothing has been said yet. Describe, in one sentence, the event in your world that starts this conversation."
        } else if opening {
            task = "Nothing has been said yet. Write your first message to the agent."
        } else {
            task = """
                The conversation so far:
                \(lines)
                Write your next message to the agent, as you would type it. If your objective is reached or the \
                conversation has come to its end, answer `finished: true` (the message is then ignored).
                """
        }
        return ModelRequest(
            kind: .simulateUser,
            messages: [.system(who), .user(task)],
            output: .json(name: "simulated_user_turn", schema: .object([
                "type": "object",
                "properties": .object([
                    "finished": .object(["type": "boolean"]),
                    "message": .object(["type": "string"]),
                ]),
                "required": ["finished", "message"],
                "additionalProperties": false,
            ])),
            temperature: 0.7
        )
    }

    private struct SimulatedTurnAnswer: Decodable {
        var finished: Bool
        var message: String
    }

    /// The turn in an answer; an unfinished turn without words is `invalidResponse`.
    public static func simulatedTurn(in text: String) throws -> SimulatedTurn {
        let answer = try StructuredAnswer.decode(SimulatedTurnAnswer.self, from: text, kind: .simulateUser)
        let message = answer.message.trimmingCharacters(in: .whitespacesAndNewlines)
        if !answer.finished, message.isEmpty {
            throw LanguageModelError(.invalidResponse, "the model's simulate-user answer has no message: \(text.prefix(200))")
        }
        return SimulatedTurn(finished: answer.finished, message: message)
    }
}
