import AmigoWire
import Foundation

/// What the model is asked to judge a conversation by a metric: the transcript with numbered messages,
/// the metric, and an answer constrained by a schema made from the metric's type (a boolean, a number
/// within the bounds, one of the categories — or null when the metric does not apply).
extension Prompts {
    /// A metric's judgement: its value, why, and the numbers of the messages it rests on.
    public struct Judgement: Sendable, Hashable {
        public var value: MetricResult
        public var justification: String
        /// 1-based message numbers of the transcript.
        public var messages: [Int]
    }

    public static func metricJudgement(
        name: String, description: String, notes: String?, value: MetricValue, transcript messages: [MessageInstance]
    ) -> ModelRequest {
        var transcript = ""
        for (index, message) in messages.enumerated() {
            let speaker = switch message.messageType {
            case .userMessage: "User"
            case .agentMessage: "Agent"
            case .externalEvent: "Event"
            case .agentInnerThought: "Agent (thinking)"
            }
            transcript += "\(index + 1). \(speaker): \(message.message)\n"
        }
        let scale = switch value {
        case .boolean: "Answer true or false."
        case .numerical(let lower, let upper): "Answer a number from \(Self.number(lower)) to \(Self.number(upper))."
        case .categorical(let categories): "Answer one of: \(categories.map { "\"\($0)\"" }.joined(separator: ", "))."
        }
        let question = """
            Judge this conversation between a user and an agent by the metric below.

            \(transcript)
            Metric: \(name)
            What it measures: \(description)\(notes.map { "\nNotes: \($0)" } ?? "")

            \(scale) If the metric does not apply to this conversation, answer null. Explain your judgement in \
            one or two sentences ("justification") and give the numbers of the messages it rests on ("messages").
            """
        let valueSchema: JSONValue = switch value {
        case .boolean: .object(["type": .array(["boolean", "null"])])
        case .numerical(let lower, let upper): .object(["type": .array(["number", "null"]), "minimum": .number(lower), "maximum": .number(upper)])
        case .categorical(let categories): .object(["enum": .array(categories.map(JSONValue.string) + [.null])])
        }
        return ModelRequest(
            kind: .evaluateMetric,
            messages: [.user(question)],
            output: .json(name: "judgement", schema: .object([
                "type": "object",
                "properties": .object([
                    "value": valueSchema,
                    "justification": .object(["type": "string", "minLength": 1]),
                    "messages": .object(["type": "array", "items": .object(["type": "integer", "minimum": 1])]),
                ]),
                "required": ["value", "justification", "messages"],
                "additionalProperties": false,
            ])),
            temperature: 0
        )
    }

    private struct JudgementAnswer: Decodable {
        var value: JSONValue
        var justification: String
        var messages: [Int]
    }

    /// The judgement of an answer, checked against the metric: a value of the wrong type, out of bounds
    /// or not a category is `invalidResponse` (never stored; the caller asks again or reports an error).
    public static func judgement(in text: String, for value: MetricValue, messageCount: Int) throws -> Judgement {
        let answer = try StructuredAnswer.decode(JudgementAnswer.self, from: text, kind: .evaluateMetric)
        func invalid(_ why: String) -> LanguageModelError {
            LanguageModelError(.invalidResponse, "the model's evaluate-metric answer \(why): \(text.prefix(200))")
        }
        let result: MetricResult
        switch (value, answer.value) {
        case (_, .null): result = .notApplicable
        case (.boolean, .bool(let flag)): result = .bool(flag)
        case (.numerical(let lower, let upper), .number(let number)):
            guard number.isFinite, number >= lower, number <= upper else { throw invalid("is outside \(lower)…\(upper)") }
            result = .number(number)
        case (.categorical(let categories), .string(let category)):
            guard categories.contains(category) else { throw invalid("is not one of the categories") }
            result = .category(category)
        default:
            throw invalid("is not a \(value.type) value")
        }
        let justification = answer.justification.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !justification.isEmpty else { throw invalid("has no justification") }
        var seen: Set<Int> = []
        let messages = answer.messages.filter { (1...max(1, messageCount)).contains($0) && seen.insert($0).inserted }
        return Judgement(value: result, justification: justification, messages: messages)
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
