import AmigoWire
import Foundation
import SQLKit

/// The embeddings of a version's triggers, by the model that made them (a change of model makes them
/// stale: they are computed again and stored).
public struct TriggerVectors: Sendable, Hashable {
    public var model: String
    public var vectors: [[Float]]

    public init(model: String, vectors: [[Float]]) {
        self.model = model
        self.vectors = vectors
    }

    /// Little-endian float32s, vector after vector; the dimension is stored beside them.
    var data: Data {
        var data = Data(capacity: vectors.reduce(0) { $0 + $1.count } * 4)
        for vector in vectors {
            for value in vector { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        }
        return data
    }

    init?(model: String, dimension: Int, data: Data) {
        guard dimension > 0, data.count % (dimension * 4) == 0 else { return nil }
        let bytes = [UInt8](data)
        var vectors: [[Float]] = []
        vectors.reserveCapacity(bytes.count / (dimension * 4))
        var offset = 0
        while offset < bytes.count {
            var vector = [Float](repeating: 0, count: dimension)
            for index in 0..<dimension {
                let bits = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
                vector[index] = Float(bitPattern: bits)
                offset += 4
            }
            vectors.append(vector)
        }
        self.init(model: model, vectors: vectors)
    }
}

/// A version with its trigger embeddings, when they were computed.
public struct StoredBehaviorVersion: Sendable {
    public var version: DynamicBehaviorSetVersion
    public var vectors: TriggerVectors?

    public init(version: DynamicBehaviorSetVersion, vectors: TriggerVectors?) {
        self.version = version
        self.vectors = vectors
    }
}

/// Dynamic behavior sets, their versions (with trigger embeddings) and their invocations.
public struct DynamicBehaviorRepository: Sendable {
    let sql: any SQLDatabase
    let touched: TouchedOrganizations?

    // MARK: - Sets

    public func insert(_ set: DynamicBehaviorSet, orgID: String) async throws {
        touched?.touch(orgID)
        try await sql.raw("""
            INSERT INTO dynamic_behavior_sets (id, org_id, name, is_active, latest_version, doc) VALUES (\(bind: set.id), \
            \(bind: orgID), \(bind: set.name), \(bind: set.isActive), 0, \(bind: try Documents.encode(set)))
            """).run()
    }

    public func update(_ set: DynamicBehaviorSet, orgID: String) async throws {
        touched?.touch(orgID)
        try await sql.raw("""
            UPDATE dynamic_behavior_sets SET name = \(bind: set.name), is_active = \(bind: set.isActive), \
            doc = \(bind: try Documents.encode(set)) WHERE id = \(bind: set.id) AND org_id = \(bind: orgID)
            """).run()
    }

    public func get(id: String, orgID: String) async throws -> DynamicBehaviorSet? {
        try await sql.raw("SELECT doc FROM dynamic_behavior_sets WHERE id = \(bind: id) AND org_id = \(bind: orgID)")
            .first().map { try Documents.decode(DynamicBehaviorSet.self, from: $0) }
    }

    /// The latest version number of set `id` (0 before its first version).
    public func latestVersion(of id: String, orgID: String) async throws -> Int? {
        try await sql.raw("SELECT latest_version FROM dynamic_behavior_sets WHERE id = \(bind: id) AND org_id = \(bind: orgID)")
            .first().map { try $0.decode(column: "latest_version", as: Int.self) }
    }

    /// An active set named `name` other than `excluding`.
    public func activeSetExists(named name: String, orgID: String, excluding: String? = nil) async throws -> Bool {
        let rows = try await sql.raw("""
            SELECT id FROM dynamic_behavior_sets WHERE org_id = \(bind: orgID) AND name = \(bind: name) AND is_active = \(bind: true)
            """).all()
        return try rows.contains { try $0.decode(column: "id", as: String.self) != excluding }
    }

    /// Every set of the organization, oldest first.
    public func all(orgID: String) async throws -> [DynamicBehaviorSet] {
        try await sql.raw("SELECT doc FROM dynamic_behavior_sets WHERE org_id = \(bind: orgID) ORDER BY id").all()
            .map { try Documents.decode(DynamicBehaviorSet.self, from: $0) }
    }

    /// Deletes the set with its versions and invocations.
    public func delete(id: String, orgID: String) async throws {
        touched?.touch(orgID)
        try await sql.raw("DELETE FROM dynamic_behavior_invocations WHERE set_id = \(bind: id) AND org_id = \(bind: orgID)").run()
        try await sql.raw("DELETE FROM dynamic_behavior_set_versions WHERE set_id = \(bind: id) AND org_id = \(bind: orgID)").run()
        try await sql.raw("DELETE FROM dynamic_behavior_sets WHERE id = \(bind: id) AND org_id = \(bind: orgID)").run()
    }

