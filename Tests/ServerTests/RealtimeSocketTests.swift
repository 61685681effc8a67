import AmigoWire
import CompadreTesting
import Engine
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Platform
import Server
import Synchronization
import Testing
import EngineTesting
import StorageTesting

/// A realtime client for tests: sends frames, collects the server's, and reports how the socket closed.
struct RealtimeProbe: Sendable {
    let port: Int
    let org: String
    let token: String

    /// Connects, runs `script` with a handle, and returns the close frame.
    @discardableResult
    func connect(
        query: String = "response_format=text", subprotocol: String? = nil,
        _ script: @escaping @Sendable (Handle) async throws -> Void
    ) async throws -> WebSocketCloseFrame? {
        var configuration = WebSocketClientConfiguration(maxFrameSize: 4 << 20)
        configuration.additionalHeaders[.secWebSocketProtocol] = subprotocol ?? "bearer.authorization.amigo.ai.\(token)"
        return try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)/v1/\(org)/conversation/converse_realtime?\(query)",
            configuration: configuration, logger: Logger(label: "probe")
        ) { inbound, outbound, _ in
            let handle = Handle(outbound: outbound, inbound: inbound.messages(maxSize: 4 << 20).makeAsyncIterator())
            try await script(handle)
        }
    }

    final class Handle: @unchecked Sendable {
        let outbound: WebSocketOutboundWriter
        var inbound: WebSocketInboundMessageStream.AsyncIterator
        private(set) var received: [[String: Any]] = []

        init(outbound: WebSocketOutboundWriter, inbound: WebSocketInboundMessageStream.AsyncIterator) {
            self.outbound = outbound
            self.inbound = inbound
        }

        func send(_ json: [String: Any]) async throws {
            try await outbound.writeTextMessage(String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self))
        }

        func sendRaw(_ text: String) async throws {
            try await outbound.writeTextMessage(text)
        }

        /// Reads frames until one has `type`; returns it (nil when the socket closed first).
        @discardableResult
        func next(_ type: String) async throws -> [String: Any]? {
            while let message = try await inbound.next() {
                guard case .text(let text) = message,
                      let frame = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { continue }
                received.append(frame)
                if frame["type"] as? String == type { return frame }
            }
            return nil
        }

        /// Starts a conversation and waits for the agent's opening turn; returns its id.
        func start(service: String) async throws -> String {
            try await send(["type": "client.start-conversation", "service_id": service])
            guard let created = try await next("server.conversation-created"),
                  let id = created["conversation_id"] as? String else { throw TestFailure("no server.conversation-created") }
            try await next("server.interaction-complete")
            return id
        }

        /// Reads until the server closes.
        func drain() async throws {
            while try await inbound.next() != nil {}
        }

        var types: [String] { received.compactMap { $0["type"] as? String } }
    }
}

extension WebSocketCloseFrame {
    var code: UInt16? {
        switch closeCode {
        case .normalClosure: 1000
        case .unknown(let code): code
        default: nil
        }
    }
}

@Suite("Realtime socket")
struct RealtimeSocketTests {
    /// A live server with a service, signed in as the administrator.
    static func withSocket(
        model: ScriptedModel = ScriptedModel(), limits: RealtimeLimits = RealtimeLimits(), clock: AnyClock = .continuous,
        _ body: @Sendable (RealtimeProbe, ConversationSetup, TestServer) async throws -> Void
    ) async throws {
        try await TestDatabase.sqlite.with { database in
            let server = try await TestServer(database: database, model: model, realtimeLimits: limits, realtimeClock: clock)
            let setup = try await server.test { client in try await ConversationSetup.make(server, client) }
            try await server.live { port in
                try await body(RealtimeProbe(port: port, org: setup.org, token: setup.token), setup, server)
            }
        }
    }

    static func messages(_ server: TestServer, _ setup: ConversationSetup, _ id: String) async throws -> [(String, String)] {
        try await server.test { client in
            try await setup.messages(client, id).map { ($0["message_type"] as? String ?? "", $0["message"] as? String ?? "") }
        }
    }

