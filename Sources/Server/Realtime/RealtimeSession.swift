import AmigoWire
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import Metrics
import NIOCore
import NIOWebSocket
import Platform
import Storage
import Synchronization

/// The limits of a realtime socket. Defaults are the protocol's; a deployment may raise them
/// (continuous PCM streaming sends far more than 60 frames a minute).
public struct RealtimeLimits: Sendable, Hashable {
    /// Messages of any type per sliding minute; one more closes the socket with 4029.
    public var messagesPerMinute = 60
    /// Client silence that closes the socket with 3008.
    public var inactivityTimeout: Duration = .seconds(30)
    /// The largest message; a larger one closes the socket with 4000.
    public var maxMessageBytes = 1 << 20
    /// Decoded audio bytes per sliding minute (audio frames are not counted as messages); more closes
    /// 4029. The default is four times real time at 16 kHz 16-bit mono.
    public var audioBytesPerMinute = 4 * 60 * 32_000
    /// The largest utterance (manual mode, up to `audio: null`); larger closes 4000. About five minutes
    /// of 16 kHz PCM16.
    public var maxUtteranceBytes = 10 << 20

    public init(
        messagesPerMinute: Int = 60, inactivityTimeout: Duration = .seconds(30), maxMessageBytes: Int = 1 << 20,
        audioBytesPerMinute: Int = 4 * 60 * 32_000, maxUtteranceBytes: Int = 10 << 20
    ) {
        self.messagesPerMinute = messagesPerMinute
        self.inactivityTimeout = inactivityTimeout
        self.maxMessageBytes = maxMessageBytes
        self.audioBytesPerMinute = audioBytesPerMinute
        self.maxUtteranceBytes = maxUtteranceBytes
    }
}

/// One realtime socket: authenticates it, feeds what happens into a ``RealtimeConnection`` and performs
/// the actions it returns (sending frames, running interactions, closing).
///
/// Everything that happens reaches the connection through one mailbox, in order: client frames, timer
/// ticks and the end of interactions. Interactions run as child tasks so the socket keeps reading while
/// the agent answers (to interrupt it, or to queue the next message).
struct RealtimeSession {
    enum Input: Sendable {
        case frame(ByteBuffer)
        case tick
        case interactionFinished(completed: Bool)
        /// The end-of-turn model's verdict (nil: it failed).
        case turnJudged(check: Int, complete: Bool?)
        case clientGone
        /// The server is shutting down.
        case shutdown
    }

    let api: API
    let orgID: String
    let caller: Principal
    let filter: AgentActionFilter
    /// The client asked for `response_format=voice`: replies are spoken, in this format.
    let voiceReply: SpokenAudioFormat?
    let limits: RealtimeLimits
    let outbound: WebSocketOutboundWriter
    let logger: Logger

