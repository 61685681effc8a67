import AmigoWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOWebSocket
import Engine
import Platform

struct RealtimeController {
    let api: API

    /// The browser-friendly bearer subprotocol: `bearer.authorization.amigo.ai.<JWT>`.
    static let bearerSubprotocolPrefix = "bearer.authorization.amigo.ai."

    /// `GET /v1/{org}/conversation/converse_realtime`, upgraded to a WebSocket.
    ///
    /// The upgrade is always accepted (echoing the bearer subprotocol, or browsers drop the socket);
    /// authentication and query problems are reported with the protocol's close codes, which is all a
    /// browser can see.
    func addRoutes(to router: Router<AppContext>) {
        let api = api
        router.ws("/v1/:organization/conversation/converse_realtime", shouldUpgrade: { request, _ in
            var headers = HTTPFields()
            if let offered = Self.bearerSubprotocol(request.headers) { headers[.secWebSocketProtocol] = offered }
            return .upgrade(headers)
        }, onUpgrade: { inbound, outbound, context in
            let request = context.request
            let limits = api.realtimeLimits
            guard let orgID = context.requestContext.parameters.get("organization") else {
                await Self.refuse(inbound, outbound, .notFound, reason: "Organization not found.")
                return
            }
            let token = Self.bearerSubprotocol(request.headers).map { String($0.dropFirst(Self.bearerSubprotocolPrefix.count)) }
                ?? API.bearerToken(request)
            guard let token, let caller = try? await api.authenticate(token: token, orgID: orgID) else {
                await Self.refuse(inbound, outbound, .unauthorized, reason: "Invalid authorization credentials.")
                return
            }
            let query = Query(request)
            let voiceReply: SpokenAudioFormat?
            switch query.string("response_format") {
            case "text": voiceReply = nil
            case "voice":
                guard api.conversations.speech.textToSpeech != nil else {
                    await Self.refuse(inbound, outbound, .unsupportedMedia, reason: "This server has no text-to-speech engine; use response_format=text.")
                    return
                }
                guard let format = SpokenAudioFormat(rawValue: query.string("audio_format") ?? "pcm") else {
                    await Self.refuse(inbound, outbound, .unsupportedMedia, reason: "audio_format must be pcm or mp3.")
                    return
                }
                if format == .mp3, api.conversations.speech.encoder == nil {
                    await Self.refuse(inbound, outbound, .unsupportedMedia, reason: "This server cannot encode MP3; leave audio_format out or set it to pcm.")
                    return
                }
                voiceReply = format
            default:
                await Self.refuse(inbound, outbound, .badRequest, reason: "response_format must be text or voice.")
                return
            }
            let filter: AgentActionFilter
            do {
                filter = try AgentActionFilter(
                    pattern: query.string("current_agent_action_type"),
                    allowed: caller.can("Conversation:GetInteractionInsights", on: ["user_id": caller.user.userID]),
                    guardsSDK: false
                )
            } catch {
                await Self.refuse(inbound, outbound, .badRequest, reason: "current_agent_action_type is not a valid regular expression.")
                return
            }
            let session = RealtimeSession(
                api: api, orgID: orgID, caller: caller, filter: filter, voiceReply: voiceReply, limits: limits, outbound: outbound,
                logger: context.logger
            )
            await session.run(inbound: inbound)
        })
    }

    /// Closes a socket that is refused before its session starts (bad token, bad query).
    ///
    /// The close is sent once the client has sent its first frame, or after `settle`: a close frame that
    /// arrives while a client is still finishing its upgrade can be lost (seen with swift-websocket's
    /// client), leaving both sides waiting. Then it waits a bounded time for the client's close answer.
    static func refuse(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, _ code: RealtimeConnection.CloseCode,
        reason: String, settle: Duration = .milliseconds(250)
    ) async {
        // One reader for the whole exchange: an inbound stream can be iterated only once.
        let (firstFrame, signalFirstFrame) = AsyncStream<Void>.makeStream()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await _ in inbound { signalFirstFrame.yield() }
                } catch {}
                signalFirstFrame.finish()
            }
            await withTaskGroup(of: Void.self) { wait in
                wait.addTask { for await _ in firstFrame { break } }
                wait.addTask { try? await Task.sleep(for: settle) }
                await wait.next()
                wait.cancelAll()
            }
            try? await outbound.close(code.webSocketCode, reason: reason)
            // The reader ends when the client answers the close; don't wait for a client that never does.
            group.addTask { try? await Task.sleep(for: .seconds(2)) }
            await group.next()
            group.cancelAll()
        }
    }

    /// The offered `bearer.authorization.amigo.ai.<JWT>` subprotocol, if any (the header may list several).
    static func bearerSubprotocol(_ headers: HTTPFields) -> String? {
        headers[values: .secWebSocketProtocol]
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix(bearerSubprotocolPrefix) && $0.count > bearerSubprotocolPrefix.count }
    }
}
