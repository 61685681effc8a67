import AmigoWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOWebSocket

extension API {
    /// The browser-friendly bearer subprotocol: `bearer.authorization.amigo.ai.<JWT>`.
    static let bearerSubprotocolPrefix = "bearer.authorization.amigo.ai."

    /// `GET /v1/{org}/conversation/converse_realtime`, upgraded to a WebSocket.
    ///
    /// The upgrade is always accepted (echoing the bearer subprotocol, or browsers drop the socket);
    /// authentication and query problems are reported with the protocol's close codes, which is all a
    /// browser can see.
    func addRealtimeRoutes(to router: Router<AppContext>) {
        let api = self
        router.ws("/v1/:organization/conversation/converse_realtime", shouldUpgrade: { request, _ in
            var headers = HTTPFields()
            if let offered = Self.bearerSubprotocol(request.headers) { headers[.secWebSocketProtocol] = offered }
            return .upgrade(headers)
        }, onUpgrade: { inbound, outbound, context in
            let request = context.request
            let limits = api.realtimeLimits
            guard let orgID = context.requestContext.parameters.get("organization") else {
                try await outbound.close(.unknown(RealtimeConnection.CloseCode.notFound.rawValue), reason: "Organization not found.")
                return
            }
            let token = Self.bearerSubprotocol(request.headers).map { String($0.dropFirst(Self.bearerSubprotocolPrefix.count)) }
                ?? Self.bearerToken(request)
            guard let token, let caller = try? await api.authenticate(token: token, orgID: orgID) else {
                try await outbound.close(.unknown(RealtimeConnection.CloseCode.unauthorized.rawValue), reason: "Invalid authorization credentials.")
                return
            }
            let query = Query(request)
            switch query.string("response_format") {
            case "text": break
            case "voice":
                try await outbound.close(.unknown(RealtimeConnection.CloseCode.unsupportedMedia.rawValue), reason: "Voice is not supported by this server yet; use response_format=text.")
                return
            default:
                try await outbound.close(.unknown(RealtimeConnection.CloseCode.badRequest.rawValue), reason: "response_format must be text or voice.")
                return
            }
            let filter: AgentActionFilter
            do {
                filter = try AgentActionFilter(
                    pattern: query.string("current_agent_action_type"),
                    allowed: caller.can("Conversation:GetInteractionInsights", on: ["user_id": caller.user.userID])
                )
            } catch {
                try await outbound.close(.unknown(RealtimeConnection.CloseCode.badRequest.rawValue), reason: "current_agent_action_type is not a valid regular expression.")
                return
            }
            let session = RealtimeSession(
                api: api, orgID: orgID, caller: caller, filter: filter, limits: limits, outbound: outbound,
                logger: context.logger
            )
            await session.run(inbound: inbound)
        })
    }

    /// The offered `bearer.authorization.amigo.ai.<JWT>` subprotocol, if any (the header may list several).
    static func bearerSubprotocol(_ headers: HTTPFields) -> String? {
        headers[values: .secWebSocketProtocol]
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix(bearerSubprotocolPrefix) && $0.count > bearerSubprotocolPrefix.count }
    }
}
