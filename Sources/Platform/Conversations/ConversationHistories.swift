import AmigoWire
import Storage
import Synchronization

/// The last messages of the conversations this process talks in, so an interaction does not read and
/// decode its conversation's history again (it was the largest part of an interaction's own cost).
///
/// Rules:
/// - An entry is tagged with the conversation's interaction count and last interaction when it was
///   stored, and is used only when the record read under the conversation's lease carries the same
///   tag: an interaction committed by another process (or a restart) changes it, and the history is
///   read from the database again.
/// - It is stored after a commit, with the committed messages, trimmed to the window. A failed
///   interaction stores nothing, so its entry stays as it was.
/// - A finished conversation is forgotten; past `capacity` conversations the cache starts over empty.
final class ConversationHistories: Sendable {
    private struct Entry {
        var interactionCount: Int
        var lastInteractionID: String?
        var messages: [MessageInstance]
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int

    init(capacity: Int = 1000) {
        self.capacity = capacity
    }

    /// The cached history of `record`'s conversation, or nil when it must be read.
    func messages(of record: ConversationRecord) -> [MessageInstance]? {
        entries.withLock { entries in
            guard let entry = entries[record.id], entry.interactionCount == record.interactionCount,
                  entry.lastInteractionID == record.lastInteractionID else { return nil }
            return entry.messages
        }
    }

    /// Remembers the history of a conversation whose interaction was just committed as `record`; a
    /// finished conversation is forgotten.
    func store(_ messages: [MessageInstance], of record: ConversationRecord, window: Int) {
        guard !record.isFinished else { return forget(record.id) }
        let entry = Entry(interactionCount: record.interactionCount, lastInteractionID: record.lastInteractionID, messages: Array(messages.suffix(window)))
        entries.withLock { entries in
            if entries[record.id] == nil, entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[record.id] = entry
        }
    }

    func forget(_ conversationID: String) {
        _ = entries.withLock { $0.removeValue(forKey: conversationID) }
    }
}
