import AmigoWire
import Foundation
import Storage

/// `get-prompt-logs`: the organization's logs whose keys start with a prefix, from the last 30 days,
/// as a zip of `{log_key}-system` (the system prompt) and `{log_key}-history` (the other messages, each
/// after a `---` line, then the answer and the call's model, outcome, duration and size), at most 1,000.
///
/// A log of a conversation is the caller's to read only when they may read that user's messages
/// (`Conversation:GetMessage`, and the user shows their conversations to others); otherwise the zip
/// holds `{log_key}-error` saying so.
public struct PromptLogDownloads: Sendable {
    public static let maximum = 1_000
    let store: Store

    public init(store: Store) { self.store = store }

    public func zip(prefix: String, caller: Principal, now: Date = Date()) async throws -> Data {
        let orgID = caller.orgID
        let (entries, owners) = try await store.read { repositories -> ([PromptLogEntry], [String: User]) in
            let entries = try await repositories.promptLogs.logs(
                orgID: orgID, prefix: prefix, after: now.addingTimeInterval(-30 * 86_400), limit: Self.maximum + 1
            )
            var owners: [String: User] = [:]
            for userID in Set(entries.compactMap(\.userID)) where userID != caller.user.userID {
                if let user = try await repositories.users.get(id: userID, orgID: orgID) { owners[userID] = user }
            }
            return (entries, owners)
        }
        if entries.count > Self.maximum {
            throw PlatformError.badRequest("More than \(Self.maximum) prompt logs start with this prefix; use a longer one.")
        }
        var archive = ZipArchive()
        for entry in entries {
            if let userID = entry.userID, userID != caller.user.userID,
               !(caller.can("Conversation:GetMessage", on: ["user_id": userID]) && Visibility.conversationsVisible(of: owners[userID], to: caller))
            {
                archive.add("\(entry.logKey)-error", Data("Not permitted: reading this log needs Conversation:GetMessage on user \(userID), whose conversations must be visible to you.\n".utf8))
                continue
            }
            let system = entry.messages.filter { $0.role == "system" }.map(\.content).joined(separator: "\n\n")
            var history = entry.messages.filter { $0.role != "system" }.map { "--- \($0.role)\n\($0.content)\n" }.joined()
            history += "--- answer (\(entry.model), \(entry.outcome), \(entry.durationMs) ms, \(entry.outputPieces) pieces, "
            history += "\(WireCoding.formatDate(entry.startedAt)))\n\(entry.answer)\n"
            archive.add("\(entry.logKey)-system", Data(system.utf8))
            archive.add("\(entry.logKey)-history", Data(history.utf8))
        }
        return archive.bytes
    }
}
