import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

/// How long a client may take to send a request.
public struct RequestDeadlines: Sendable {
    /// From the connection opening to the end of its first request head. Default 10 s.
    public var head: Duration = .seconds(10)
    /// From a request's head to the end of its body. Default 30 s.
    public var body: Duration = .seconds(30)
    /// How long a keep-alive connection may sit idle between requests. Default 60 s.
    public var idle: Duration = .seconds(60)

    public init() {}
}

/// The deadlines of one HTTP/1 connection, as a state machine that returns actions.
///
/// Rules:
/// - The first request head must be complete within `head` of the connection opening, or the
///   connection is closed (a client sending its headers a byte at a time).
/// - A request's body must be complete within `body` of its head, or the connection is closed. The
///   timer is armed only when a read ends with the body still incomplete, so a request that arrives
///   whole (every GET) arms nothing.
/// - A parse error (malformed request, oversized headers) before the first request was handed on is
///   answered here — 431 for oversized headers, otherwise 400 — with `Connection: close`, and the
///   connection is closed. Later ones are answered by Hummingbird.
/// - An upgrade to WebSocket ends the guard: the socket has its own inactivity rules.
/// - Between requests the connection's idle timeout applies (Hummingbird's, configured with `idle`).
struct ConnectionDeadlineState {
    enum Phase: Equatable {
        case awaitingFirstHead
        case betweenRequests
        case receivingBody(timerArmed: Bool)
        case done
    }

    enum Action: Equatable {
        case none
        case arm(Duration)
        case cancelTimer
        case reject(HTTPResponseStatus)
        case close
        /// The guard has nothing left to do on this connection.
        case remove
    }

    private(set) var phase = Phase.awaitingFirstHead
    let deadlines: RequestDeadlines

    init(deadlines: RequestDeadlines) { self.deadlines = deadlines }

    mutating func opened() -> Action {
        phase == .awaitingFirstHead ? .arm(deadlines.head) : .none
    }

    mutating func receivedHead() -> Action {
        switch phase {
        case .awaitingFirstHead, .betweenRequests:
            phase = .receivingBody(timerArmed: false)
            return .cancelTimer
        case .receivingBody, .done:
            return .none
        }
    }

    mutating func receivedEnd() -> Action {
        guard case .receivingBody(let armed) = phase else { return .none }
        phase = .betweenRequests
        return armed ? .cancelTimer : .none
    }

    mutating func readComplete() -> Action {
        guard case .receivingBody(false) = phase else { return .none }
        phase = .receivingBody(timerArmed: true)
        return .arm(deadlines.body)
    }

    mutating func timerFired() -> Action {
        switch phase {
        case .awaitingFirstHead, .receivingBody:
            phase = .done
            return .close
        case .betweenRequests, .done:
            return .none
        }
    }

    mutating func parseFailed(_ error: any Error) -> Action {
        guard phase == .awaitingFirstHead else { return .none }
        phase = .done
        if let error = error as? HTTPParserError, error == .headerOverflow {
            return .reject(.requestHeaderFieldsTooLarge)
        }
        return .reject(.badRequest)
    }

    mutating func upgraded() -> Action {
        phase = .done
        return .remove
    }
}

/// Applies ``ConnectionDeadlineState`` to a channel: sits after NIO's HTTP/1 decoder and upgrade
/// handler, passing everything on.
final class ConnectionDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var state: ConnectionDeadlineState
    private var timer: Scheduled<Void>?

    init(deadlines: RequestDeadlines) {
        state = ConnectionDeadlineState(deadlines: deadlines)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { perform(state.opened(), context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(state.opened(), context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: perform(state.receivedHead(), context: context)
        case .end: perform(state.receivedEnd(), context: context)
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        perform(state.readComplete(), context: context)
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is HTTPServerUpgradeEvents {
            perform(state.upgraded(), context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let action = state.parseFailed(error)
        guard action != .none else { return context.fireErrorCaught(error) }
        perform(action, context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func perform(_ action: ConnectionDeadlineState.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .arm(let duration):
            timer?.cancel()
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: TimeAmount(duration)) {
                let (handler, context) = loopBound.value
                handler.perform(handler.state.timerFired(), context: context)
            }
        case .cancelTimer:
            timer?.cancel()
            timer = nil
        case .reject(let status):
            timer?.cancel()
            timer = nil
            let head = HTTPResponseHead(version: .http1_1, status: status, headers: ["connection": "close", "content-length": "0"])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
        case .close:
            timer = nil
            context.close(promise: nil)
        case .remove:
            timer?.cancel()
            timer = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}

/// Hummingbird's HTTP/1 channel with the WebSocket upgrade, guarded by ``ConnectionDeadlineHandler``.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value

    let inner: HTTP1WebSocketUpgradeChannel
    let deadlines: RequestDeadlines

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(ConnectionDeadlineHandler(deadlines: deadlines))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with the WebSocket upgrade of `webSocketRouter`, with request deadlines and parse errors
    /// answered on a connection's first request.
    static func guardedHTTP1WebSocketUpgrade<WSResponderBuilder: HTTPResponderBuilder>(
        webSocketRouter: WSResponderBuilder, maxFrameSize: Int, deadlines: RequestDeadlines
    ) -> HTTPServerBuilder where WSResponderBuilder.Responder.Context: WebSocketRequestContext {
        let webSocketResponder = webSocketRouter.buildResponder()
        return .init { responder in
            GuardedHTTP1Channel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder, webSocketResponder: webSocketResponder,
                    configuration: .init(
                        http1: .init(idleTimeout: TimeAmount(deadlines.idle)),
                        ws: .init(maxFrameSize: maxFrameSize)
                    )
                ),
                deadlines: deadlines
            )
        }
    }
}

