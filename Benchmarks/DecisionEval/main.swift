// Accuracy of the decisions a small model makes, per strategy, on the labelled set in
// Benchmarks/decisions/eval.json (exit conditions and actions of action states, decision states,
// whether active memory is needed).
//
//   swift run -c release DecisionEval http://127.0.0.1:PORT/v1 [Benchmarks/decisions/eval.json] [strategy …]
//
// Strategies (all use the Engine's own prompts, `Prompts.selectNextAction` / `Prompts.decide`):
// - reason-then-choice: the production schema, `{"reason": …, "choice": n}`;
// - choice-only: the same question, schema `{"choice": n}` only;
// - answer-logprobs: the same question as plain text, one token, the option whose number has the
//   highest log-probability among the first token's alternatives (scoring instead of generating).
import AmigoWire
import AsyncHTTPClient
import Engine
import Foundation
import Logging
import Models
import NIOCore
import NIOHTTP1

struct Item: Decodable {
    struct Line: Decodable { var role: String; var text: String }
    var id: String
    var kind: String
    var objective: String?
    var actions: [String]?
    var exitConditions: [String]?
    var transcript: [Line]
    var expected: Int?
    var facts: [String]?
    var expectedNeeded: Bool?

    enum CodingKeys: String, CodingKey {
        case id, kind, objective, actions, transcript, expected, facts
        case exitConditions = "exit_conditions", expectedNeeded = "expected_needed"
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let baseURL = arguments.first else {
    print("usage: DecisionEval BASE_URL [eval.json] [strategy …]")
    exit(2)
}
let path = arguments.dropFirst().first ?? "Benchmarks/decisions/eval.json"
let chosen = Set(arguments.dropFirst(2))
let items = try JSONDecoder().decode([Item].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
let logger = Logger(label: "eval")
let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
var configuration = OpenAICompatibleModel.Configuration(baseURL: baseURL, model: "eval", requestTimeout: .seconds(120), structuredOutput: .jsonObject)
configuration.defaultParameters = ["repeat_penalty": 1.1]
let model = OpenAICompatibleModel(configuration: configuration, httpClient: httpClient, logger: logger)
let persona = Persona(name: "Ava", role: "assistant")

func context(_ item: Item) -> PromptContext {
    let history = item.transcript.enumerated().map { index, line in
        MessageInstance(
            id: ObjectID.generate(), interactionID: "", createdAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(index)),
            sender: line.role, message: line.text, format: .text,
            messageType: line.role == "user" ? .userMessage : line.role == "agent" ? .agentMessage : .externalEvent
        )
    }
    return PromptContext(persona: persona, user: UserProfile(additionalContext: item.facts ?? []), history: history)
}

/// The production prompt for a choice item, and how many options it has.
func prompt(_ item: Item) -> (ModelRequest, Int) {
    let exits = (item.exitConditions ?? []).map { ExitCondition(description: $0, nextState: .internal("next")) }
    if item.kind == "action-state" {
        let state = ActionState(name: "s", objective: item.objective ?? "", actions: item.actions ?? [], exitConditions: exits)
        return (Prompts.selectNextAction(state, context: context(item)), state.actions.count + exits.count)
    }
    let state = DecisionState(name: "s", objective: item.objective ?? "", exitConditions: exits, audioFillerTriggeredAfter: 2)
    return (Prompts.decide(state, context: context(item)), exits.count)
}

func firstNumber(_ text: String) -> Int? {
    if let data = text.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
       let choice = object["choice"] as? Int { return choice }
    return Int(String(text.drop { !$0.isNumber }.prefix { $0.isNumber }))
}

func reasonThenChoice(_ item: Item) async throws -> Int? {
    let (request, _) = prompt(item)
    return firstNumber(try await model.complete(request).text)
}

func choiceOnly(_ item: Item) async throws -> Int? {
    var (request, count) = prompt(item)
    request.output = .json(name: "choice", schema: [
        "type": "object",
        "properties": ["choice": ["type": "integer", "enum": .array((1...count).map { .number(Double($0)) })]],
        "required": ["choice"],
    ])
    return firstNumber(try await model.complete(request).text)
}

/// One token of plain text with its alternatives; the best-scored option number wins.
func answerLogprobs(_ item: Item) async throws -> Int? {
    let (request, count) = prompt(item)
    var messages: [[String: String]] = request.messages.map { ["role": $0.role.rawValue, "content": $0.content] }
    messages[messages.count - 1]["content"]! += " Reply with the number only."
    let body: [String: Any] = [
        "model": "eval", "messages": messages, "max_tokens": 1, "temperature": 0, "logprobs": true, "top_logprobs": 20,
    ]
    var http = HTTPClientRequest(url: baseURL + "/chat/completions")
    http.method = .POST
    http.headers.add(name: "content-type", value: "application/json")
    http.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
    let response = try await httpClient.execute(http, timeout: .seconds(120))
    let collected = try await response.body.collect(upTo: 1 << 22)
    let data = Data(collected.readableBytesView)
    guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
          let choices = object["choices"] as? [[String: Any]],
          let logprobs = choices.first?["logprobs"] as? [String: Any],
          let content = logprobs["content"] as? [[String: Any]],
          let first = content.first,
          let top = first["top_logprobs"] as? [[String: Any]]
    else { return nil }
    var best: (Int, Double)?
    for candidate in top {
        guard let token = candidate["token"] as? String, let logprob = candidate["logprob"] as? Double,
              let number = Int(token.trimmingCharacters(in: .whitespaces)), (1...count).contains(number) else { continue }
        if best == nil || logprob > best!.1 { best = (number, logprob) }
    }
    return best?.0
}

func memoryNeeded(_ item: Item) async throws -> Bool? {
    let text = try await model.complete(Prompts.checkActiveMemoryNeeded(context: context(item))).text
    guard let data = text.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
    return object["needed"] as? Bool
}

let strategies: [(String, (Item) async throws -> Int?)] = [
    ("reason-then-choice", reasonThenChoice), ("choice-only", choiceOnly), ("answer-logprobs", answerLogprobs),
].filter { chosen.isEmpty || chosen.contains($0.0) }

let choiceItems = items.filter { $0.kind != "active-memory" }
for (name, strategy) in strategies {
    var correct = 0, actionCorrect = 0, actionTotal = 0, decisionCorrect = 0, decisionTotal = 0, unreadable = 0
    let started = ContinuousClock.now
    for item in choiceItems {
        let answer = try await strategy(item)
        if answer == nil { unreadable += 1 }
        let right = answer == item.expected
        if right { correct += 1 }
        if item.kind == "action-state" { actionTotal += 1; if right { actionCorrect += 1 } } else { decisionTotal += 1; if right { decisionCorrect += 1 } }
    }
    let elapsed = ContinuousClock.now - started
    let percent = Int((100.0 * Double(correct) / Double(choiceItems.count)).rounded())
    print("\(name): \(correct)/\(choiceItems.count) = \(percent)% (action states \(actionCorrect)/\(actionTotal), decision states \(decisionCorrect)/\(decisionTotal), unreadable \(unreadable)) in \(elapsed)")
}
if chosen.isEmpty || chosen.contains("memory") {
    let memoryItems = items.filter { $0.kind == "active-memory" }
    var correct = 0
    for item in memoryItems where try await memoryNeeded(item) == item.expectedNeeded { correct += 1 }
    print("active-memory-needed \(correct)/\(memoryItems.count)")
}
// Chance level, for reference: the mean of 1/options over the choice items.
var chance = 0.0
for item in choiceItems {
    let options = prompt(item).1
    chance += 1.0 / Double(options)
}
print(String(format: "chance level %.0f%%", 100 * chance / Double(choiceItems.count)))
try await httpClient.shutdown()
