import AmigoWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Platform
import Storage

/// Files Compadre serves at signed, expiring links (`SignedLinks`) instead of an object store: the audio
/// of voice messages. The link is the credential: no token, and a link that is wrong or expired is 403.
struct MediaRoutes {
    let api: API

    static func messageAudioPath(org: String, conversation: String, message: String) -> String {
        "/media/conversation/\(org)/\(conversation)/\(message)"
    }

    /// `scheme://host` the client reached this server at (`X-Forwarded-Proto` and `Host`, as a proxy in
    /// front of Compadre sets them).
    static func origin(of request: Request) -> String {
        let scheme = request.headers[HTTPField.Name("x-forwarded-proto")!].flatMap { $0 == "https" ? "https" : nil } ?? "http"
        let host = request.head.authority ?? "127.0.0.1"
        return "\(scheme)://\(host)"
    }

    func addRoutes(to router: Router<AppContext>) {
        let api = api
        router.get("/media/conversation/:organization/:conversation_id/:message_id") { request, context -> Response in
            let path = request.uri.path
            let query = request.uri.queryParameters
            guard api.links.allows(path: path, expires: query["expires"].map(String.init), signature: query["signature"].map(String.init), now: Date()),
                  let org = context.parameters.get("organization"),
                  let conversation = context.parameters.get("conversation_id"),
                  let message = context.parameters.get("message_id")
            else {
                throw PlatformError.forbidden("The link is not valid, or it has expired: ask for the message's source again.")
            }
            guard let audio = try await api.store.read({
                try await $0.conversations.audio(messageID: message, conversationID: conversation, orgID: org)
            }) else {
                throw PlatformError.notFound("The audio of this message is no longer stored.")
            }
            return Response(
                status: .ok, headers: [.contentType: audio.contentType, .cacheControl: "private, max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(bytes: audio.data))
            )
        }
    }
}
