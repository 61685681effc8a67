import AmigoWire
import Foundation
import NIOCore
import NIOHTTP1

extension AmigoClient {
    /// `POST /v1/{org}/compadre/replay/`: starts replaying a conversation against a version set of its
    /// service; returns the replay's id (Compadre's own API).
    public nonisolated func startReplay(conversationID: String, versionSetName: String) async throws -> String {
        var request = APIRequest(.POST, organizationPath + "/compadre/replay/")
        request.contentType = "application/json"
        let body = CreateReplayRequest(conversationID: conversationID, serviceVersionSetName: versionSetName)
        request.body = ByteBuffer(bytes: try WireEncoder().encode(body))
        return try await json(CreateReplayResponse.self, request).replayID
    }

    /// `GET /v1/{org}/compadre/replay/{id}/`: the replay, with its report once it completed.
    public nonisolated func replay(_ id: String) async throws -> ReplayReport {
        try await json(ReplayReport.self, APIRequest(.GET, organizationPath + "/compadre/replay/\(APIRequest.segment(id))/"))
    }
}