    @Test func aConversationStartsConversesAndContinuesOnANewSocket() async throws {
        try await Self.withSocket { probe, setup, server in
            let ids = Mutex<[String]>([])
            let closed = try await probe.connect { socket in
                let id = try await socket.start(service: setup.service)
                ids.withLock { $0.append(id) }
                try await socket.send(["type": "client.new-text-message", "text": "Hi there", "message_type": "user-message"])
                try await socket.next("server.interaction-complete")
                #expect(socket.types.contains("server.user-message-available"))
                #expect(socket.types.contains("server.current-agent-action"))
                #expect(socket.types.contains("server.new-message"))
                try await socket.send(["type": "client.close-connection"])
                try await socket.drain()
            }
            #expect(closed?.code == 1000)
            let id = try #require(ids.withLock { $0.first })

            let again = try await probe.connect { socket in
                try await socket.send(["type": "client.continue-conversation", "conversation_id": id])
                try await socket.next("server.conversation-continued")
                try await socket.send(["type": "client.new-text-message", "text": "Still here", "message_type": "user-message"])
                try await socket.next("server.interaction-complete")
                try await socket.send(["type": "client.finish-conversation"])
                try await socket.drain()
            }
            #expect(again?.code == 1000)
            let stored = try await Self.messages(server, setup, id).map(\.1)
            #expect(stored == ["Hello, how can I help?", "Hi there", "Hello, how can I help?", "Still here", "Hello, how can I help?"])
            let finished = try await server.test { client -> Bool in
                let listed = try await client.call(.get, "/v1/\(setup.org)/conversation/?id=\(id)", token: setup.token).object()
                return (listed["conversations"] as? [[String: Any]])?.first?["is_finished"] as? Bool == true
            }
            #expect(finished)
        }
    }