    // MARK: - Versions

    /// Stores a version and makes it the set's latest.
    public func insert(_ version: DynamicBehaviorSetVersion, vectors: TriggerVectors?) async throws {
        touched?.touch(version.orgID)
        let dimension = vectors?.vectors.first?.count ?? 0
        try await sql.raw("""
            INSERT INTO dynamic_behavior_set_versions (set_id, version, org_id, doc, embedding_model, dimension, trigger_vectors) \
            VALUES (\(bind: version.setID), \(bind: version.version), \(bind: version.orgID), \(bind: try Documents.encode(version)), \
            \(bind: vectors?.model), \(bind: dimension), \(bind: vectors?.data))
            """).run()
        try await sql.raw("""
            UPDATE dynamic_behavior_sets SET latest_version = \(bind: version.version) \
            WHERE id = \(bind: version.setID) AND org_id = \(bind: version.orgID)
            """).run()
    }

    /// Replaces a version's trigger embeddings (computed again by another model).
    public func setVectors(_ vectors: TriggerVectors, setID: String, version: Int, orgID: String) async throws {
        try await sql.raw("""
            UPDATE dynamic_behavior_set_versions SET embedding_model = \(bind: vectors.model), \
            dimension = \(bind: vectors.vectors.first?.count ?? 0), trigger_vectors = \(bind: vectors.data) \
            WHERE set_id = \(bind: setID) AND version = \(bind: version) AND org_id = \(bind: orgID)
            """).run()
    }

    /// The versions selected by `range` (nil = all), sorted by version.
    public func versions(
        of setID: String, orgID: String, range: ClosedRange<Int>?, ascending: Bool, page: PageRequest
    ) async throws -> PageResult<DynamicBehaviorSetVersion> {
        let low = range?.lowerBound ?? 0
        let high = range?.upperBound ?? Int(Int32.max)
        let order = SQLRaw(ascending ? "ASC" : "DESC")
        let rows = try await sql.raw("""
            SELECT doc FROM dynamic_behavior_set_versions WHERE set_id = \(bind: setID) AND org_id = \(bind: orgID) \
            AND version >= \(bind: low) AND version <= \(bind: high) ORDER BY version \(order) \
            LIMIT \(bind: page.limit + 1) OFFSET \(bind: page.offset)
            """).all()
        return PageResult(fetched: try rows.map { try Documents.decode(DynamicBehaviorSetVersion.self, from: $0) }, page: page)
    }

    /// The latest version of each set in `setIDs`, with its trigger embeddings.
    public func latestVersions(of setIDs: [String], orgID: String) async throws -> [StoredBehaviorVersion] {
        guard !setIDs.isEmpty else { return [] }
        let rows = try await sql.raw("""
            SELECT v.doc, v.embedding_model, v.dimension, v.trigger_vectors FROM dynamic_behavior_set_versions v \
            JOIN dynamic_behavior_sets s ON s.id = v.set_id AND s.latest_version = v.version \
            WHERE v.org_id = \(bind: orgID) AND v.set_id IN \(SQLGroupExpression(setIDs.map { SQLBind($0) }))
            """).all()
        return try rows.map { row in
            let version = try Documents.decode(DynamicBehaviorSetVersion.self, from: row)
            var vectors: TriggerVectors?
            if let model = try row.decode(column: "embedding_model", as: String?.self),
               let data = try row.decode(column: "trigger_vectors", as: Data?.self) {
                vectors = TriggerVectors(model: model, dimension: try row.decode(column: "dimension", as: Int.self), data: data)
            }
            return StoredBehaviorVersion(version: version, vectors: vectors)
        }
    }

    // MARK: - Invocations

    public func insert(_ invocation: DynamicBehaviorInvocation) async throws {
        try await sql.raw("""
            INSERT INTO dynamic_behavior_invocations (id, org_id, set_id, conversation_id, invoked_at, doc) VALUES \
            (\(bind: invocation.id), \(bind: invocation.orgID), \(bind: invocation.setVersion.id), \(bind: invocation.conversationID), \
            \(bind: WireCoding.formatDate(invocation.invokedAt)), \(bind: try Documents.encode(invocation)))
            """).run()
    }

    /// Every invocation of set `setID`, by time of invocation.
    public func invocations(of setID: String, orgID: String, ascending: Bool) async throws -> [DynamicBehaviorInvocation] {
        let order = SQLRaw(ascending ? "ASC" : "DESC")
        return try await sql.raw("""
            SELECT doc FROM dynamic_behavior_invocations WHERE set_id = \(bind: setID) AND org_id = \(bind: orgID) \
            ORDER BY invoked_at \(order), id \(order)
            """).all().map { try Documents.decode(DynamicBehaviorInvocation.self, from: $0) }
    }
}
