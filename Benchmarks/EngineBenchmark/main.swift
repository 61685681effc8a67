// The Engine's own cost of one interaction that crosses three states, with an instant scripted model.
//
//   swift run -c release EngineBenchmark [iterations]
//
// Two figures:
// - engine: `InteractionRunner.run` alone (navigation, prompts, events), no storage, no HTTP;
// - server: the whole `interact` request in process on SQLite: auth, multipart form, locks, the Engine,
//   NDJSON encoding and the commit transaction.
// The model answers instantly, so everything measured is Compadre's own work.
import AmigoWire
import CompadreTesting
import Engine
import Foundation
import HTTPTypes
import Logging
import Platform
import Server
import Storage
import EngineTesting

let iterations = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 2000

/// start ─(exit)→ route (decision) → note (annotation) → start: three transitions, then the reply.
nonisolated(unsafe) let loopGraph: [String: Any] = [
    "description": "Benchmark loop",
    "new_user_initial_state": "start", "returning_user_initial_state": "start", "terminal_state": "done",
    "references": [String: Any](), "global_intra_state_navigation_guidelines": [String](),
    "global_action_guidelines": ["Be brief"], "global_boundary_constraints": [String](),
    "states": [
        ["type": "action", "name": "start", "objective": "Talk", "actions": ["Answer the user"],
         "intra_state_navigation_guidelines": [String](), "action_guidelines": [String](), "boundary_constraints": [String](),
         "exit_conditions": [["description": "The user asks to go around", "next_state": "route"],
                             ["description": "The user is done", "next_state": "done"]],
         "action_tool_call_specs": [String](), "exit_condition_tool_call_specs": [String](), "skip_active_memory_retrieval": false],
        ["type": "decision", "name": "route", "objective": "Route", "decision_guidelines": [String](),
         "exit_conditions": [["description": "Always", "next_state": "note"]], "tool_call_specs": [String](),
         "audio_fillers": [String](), "audio_filler_triggered_after": 2.0],
        ["type": "annotation", "name": "note", "inner_thought": "Going around.", "next_state": "start"],
        ["type": "action", "name": "done", "objective": "End", "actions": ["Say goodbye"],
         "intra_state_navigation_guidelines": [String](), "action_guidelines": [String](), "boundary_constraints": [String](),
         "exit_conditions": [[String: Any]](), "action_tool_call_specs": [String](), "exit_condition_tool_call_specs": [String](),
         "skip_active_memory_retrieval": false],
    ] as [[String: Any]],
]

/// CPU time (user + system) this process has used so far, in milliseconds.
func cpuMilliseconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func ms(_ t: timeval) -> Double { Double(t.tv_sec) * 1000 + Double(t.tv_usec) / 1000 }
    return ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// Whether a streamed answer ended with `interaction-complete` (read from its last line only: the
/// client's share of the CPU figure stays small).
func completed(_ answer: TestServer.Client.Answer) -> Bool {
    answer.text.split(separator: "\n").last?.contains("\"type\":\"interaction-complete\"") ?? false
}

