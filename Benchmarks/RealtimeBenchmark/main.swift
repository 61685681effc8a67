// Many realtime sockets on one server: connections held, memory per idle connection, and the time
// from a user message to `server.interaction-complete` with an instant scripted model.
//
//   swift run -c release RealtimeBenchmark [connections (2000)] [rounds (3)]
//
// Every socket sends a user message every 10 s (from a random offset) for `rounds` rounds; the figures
// are the time to the first `server.new-message` and to `server.interaction-complete`.
//
// Server and clients share this process (in-process server on a loopback port, SQLite file), so the
// memory figure is an upper bound: it includes the client side of every socket.
import AmigoWire
import CompadreTesting
import Engine
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import Platform
import Server
import Storage
import Synchronization

#if canImport(Glibc)
import Glibc
import EngineTesting
#endif

let connections = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 2000
let rounds = CommandLine.arguments.dropFirst(2).first.flatMap(Int.init) ?? 3
let interval = Duration.seconds(10)

// Two descriptors per socket (both ends live here) plus the database.
var limit = rlimit()
getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
limit.rlim_cur = min(limit.rlim_max, rlim_t(connections * 2 + 512))
setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)

func residentKB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}

func percentile(_ sorted: [Duration], _ q: Double) -> Duration { sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
func ms(_ d: Duration) -> String { String(format: "%.2f ms", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000) }

let path = FileManager.default.temporaryDirectory.appendingPathComponent("compadre-rt-\(UUID().uuidString).sqlite").path
let database = try await SQLiteDatabase.open(path: path, logger: Logger(label: "bench"))
try await Migrations.apply(to: database, logger: Logger(label: "bench"))
let server = try await TestServer(database: database, model: ScriptedModel(defaultReply: ["Sure", ", here", " it is."]))
let admin = try await server.bootstrap()
let org = admin.organizationID

/// Users and their tokens, and the service they talk to.
let (service, tokens): (String, [String]) = try await server.test { client in
    let token = try await client.signIn(admin)
    let (_, _, service) = try await makeBenchmarkService(client, org: org, token: token)
    var tokens: [String] = []
    for index in 0..<connections {
        let invited = try await client.call(.post, "/v1/\(org)/user/", token: token, json: [
            "first_name": "User", "last_name": "\(index)", "email": "user\(index)@bench.example", "role_name": "DefaultUserRole",
        ])
        let userID = try invited.object()["user_id"] as! String
        tokens.append(try await client.signIn(org: org, keyID: admin.apiKeyID, key: admin.apiKey, userID: userID))
    }
    return (service, tokens)
}

func makeBenchmarkService(_ client: TestServer.Client, org: String, token: String) async throws -> (String, String, String) {
    let agent = try await client.call(.post, "/v1/\(org)/organization/agent", token: token, json: ["agent_name": "bench"]).object()["id"] as! String
    try await client.call(.post, "/v1/\(org)/organization/agent/\(agent)/", token: token, json: [
        "initials": "AB", "background": "Helps.", "behaviors": ["Kind"], "communication_patterns": ["Short"],
        "identity": ["name": "Ada", "role": "assistant", "developed_by": "Bench", "default_spoken_language": "eng",
                     "relationship_to_developer": ["ownership": "owned", "type": "assistant", "conversation_visibility": "visible", "thought_visibility": "hidden"]],
    ] as [String: Any])
    let graph = try await client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine", token: token, json: ["state_machine_name": "bench"]).object()["id"] as! String
    let definition: [String: Any] = [
        "description": "Bench", "new_user_initial_state": "talk", "returning_user_initial_state": "talk", "terminal_state": "done",
        "references": [String: Any](), "global_intra_state_navigation_guidelines": [String](), "global_action_guidelines": [String](),
        "global_boundary_constraints": [String](),
        "states": [
            ["type": "action", "name": "talk", "objective": "Talk", "actions": ["Answer"], "intra_state_navigation_guidelines": [String](),
             "action_guidelines": [String](), "boundary_constraints": [String](),
             "exit_conditions": [["description": "The user is done", "next_state": "done"]],
             "action_tool_call_specs": [String](), "exit_condition_tool_call_specs": [String](), "skip_active_memory_retrieval": false],
            ["type": "action", "name": "done", "objective": "End", "actions": ["Bye"], "intra_state_navigation_guidelines": [String](),
             "action_guidelines": [String](), "boundary_constraints": [String](), "exit_conditions": [[String: Any]](),
             "action_tool_call_specs": [String](), "exit_condition_tool_call_specs": [String](), "skip_active_memory_retrieval": false],
        ] as [[String: Any]],
    ]
    try await client.call(.post, "/v1/\(org)/organization/service_hierarchical_state_machine/\(graph)/", token: token, json: definition)
    let service = try await client.call(.post, "/v1/\(org)/service/", token: token, json: [
        "name": "bench", "description": "Benchmark", "is_active": true, "agent_id": agent,
        "service_hierarchical_state_machine_id": graph, "keyterms": [String](), "tags": [String: String](),
    ] as [String: Any]).object()["id"] as! String
    return (agent, graph, service)
}

let baseline = residentKB()
let results = try await server.live { port -> (held: Int, idleKB: Int, latencies: [(Duration, Duration)]) in
    let shared = Shared()
    let (allOpen, signalOpen) = AsyncStream<Void>.makeStream()
    let (go, signalGo) = AsyncStream<Void>.makeStream()
    var goBroadcast: [AsyncStream<Void>.Continuation] = []
    var idleState = (0, 0)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for token in tokens {
            let (mine, myContinuation) = AsyncStream<Void>.makeStream()
            goBroadcast.append(myContinuation)
            group.addTask {
                var configuration = WebSocketClientConfiguration()
                configuration.additionalHeaders[.secWebSocketProtocol] = "bearer.authorization.amigo.ai.\(token)"
                _ = try await WebSocketClient.connect(
                    url: "ws://127.0.0.1:\(port)/v1/\(org)/conversation/converse_realtime?response_format=text&current_agent_action_type=%5E%24",
                    configuration: configuration, logger: Logger(label: "client", factory: { _ in SwiftLogNoOpLogHandler() })
                ) { inbound, outbound, _ in
                    var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                    func until(_ type: String) async throws {
                        while let message = try await messages.next() {
                            if case .text(let text) = message, text.contains("\"type\":\"\(type)\"") { return }
                        }
                    }
                    try await outbound.writeTextMessage(#"{"type":"client.start-conversation","service_id":"\#(service)"}"#)
                    try await until("server.interaction-complete")
                    if shared.opened.add(1, ordering: .relaxed).newValue == connections { signalOpen.yield() }
                    for await _ in mine { break }
                    // Each socket sends a message every `interval`, starting at a random offset, so the
                    // server sees a steady connections/interval messages a second.
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0..<Int(interval.components.seconds * 1000))))
                    for _ in 0..<rounds {
                        let started = ContinuousClock.now
                        try await outbound.writeTextMessage(#"{"type":"client.new-text-message","text":"Hello there","message_type":"user-message"}"#)
                        try await until("server.new-message")
                        let firstMessage = ContinuousClock.now - started
                        try await until("server.interaction-complete")
                        let complete = ContinuousClock.now - started
                        shared.latencies.withLock { $0.append((firstMessage, complete)) }
                        try await Task.sleep(until: started + interval)
                    }
                    try await outbound.writeTextMessage(#"{"type":"client.close-connection"}"#)
                    while try await messages.next() != nil {}
                }
            }
        }
        for await _ in allOpen { break }
        let idle = residentKB()
        let held = shared.opened.load(ordering: .relaxed)
        idleState = (held, idle)
        for continuation in goBroadcast { continuation.yield() }
        _ = go
        signalGo.finish()
        try await group.waitForAll()
    }
    return (idleState.0, idleState.1, shared.latencies.withLock { $0 })
}
let first = results.latencies.map(\.0).sorted()
let sorted = results.latencies.map(\.1).sorted()
print("connections held at once: \(results.held)")
print("memory per idle connection (server + client side, in process): \((results.idleKB - baseline) / max(1, results.held)) KB (RSS \(baseline / 1024) MB → \(results.idleKB / 1024) MB)")
print("each socket sends a message every \(interval), \(rounds) rounds: \(first.count) turns")
print("client.new-text-message → first server.new-message: p50 \(ms(percentile(first, 0.5)))  p99 \(ms(percentile(first, 0.99)))  max \(ms(first.last ?? .zero))")
print("client.new-text-message → server.interaction-complete: p50 \(ms(percentile(sorted, 0.5)))  p99 \(ms(percentile(sorted, 0.99)))  max \(ms(sorted.last ?? .zero))")
try await database.close()
try? FileManager.default.removeItem(atPath: path)

final class Shared: Sendable {
    let opened = Atomic<Int>(0)
    let latencies = Mutex<[(Duration, Duration)]>([])
}
