import AmigoWire
import Engine
import Synchronization

/// A bounded in-memory cache of what a conversation is pinned to: agent versions and graph sets.
///
/// Both are immutable once created (a new version never changes an old one), so a cached entry is
/// never stale; keys carry the organization so nothing crosses organizations. The cache only saves the
/// queries an interaction would repeat; it is dropped whole when it grows past `capacity`.
final class PinnedVersions: Sendable {
    private struct Key: Hashable {
        var orgID: String
        var id: String
        var version: Int
    }

    private struct Entries {
        var personas: [Key: Persona] = [:]
        var graphs: [Key: GraphSet] = [:]
    }

    private let entries = Mutex(Entries())
    private let capacity: Int

    init(capacity: Int = 512) {
        self.capacity = capacity
    }

    func persona(orgID: String, agent: VersionInfo, load: () async throws -> Persona) async throws -> Persona {
        try await cached(Key(orgID: orgID, id: agent.id, version: agent.version), in: \.personas, load: load)
    }

    func graphs(orgID: String, root: VersionInfo, load: () async throws -> GraphSet) async throws -> GraphSet {
        try await cached(Key(orgID: orgID, id: root.id, version: root.version), in: \.graphs, load: load)
    }

    private func cached<Value: Sendable>(
        _ key: Key, in table: any WritableKeyPath<Entries, [Key: Value]> & Sendable, load: () async throws -> Value
    ) async throws -> Value {
        if let value = entries.withLock({ $0[keyPath: table][key] }) { return value }
        let value = try await load()
        entries.withLock { entries in
            if entries[keyPath: table].count >= capacity { entries[keyPath: table].removeAll() }
            entries[keyPath: table][key] = value
        }
        return value
    }
}