func report(_ name: String, _ samples: [Duration]) {
    let sorted = samples.sorted()
    func at(_ q: Double) -> Duration { sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
    func ms(_ d: Duration) -> String { String(format: "%.3f ms", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000) }
    print("\(name): n=\(sorted.count) median \(ms(at(0.5)))  p90 \(ms(at(0.9)))  p99 \(ms(at(0.99)))  max \(ms(sorted.last!))")
}

// MARK: - Engine alone

let model = ScriptedModel(defaultReply: ["Sure", ", here", " it is."])
let definition = try JSONDecoder().decode(ContextGraphDefinition.self, from: JSONSerialization.data(withJSONObject: loopGraph))
let root = VersionInfo(id: ObjectID.generate(), version: 1)
let graphs = GraphSet(root: root, graphs: [root: definition])
let runner = InteractionRunner(models: LanguageModels(default: model))
let persona = Persona(name: "Ada", role: "assistant", background: "Helps.", behaviors: ["Kind"], communicationPatterns: ["Short"])
var history: [MessageInstance] = []
for index in 0..<20 {
    history.append(MessageInstance(
        id: ObjectID.generate(), interactionID: ObjectID.generate(), createdAt: Date(), sender: "x",
        message: "Message number \(index) of the earlier conversation.", format: .text,
        messageType: index.isMultiple(of: 2) ? .agentMessage : .userMessage
    ))
}
var engineSamples: [Duration] = []
let clock = ContinuousClock()
for iteration in 0..<(iterations + 100) {
    model.script(.selectNextAction, .choice(2), .choice(1))
    let request = InteractionRequest(
        conversationID: ObjectID.generate(), interactionID: ObjectID.generate(), graphs: graphs,
        position: GraphPosition(graph: root, state: "start"),
        context: PromptContext(persona: persona, user: UserProfile(name: "Grace", additionalContext: ["Likes tea"]), history: history)
    )
    let started = clock.now
    let outcome = try await runner.run(request) { _ in }
    let elapsed = clock.now - started
    precondition(outcome.insights.stateTransitionLogs.count == 3)
    if iteration >= 100 { engineSamples.append(elapsed) }
}
report("engine (3 transitions + reply, no storage)", engineSamples)

// MARK: - Whole interact request on SQLite

// Dynamic behavior selection: the Engine's retrieval over N sets of 3 triggers (384-dimensional
// vectors, as all-MiniLM-L6-v2 makes) with an embedder that answers at once; the embedding call itself
// is the embedder's (see Benchmarks/README.md). Reported as the added time per interaction.
struct InstantEmbedder: Embedder {
    let model = "instant"
    let vector: [Float]
    func embed(_ texts: [String]) async throws -> [[Float]] { texts.map { _ in vector } }
}
func randomVector() -> [Float] {
    let raw = (0..<384).map { _ in Float.random(in: -1...1) }
    let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return raw.map { $0 / norm }
}
for setCount in [10, 1000] {
    let candidates = (0..<setCount).map { index in
        DynamicBehavior(
            info: VersionInfo(id: ObjectID.generate(), version: 1), triggers: ["a", "b", "c"],
            actions: [.injectInstruction(instruction: "Do \(index)", overrides: false)], triggerVectors: (0..<3).map { _ in randomVector() }
        )
    }
    var withSets: [Duration] = []
    var without: [Duration] = []
    for iteration in 0..<(400 + 50) {
        for selecting in [true, false] {
            model.script(.selectNextAction, .choice(2), .choice(1))
            var request = InteractionRequest(
                conversationID: ObjectID.generate(), interactionID: ObjectID.generate(), graphs: graphs,
                position: GraphPosition(graph: root, state: "start"),
                context: PromptContext(persona: persona, user: UserProfile(name: "Grace"), history: history)
            )
            // A threshold no random vector reaches: retrieval runs over every set, no model call follows.
            if selecting { request.behaviors = BehaviorSelection(candidates: candidates, embedder: InstantEmbedder(vector: randomVector()), threshold: 2) }
            let started = clock.now
            _ = try await runner.run(request) { _ in }
            if iteration >= 50 { if selecting { withSets.append(clock.now - started) } else { without.append(clock.now - started) } }
        }
    }
    func median(_ samples: [Duration]) -> Double {
        let sorted = samples.sorted()
        let d = sorted[sorted.count / 2]
        return Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000
    }
    print(String(format: "behavior selection, %d sets x 3 triggers (384 dims): interaction median %.3f ms with, %.3f ms without: +%.3f ms",
                 setCount, median(withSets), median(without), median(withSets) - median(without)))
}

// The wire JSON of one interaction's events, by the encoder the server uses and by Foundation's.
let events: [ConversationEvent] = [
    .newMessage(NewMessage(message: "Sure, here it is.", stop: false, sequenceNumber: 1, messageID: ObjectID.generate())),
    .newMessage(NewMessage(message: "", stop: true, sequenceNumber: 2, messageID: ObjectID.generate())),
    .interactionComplete(InteractionComplete(messageID: ObjectID.generate(), interactionID: ObjectID.generate(), fullMessage: "Sure, here it is.", conversationCompleted: false)),
]
let foundationEncoder = WireCoding.encoder()
for (name, encode) in [
    ("WireEncoder", { (event: ConversationEvent) in _ = try WireEncoder().encode(event) }),
    ("Foundation JSONEncoder", { (event: ConversationEvent) in _ = try foundationEncoder.encode(event) }),
] as [(String, (ConversationEvent) throws -> Void)] {
    let started = clock.now
    for _ in 0..<20_000 { for event in events { try encode(event) } }
    let elapsed = clock.now - started
    print(String(format: "event JSON by %@: %.2f µs per event", name, Double(elapsed.components.attoseconds) / 1e12 / 60_000 + Double(elapsed.components.seconds) * 1e6 / 60_000))
}

let path = FileManager.default.temporaryDirectory.appendingPathComponent("compadre-bench-\(UUID().uuidString).sqlite").path
let database = try await SQLiteDatabase.open(path: path, logger: .init(label: "bench"))
try await Migrations.apply(to: database, logger: .init(label: "bench"))
let serverModel = ScriptedModel(defaultReply: ["Sure", ", here", " it is."])
// As `serve` runs on SQLite: one process owns the file, so its leases stay in memory.
let server = try await TestServer(database: database, model: serverModel, leasesInProcess: true)
let admin = try await server.bootstrap()
let org = admin.organizationID
let serverSamples: [Duration] = try await server.test { client in
    let token = try await client.signIn(admin)
    let agent = try await client.call(.post, "/v1/\(org)/organization/agent", token: token, json: ["agent_name": "bench"]).object()["id"] as! String
    try await client.call(.post, "/v1/\(org)/organization/agent/\(agent)/", token: token, json: [
        "initials": "AB", "background": "Helps.", "behaviors": ["Kind"], "communication_patterns": ["Short"],
        "identity": ["name": "Ada", "role": "assistant", "developed_by": "Bench", "default_spoken_language": "eng",
                     "relationship_to_developer": ["ownership": "owned", "type": "assistant", "conversation_visibility": "visible", "thought_visibility": "hidden"]],
    ] as [String: Any])
    let graph = try await client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine", token: token, json: ["state_machine_name": "loop"]).object()["id"] as! String
    try await client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine/\(graph)/", token: token, json: loopGraph)
    let service = try await client.call(.post, "/v1/\(org)/service/", token: token, json: [
        "name": "bench", "description": "Benchmark", "is_active": true, "agent_id": agent,
        "service_hierarchical_state_machine_id": graph, "keyterms": [String](), "tags": [String: String](),
    ] as [String: Any]).object()["id"] as! String
    var samples: [Duration] = []
    var conversation = ""
    for iteration in 0..<(iterations + 100) {
        if iteration % 200 == 0 {
            if !conversation.isEmpty { try await client.call(.post, "/v1/\(org)/conversation/\(conversation)/finish/", token: token) }
            serverModel.script(.selectNextAction, .choice(1))
            let created = try await client.call(.post, "/v1/\(org)/conversation/?response_format=text", token: token, json: ["service_id": service])
            conversation = try created.events().first?["conversation_id"] as? String ?? ""
        }
        serverModel.script(.selectNextAction, .choice(2), .choice(1))
        let started = clock.now
        let answer = try await client.interact(org: org, conversation: conversation, token: token, text: "Go around, please.")
        let elapsed = clock.now - started
        precondition(completed(answer), answer.text)
        if iteration >= 100 { samples.append(elapsed) }
    }
    // 64 conversations at once, each interacting in a loop: latency under load and interactions per second.
    let concurrency = 64
    let perConversation = max(10, iterations / concurrency)
    // A user has one unfinished conversation per service: one user per conversation.
    try await client.call(.post, "/v1/\(org)/conversation/\(conversation)/finish/", token: token)
    var conversations: [(id: String, token: String)] = []
    for index in 0..<concurrency {
        let invited = try await client.call(.post, "/v1/\(org)/user/", token: token, json: [
            "first_name": "User", "last_name": "\(index)", "email": "user\(index)@bench.example", "role_name": "DefaultUserRole",
        ])
        let userToken = try await client.signIn(org: org, keyID: admin.apiKeyID, key: admin.apiKey, userID: try invited.object()["user_id"] as! String)
        serverModel.script(.selectNextAction, .choice(1))
        let created = try await client.call(.post, "/v1/\(org)/conversation/?response_format=text", token: userToken, json: ["service_id": service])
        conversations.append((try created.events().first?["conversation_id"] as? String ?? "", userToken))
    }
    let loadStarted = clock.now
    let loadCPU = cpuMilliseconds()
    let loaded = try await withThrowingTaskGroup(of: [Duration].self) { group in
        for (id, token) in conversations {
            group.addTask {
                var durations: [Duration] = []
                for _ in 0..<perConversation {
                    let started = clock.now
                    let answer = try await client.interact(org: org, conversation: id, token: token, text: "Hello there.")
                    durations.append(clock.now - started)
                    if !completed(answer) {
                        FileHandle.standardError.write(Data("interaction failed: \(answer.status) \(answer.text.prefix(400))\n".utf8))
                        exit(1)
                    }
                }
                return durations
            }
        }
        return try await group.reduce(into: [Duration]()) { $0 += $1 }
    }
    let wall = clock.now - loadStarted
    let cpuPerInteraction = (cpuMilliseconds() - loadCPU) / Double(concurrency * perConversation)
    report("server interact request, \(concurrency) conversations at once", loaded)
    let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
    print(String(format: "throughput: %.0f interactions/s (%d in %.2f s), CPU %.2f ms per interaction (server and in-process client)",
                 Double(loaded.count) / seconds, loaded.count, seconds, cpuPerInteraction))
    return samples
}
report("server interact request (in process, SQLite, commit included)", serverSamples)
try await database.close()
try? FileManager.default.removeItem(atPath: path)
