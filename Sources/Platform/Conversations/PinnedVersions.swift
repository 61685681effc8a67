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
        let key = Key(orgID: orgID, id: agent.id, version: agent.version)
        if let cached = entries.withLock({ $0.personas[key] }) { return cached }
        let persona = try await load()
        entries.withLock { entries in
            if entries.personas.count >= capacity { entries.personas.removeAll() }
            entries.personas[key] = persona
        }
        return persona
    }

    func graphs(orgID: String, root: VersionInfo, load: () async throws -> GraphSet) async throws -> GraphSet {
        let key = Key(orgID: orgID, id: root.id, version: root.version)
        if let cached = entries.withLock({ $0.graphs[key] }) { return cached }
        let graphs = try await load()
        entries.withLock { entries in
            if entries.graphs.count >= capacity { entries.graphs.removeAll() }
            entries.graphs[key] = graphs
        }
        return graphs
    }
}
