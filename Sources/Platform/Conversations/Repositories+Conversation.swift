import AmigoWire
import Storage

extension Repositories {
    /// The conversation `id` of organization `orgID`, if `caller` holds `permission` on it (the
    /// conversation's owner is the resource's `user_id`): not found when it does not exist, forbidden
    /// without the permission.
    public func conversation(
        _ id: String, orgID: String, caller: Principal, requiring permission: String
    ) async throws -> ConversationRecord {
        guard let record = try await conversations.get(id: id, orgID: orgID) else {
            throw PlatformError.notFound("Conversation `\(id)` does not exist.")
        }
        try caller.require(permission, on: ["user_id": record.userID])
        if record.userID != caller.user.userID {
            try Visibility.requireConversationsVisible(of: try await users.get(id: record.userID, orgID: orgID), to: caller)
        }
        return record
    }
}