    @Test func externalEventsWaitForTheNextInteractionAndCanStartOne() async throws {
        try await Self.withSocket { probe, setup, server in
            let ids = Mutex<[String]>([])
            try await probe.connect { socket in
                let id = try await socket.start(service: setup.service)
                ids.withLock { $0.append(id) }
                try await socket.send(["type": "client.new-text-message", "text": "Lab results arrived", "message_type": "external-event"])
                try await socket.send(["type": "client.new-text-message", "text": "Any news?", "message_type": "user-message"])
                try await socket.next("server.interaction-complete")
                try await socket.send(["type": "client.new-text-message", "text": "Thanks", "message_type": "user-message"])
                try await socket.next("server.interaction-complete")
                try await socket.send([
                    "type": "client.new-text-message", "text": "The doctor is ready", "message_type": "external-event", "start_interaction": true,
                ])
                try await socket.next("server.interaction-complete")
                try await socket.send(["type": "client.close-connection"])
                try await socket.drain()
            }
            let id = try #require(ids.withLock { $0.first })
            let stored = try await Self.messages(server, setup, id)
            #expect(stored.map(\.0) == [
                "agent-message", "external-event", "user-message", "agent-message", "user-message", "agent-message",
                "external-event", "agent-message",
            ])
            #expect(stored[1].1 == "Lab results arrived")
            #expect(stored[6].1 == "The doctor is ready")
        }
    }

    @Test func anUrgentEventInterruptsTheAnswerAndOnlyWhatWasSentIsStored() async throws {
        let model = ScriptedModel()
        let gate = ScriptedModel.Gate()
        model.script(.engageUser, .text(["Welcome."]), .held(gate, ["Let me", " explain", " everything."]))
        try await Self.withSocket(model: model) { probe, setup, server in
            let ids = Mutex<[String]>([])
            try await probe.connect { socket in
                let id = try await socket.start(service: setup.service)
                ids.withLock { $0.append(id) }
                try await socket.send(["type": "client.new-text-message", "text": "Explain", "message_type": "user-message"])
                // The first piece has reached the client; the model holds the rest back.
                let piece = try #require(try await socket.next("server.new-message"))
                #expect(piece["message"] as? String == "Let me")
                try await socket.send([
                    "type": "client.new-text-message", "text": "Emergency alert", "message_type": "external-event", "start_interaction": true,
                ])
                // The reply stops at once, without waiting for the model's next piece.
                let interrupted = try #require(try await socket.next("server.interaction-complete"))
                #expect(interrupted["full_message"] as? String == "Let me")
                gate.open()
                try await socket.next("server.interaction-complete")
                try await socket.send(["type": "client.close-connection"])
                try await socket.drain()
            }
            let id = try #require(ids.withLock { $0.first })
            let stored = try await Self.messages(server, setup, id)
            #expect(stored.map(\.1) == ["Welcome.", "Explain", "Let me", "Emergency alert", "Hello, how can I help?"])
        }
    }

    @Test func aUserMessageMidAnswerWaitsForTheAnswer() async throws {
        let model = ScriptedModel()
        let gate = ScriptedModel.Gate()
        model.script(.engageUser, .text(["Welcome."]), .held(gate, ["Let me", " explain."]))
        try await Self.withSocket(model: model) { probe, setup, server in
            let ids = Mutex<[String]>([])
            try await probe.connect { socket in
                let id = try await socket.start(service: setup.service)
                ids.withLock { $0.append(id) }
                try await socket.send(["type": "client.new-text-message", "text": "Explain", "message_type": "user-message"])
                await gate.waitUntilReached()
                try await socket.send(["type": "client.new-text-message", "text": "And more", "message_type": "user-message"])
                gate.open()
                try await socket.next("server.interaction-complete")
                try await socket.next("server.interaction-complete")
                #expect(!socket.types.contains("server.error"))
                try await socket.send(["type": "client.close-connection"])
                try await socket.drain()
            }
            let id = try #require(ids.withLock { $0.first })
            let stored = try await Self.messages(server, setup, id).map(\.1)
            #expect(stored == ["Welcome.", "Explain", "Let me explain.", "And more", "Hello, how can I help?"])
        }
    }

    @Test func badInputClosesWithTheProtocolsCodes() async throws {
        try await Self.withSocket { probe, setup, _ in
            func closeCode(query: String = "response_format=text", subprotocol: String? = nil, _ frames: [String]) async throws -> UInt16? {
                try await probe.connect(query: query, subprotocol: subprotocol) { socket in
                    for frame in frames { try await socket.sendRaw(frame) }
                    try await socket.drain()
                }?.code
            }
            let bad = RealtimeProbe(port: probe.port, org: setup.org, token: "not-a-token")
            let unauthorized = try await bad.connect { socket in try await socket.drain() }?.code
            #expect(unauthorized == 3000)
            let cases: [(name: String, query: String, frames: [String], code: UInt16)] = [
                ("unknown type", "response_format=text", [#"{"type":"client.dance"}"#], 4000),
                ("invalid JSON", "response_format=text", ["{not json"], 4000),
                ("1.1 MB frame", "response_format=text", [String(repeating: "x", count: 1_100_000)], 4000),
                ("61 messages in a minute", "response_format=text", Array(repeating: #"{"type":"client.extend-timeout"}"#, count: 61), 4029),
                ("no response_format", "", [], 4000),
                ("voice", "response_format=voice", [], 4015),
                ("invalid regex", "response_format=text&current_agent_action_type=%28", [], 4000),
                ("unknown conversation", "response_format=text", [#"{"type":"client.continue-conversation","conversation_id":"0123456789abcdef01234567"}"#], 4004),
                ("unknown service", "response_format=text", [#"{"type":"client.start-conversation","service_id":"0123456789abcdef01234567"}"#], 4004),
            ]
            for item in cases {
                let code = try await closeCode(query: item.query, item.frames)
                #expect(code == item.code, "\(item.name)")
            }
        }
    }

    @Test func silenceClosesWith3008() async throws {
        let clock = ManualClock()
        try await Self.withSocket(clock: AnyClock(clock)) { probe, _, _ in
            let code = try await probe.connect { socket in
                await clock.sleepers(atLeast: 1)  // the session's inactivity timer is armed
                clock.advance(by: .seconds(30))  // 30 s of client silence (the rule's edges: RealtimeConnectionTests)
                try await socket.drain()
            }?.code
            #expect(code == 3008)
        }
    }

    @Test func aSecondConnectionForTheSameServiceIsRefusedWith4009() async throws {
        try await Self.withSocket { probe, setup, _ in
            let (opened, signalOpened) = AsyncStream<Void>.makeStream()
            let (done, signalDone) = AsyncStream<Void>.makeStream()
            async let first = probe.connect { socket in
                try await socket.send(["type": "client.start-conversation", "service_id": setup.service])
                try await socket.next("server.interaction-complete")
                signalOpened.yield()
                for await _ in done { break }
                try await socket.send(["type": "client.close-connection"])
                try await socket.drain()
            }
            for await _ in opened { break }
            let second = try await probe.connect { socket in
                try await socket.send(["type": "client.start-conversation", "service_id": setup.service])
                try await socket.drain()
            }
            #expect(second?.code == 4009)
            signalDone.yield()
            #expect(try await first?.code == 1000)
        }
    }
}