    /// Runs the session until it closes. `inbound` is read until the client goes away.
    func run(inbound: WebSocketInboundStream) async {
        let (mailbox, post) = AsyncStream<Input>.makeStream()
        let clock = api.realtimeClock
        let speech = api.conversations.speech
        var connection = RealtimeConnection(
            limits: limits, now: clock.now, turnDetection: speech.voiceActivity == nil ? nil : speech.turnDetection,
            hasEndOfTurnModel: speech.endOfTurn != nil
        )
        // Spoken replies go out paced like playback, so an interruption stops them at once.
        let pacing = VoicePacing(clock: clock)
        // VAD mode's detector stream, made when the first audio arrives in that mode.
        var detector: (any VoiceActivityStream)?
        let sink = RealtimeEventSink(outbound: outbound, filter: filter)
        var conversationID: String?
        var connectionLease: Lease?
        var interruption: Interruption?
        let connections = Meter(label: "compadre_realtime_connections")
        connections.increment()
        defer { connections.decrement() }
        // The session is part of the server's workload: a shutdown closes it once its turn is over.
        let ticket = try? api.conversations.workload.admit(windDown: { post.yield(.shutdown) }, cancel: { post.yield(.shutdown) })
        defer { ticket?.end() }
        if ticket == nil { post.yield(.shutdown) }

        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: limits.maxMessageBytes * 2) {
                        switch message {
                        case .text(let text): post.yield(.frame(ByteBuffer(string: text)))
                        case .binary(let buffer): post.yield(.frame(buffer))
                        }
                    }
                } catch {}
                post.yield(.clientGone)
            }
            // The timer sleeps until the connection's next deadline (the inactivity timeout), not on a
            // fixed beat: an idle socket costs one wake-up per timeout, not several a second.
            let deadline = Mutex(connection.nextDeadline)
            group.addTask {
                while !Task.isCancelled {
                    let due = deadline.withLock { $0 }
                    if due > clock.now {
                        try? await clock.sleep(until: due)
                    } else {
                        post.yield(.tick)
                        // Wait for the session to move the deadline (or close) before ticking again.
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                }
            }

            session: for await input in mailbox {
                var actions: [RealtimeConnection.Action]
                switch input {
                case .frame(let buffer):
                    actions = connection.received(frame: buffer.readableBytesView, at: clock.now, wallClock: Date())
                case .tick:
                    actions = connection.tick(at: clock.now)
                case .interactionFinished(let completed):
                    interruption = nil
                    actions = connection.interactionFinished(conversationCompleted: completed)
                case .turnJudged(let check, let complete):
                    actions = connection.turnJudged(check: check, complete: complete, wallClock: Date())
                case .clientGone:
                    interruption?.interrupt()
                    break session
                case .shutdown:
                    actions = connection.shutdown()
                }
                defer { deadline.withLock { $0 = connection.nextDeadline } }
                while !actions.isEmpty {
                    let action = actions.removeFirst()
                    switch action {
                    case .send(let message):
                        await send(message)
                    case .close(let code, let reason):
                        interruption?.interrupt()
                        // Free "one connection per user and service" before the client learns it may reconnect.
                        await connectionLease?.release()
                        connectionLease = nil
                        try? await outbound.close(code.webSocketCode, reason: reason)
                        break session
                    case .startConversation(let start):
                        actions += await startConversation(
                            start, connection: &connection, conversationID: &conversationID,
                            lease: &connectionLease, interruption: &interruption, group: &group, post: post, sink: sink
                        )
                    case .continueConversation(let id):
                        actions += await continueConversation(
                            id, connection: &connection, conversationID: &conversationID, lease: &connectionLease
                        )
                    case .runInteraction(let user, let events):
                        guard let id = conversationID else { continue }
                        var turn = Conversations.Turn(
                            events: events.map { (text: $0.text, at: $0.receivedAt) }, message: nil, checksEventTimes: false
                        )
                        switch user {
                        case .text(let text)?: turn.message = (.userMessage, text)
                        case .audio(let clip)?: turn.audio = clip
                        case nil: break
                        }
                        do {
                            let pending = try await api.conversations.prepareInteract(
                                orgID: orgID, conversationID: id, caller: caller, turn: turn, voiceReply: voiceReply
                            )
                            let stop = Interruption()
                            interruption = stop
                            let conversations = api.conversations
                            group.addTask {
                                let outcome = await conversations.run(pending, events: sink, interruption: stop, pacing: pacing)
                                post.yield(.interactionFinished(completed: outcome?.conversationCompleted ?? false))
                            }
                        } catch {
                            await send(.event(WireError(error).event))
                            actions += connection.interactionFinished(conversationCompleted: false)
                        }
                    case .detectSpeech(let pcm):
                        guard let voiceActivity = speech.voiceActivity else { continue }
                        let stream = detector ?? voiceActivity.stream()
                        detector = stream
                        do {
                            actions += connection.voiceActivity(try await stream.probabilities(pcm), wallClock: Date())
                        } catch {
                            await send(.error(httpErrorCode: 503, errorDescription: "Voice activity detection failed: \(PlatformError(error).message)"))
                        }
                    case .judgeTurn(let check, let audio):
                        // Off the session's loop: audio keeps flowing to the detector while the model thinks.
                        guard let endOfTurn = speech.endOfTurn else { continue }
                        let logger = logger
                        group.addTask {
                            do {
                                let completion = try await endOfTurn.completion(of: audio)
                                post.yield(.turnJudged(check: check, complete: completion >= 0.5))
                            } catch {
                                logger.warning("end-of-turn model failed; this turn ends on silence", metadata: ["error": "\(error)"])
                                post.yield(.turnJudged(check: check, complete: nil))
                            }
                        }
                    case .stopDetecting:
                        await detector?.close()
                        detector = nil
                    case .interruptInteraction:
                        interruption?.interrupt()
                    case .finishConversation:
                        guard let id = conversationID else { continue }
                        do {
                            try await api.conversations.finish(orgID: orgID, conversationID: id, caller: caller)
                            actions += connection.conversationFinished()
                        } catch {
                            await send(.event(WireError(error).event))
                        }
                    }
                }
            }
            post.finish()
            group.cancelAll()
        }
        await detector?.close()
        await connectionLease?.release()
    }

    // MARK: - Starting

    private func startConversation(
        _ start: RealtimeClientMessage.StartConversation, connection: inout RealtimeConnection,
        conversationID: inout String?, lease: inout Lease?, interruption: inout Interruption?,
        group: inout TaskGroup<Void>, post: AsyncStream<Input>.Continuation, sink: RealtimeEventSink
    ) async -> [RealtimeConnection.Action] {
        guard let held = await api.conversations.holdRealtimeConnection(orgID: orgID, userID: caller.user.userID, serviceID: start.serviceID) else {
            return connection.startFailed(.conflict, reason: "Another connection of this user is open for this service.")
        }
        let request = CreateConversationRequest(
            serviceID: start.serviceID, serviceVersionSetName: start.serviceVersionSetName,
            initialMessage: start.initialMessage, initialMessageType: start.initialMessageType, tags: start.tags
        )
        do {
            try caller.require("Conversation:CreateConversation", on: ["user_id": caller.user.userID])
            let pending = try await api.conversations.prepareCreate(orgID: orgID, caller: caller, request: request, voiceReply: voiceReply)
            lease = held
            conversationID = pending.record.id
            let stop = Interruption()
            interruption = stop
            let actions = connection.conversationStarted(id: pending.record.id, agentSpeaksFirst: true)
            // The created message goes out before the opening turn's events.
            var rest: [RealtimeConnection.Action] = []
            for action in actions {
                if case .send(let message) = action { await send(message) } else { rest.append(action) }
            }
            let conversations = api.conversations
            group.addTask {
                let outcome = await conversations.run(pending, events: sink, interruption: stop, pacing: VoicePacing(clock: api.realtimeClock))
                post.yield(.interactionFinished(completed: outcome?.conversationCompleted ?? false))
            }
            return rest
        } catch {
            await held.release()
            let failure = WireError(error)
            if let code = failure.closeCode { return connection.startFailed(code, reason: failure.message) }
            return connection.startRejected(httpErrorCode: failure.status.code, description: failure.message)
        }
    }

    private func continueConversation(
        _ id: String, connection: inout RealtimeConnection, conversationID: inout String?, lease: inout Lease?
    ) async -> [RealtimeConnection.Action] {
        let record: ConversationRecord?
        do {
            record = try await api.store.read { try await $0.conversations.get(id: id, orgID: orgID) }
        } catch {
            return connection.startFailed(.notFound, reason: "The conversation could not be read.")
        }
        guard let record, caller.can("Conversation:InteractWithConversation", on: ["user_id": record.userID]),
              record.userID == caller.user.userID
        else {
            return connection.startFailed(.notFound, reason: "Conversation `\(id)` does not exist.")
        }
        if record.isFinished { return connection.startFailed(.conflict, reason: "The conversation is already finished.") }
        guard let held = await api.conversations.holdRealtimeConnection(orgID: orgID, userID: record.userID, serviceID: record.serviceID) else {
            return connection.startFailed(.conflict, reason: "Another connection of this user is open for this service.")
        }
        lease = held
        conversationID = id
        return connection.conversationContinued(id: id)
    }

    private func send(_ message: RealtimeServerMessage) async {
        guard let data = try? message.encoded() else { return }
        try? await outbound.writeTextMessage(String(decoding: data, as: UTF8.self))
    }
}

/// Sends an interaction's events as `server.*` frames, filtered like the REST stream.
final class RealtimeEventSink: ConversationEventSink, @unchecked Sendable {
    // The filter's cache is touched by one interaction at a time (the connection runs one at a time).
    private var filter: AgentActionFilter
    private let outbound: WebSocketOutboundWriter

    init(outbound: WebSocketOutboundWriter, filter: AgentActionFilter) {
        self.outbound = outbound
        self.filter = filter
    }

    func write(_ event: ConversationEvent) async throws {
        // The session announces the conversation itself.
        if case .conversationCreated = event { return }
        guard filter.passes(event) else { return }
        let data = try RealtimeServerMessage.event(event).encoded()
        try await outbound.writeTextMessage(String(decoding: data, as: UTF8.self))
    }

    func fail(_ error: PlatformError) async throws {
        try await write(WireError(error).event)
    }
}

extension RealtimeConnection.CloseCode {
    var webSocketCode: WebSocketErrorCode {
        switch self {
        case .normal: .normalClosure
        case .goingAway: .goingAway
        default: .unknown(rawValue)
        }
    }
}
