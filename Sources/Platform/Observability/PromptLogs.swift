import AmigoWire
import Engine
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization

/// Where the model calls of a piece of work are logged: set around an interaction, a job or a request;
/// ``MeteredModel`` records every call made inside it.
public struct PromptLogScope: Sendable {
    @TaskLocal public static var current: PromptLogScope?

    let recorder: PromptLogRecorder
    let orgID: String
    let userID: String?
    let conversationID: String?
    /// The log keys' prefix (`conversation/<id>/<interaction>`, `job/<kind>/<subject>`, `request/<operation>/<id>`).
    let key: String

    public init(recorder: PromptLogRecorder, orgID: String, key: String, userID: String? = nil, conversationID: String? = nil) {
        self.recorder = recorder
        self.orgID = orgID
        self.key = key
        self.userID = userID
        self.conversationID = conversationID
    }

    /// Runs `body` with this scope.
    public func run<Result: Sendable>(_ body: () async throws -> Result) async rethrows -> Result {
        try await Self.$current.withValue(self, operation: body)
    }

}

/// Keeps every model call's prompt, answer, timing and size (`GET /admin/get_prompt_logs/`): a `Service`
/// of the group that writes what calls record in batches, off their path, and forgets logs older than
/// `retention` (default 30 days).
///
/// Rules:
/// - Recording never waits: calls append to a buffer of at most `capacity` entries (beyond it the oldest
///   are dropped and counted in the log); the service writes the buffer every `interval`, and on
///   shutdown. ``flush()`` writes it now (tests).
/// - A write that fails keeps nothing of that batch (logs are diagnostics, not data).
public final class PromptLogRecorder: ServiceLifecycle.Service, Sendable {
    let store: Store
    let retention: TimeInterval
    let interval: Duration
    let capacity: Int
    let logger: Logger
    private let buffer = Mutex<[PromptLogEntry]>([])
    private let dropped = Mutex(0)

    public init(store: Store, retention: TimeInterval = 30 * 86_400, interval: Duration = .seconds(1), capacity: Int = 10_000, logger: Logger) {
        self.store = store
        self.retention = retention
        self.interval = interval
        self.capacity = capacity
        self.logger = logger
    }

    func record(_ entry: PromptLogEntry) {
        buffer.withLock { entries in
            entries.append(entry)
            if entries.count > capacity {
                entries.removeFirst(entries.count - capacity)
                dropped.withLock { $0 += 1 }
            }
        }
    }

    /// Writes what was recorded.
    public func flush() async {
        let entries = buffer.withLock { entries in
            defer { entries = [] }
            return entries
        }
        guard !entries.isEmpty else { return }
        do {
            try await store.write { try await $0.promptLogs.insert(entries) }
        } catch {
            logger.warning("prompt logs could not be written", metadata: ["count": "\(entries.count)", "error": "\(error)"])
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var lastCleanup = ContinuousClock.now - .seconds(3600)
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                await self.flush()
                if ContinuousClock.now - lastCleanup >= .seconds(3600) {
                    lastCleanup = .now
                    let cutoff = Date().addingTimeInterval(-self.retention)
                    try? await self.store.write { try await $0.promptLogs.deleteOlder(than: cutoff) }
                }
                let lost = self.dropped.withLock { count in
                    defer { count = 0 }
                    return count
                }
                if lost > 0 { self.logger.warning("prompt logs dropped: the buffer was full", metadata: ["count": "\(lost)"]) }
            }
        }
        await flush()
    }
}

extension PromptLogScope {
    /// Records a finished call made in this scope.
    func record(
        _ request: ModelRequest, model: String, answer: String, outcome: String, startedAt: Date, duration: Duration, pieces: Int
    ) {
        // The call's id orders the keys of a scope by time (object ids grow), so a scope keeps no counter:
        // a request's scope costs no allocation.
        let id = ObjectID.generate(now: startedAt)
        let entry = PromptLogEntry(
            id: id, orgID: orgID, logKey: "\(key)/\(id)-\(request.kind.rawValue)", userID: userID, conversationID: conversationID,
            promptKind: request.kind.rawValue, model: model,
            messages: request.messages.map { PromptLogEntry.Message(role: $0.role.rawValue, content: $0.content) }, answer: answer,
            outcome: outcome, startedAt: startedAt, durationMs: Int(duration.timeInterval * 1000), outputPieces: pieces
        )
        recorder.record(entry)
    }
}
