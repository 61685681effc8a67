import AmigoWire
import Engine
import Foundation
import Storage

extension Conversations {
    /// The first interaction of a simulated conversation: pinned to `versionSetInfo` (the versions its
    /// run fixed), under `user` (a simulated user, not stored), which no one else talks as. It starts
    /// with `initial` (user messages or external events, in order) or, without any, with the agent.
    public func prepareSimulated(
        orgID: String, serviceID: String, versionSetInfo: VersionSetInfo, user: User, userModel: [String], simulation: SimulationTag,
        initial: [(type: MessageType, text: String, at: Date)], at start: Date
    ) async throws -> PendingInteraction {
        let caller = Principal.simulatedUser(user)
        return try await prepare(isNew: true, holding: "create/\(orgID)/\(user.userID)/\(serviceID)", caller: caller, voiceReply: nil) {
            var record = ConversationRecord(
                id: ObjectID.generate(now: start), orgID: orgID, userID: user.userID, serviceID: serviceID, createdAt: start,
                versionSetInfo: versionSetInfo, tags: [:], position: ""
            )
            let pinnedRecord = record
            let setting = try await store.read { repositories in
                try await ConversationSetting.load(record: pinnedRecord, repositories: repositories, pinned: pinned)
            }
            record.position = try Self.encode(GraphPosition.initial(in: setting.graphs, returningUser: false))
            record.userModel = userModel.isEmpty ? nil : userModel
            record.simulation = simulation
            var input: [MessageInstance] = []
            var userMessage: MessageInstance?
            for (type, text, at) in initial {
                let message = Self.message(type, text, at: at, sender: type == .userMessage ? user.userID : "external")
                input.append(message)
                if type == .userMessage { userMessage = message }
            }
            return (record, setting, input, userMessage)
        }
    }
}

extension Principal {
    /// A simulated user: may talk in and finish its own conversations, nothing else.
    public static func simulatedUser(_ user: User) -> Principal {
        Principal(
            orgID: user.orgID, user: user,
            role: Role(
                id: ObjectID.generate(), name: "SimulatedUser", description: "A user played by the model in a simulation.",
                frontendView: .client,
                permissionGrants: Permission.conversation.map {
                    PermissionGrant(permissionName: $0, conditions: ["user_id": .equals(.string("{self_user_id}"))])
                }
            )
        )
    }
}
