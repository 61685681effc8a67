import AmigoWire
import Engine
import Foundation
import Logging
import Storage
import Synchronization

/// The organization's dynamic behavior sets: their rules (one active set per name, services and tools
/// that exist, version numbers in order), their trigger embeddings, and the candidates a conversation
/// of a service may select from.
///
/// Trigger embeddings are computed once per version, when it is created, and stored with the model's
/// name. A version stored without them (no embedder then, or it failed) or by another model gets them
/// the first time a conversation needs them.
public struct DynamicBehaviors: Sendable {
    public let store: Store
    public let embedder: (any Embedder)?
    let logger: Logger
    let now: @Sendable () -> Date
    private let candidateCache: OrganizationCache<String, [BehaviorCandidate]>

    public init(store: Store, embedder: (any Embedder)?, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.embedder = embedder
        self.logger = logger
        self.now = now
        candidateCache = OrganizationCache(generations: store.generations, lifetime: .seconds(1))
    }

    // MARK: - Sets

    public func create(_ request: CreateDynamicBehaviorSetRequest, caller: Principal) async throws -> String {
        let orgID = caller.orgID
        let name = request.name.trimmingCharacters(in: .whitespacesAndNewlines)
        let input = request.initialVersion.version.stripped
        let vectors = await embedTriggers(input.conversationTriggers)
        let set = DynamicBehaviorSet(
            id: ObjectID.generate(now: now()), name: name, isActive: request.initialVersion.isActive,
            appliedToServices: request.appliedToServices.uniqued, tags: Self.stripped(request.tags), createdAt: now(),
            creator: caller.userInfo
        )
        try await store.write { repositories in
            try await repositories.serialize("dynamic-behavior-names/\(orgID)")
            try await repositories.requireServices(set.appliedToServices, orgID: orgID)
            try await Self.requireTools(input.actions, orgID: orgID, in: repositories)
            if set.isActive, try await repositories.behaviors.activeSetExists(named: name, orgID: orgID) {
                throw PlatformError.conflict("An active dynamic behavior set named `\(name)` already exists.")
            }
            try await repositories.behaviors.insert(set, orgID: orgID)
            try await repositories.behaviors.insert(Self.version(1, of: set.id, input, caller: caller, at: set.createdAt), vectors: vectors)
        }
        return set.id
    }

    public func update(_ id: String, _ request: UpdateDynamicBehaviorSetRequest, caller: Principal) async throws {
        let orgID = caller.orgID
        try await store.write { repositories in
            try await repositories.serialize("dynamic-behavior-names/\(orgID)")
            var set = try await Self.existing(id, orgID: orgID, in: repositories)
            if let name = request.name { set.name = name.trimmingCharacters(in: .whitespacesAndNewlines) }
            if let tags = request.tags { set.tags = Self.stripped(tags) }
            if let services = request.appliedToServices {
                set.appliedToServices = services.uniqued
                try await repositories.requireServices(set.appliedToServices, orgID: orgID)
            }
            if let isActive = request.isActive { set.isActive = isActive }
            if set.isActive, try await repositories.behaviors.activeSetExists(named: set.name, orgID: orgID, excluding: id) {
                throw PlatformError.conflict("Another active dynamic behavior set named `\(set.name)` already exists.")
            }
            set.updatedAt = now()
            set.updatedBy = caller.userInfo
            try await repositories.behaviors.update(set, orgID: orgID)
        }
    }

    public func delete(_ id: String, caller: Principal) async throws {
        let orgID = caller.orgID
        try await store.write { repositories in
            _ = try await Self.existing(id, orgID: orgID, in: repositories)
            try await repositories.behaviors.delete(id: id, orgID: orgID)
        }
    }

    /// The sets that pass `filter`, sorted by `sort` (then by id), with the first page's filter values.
    public func list(
        orgID: String, filter: DynamicBehaviorFilter, sort: [SortKey], page: PageRequest
    ) async throws -> GetDynamicBehaviorSetsResponse {
        let all = try await store.read { try await $0.behaviors.all(orgID: orgID) }
        var sets = all.filter(filter.matches)
        sets.sort { lhs, rhs in
            for key in sort where lhs.updatedAt != rhs.updatedAt {
                return key.ascending == (lhs.updatedAt < rhs.updatedAt)
            }
            return lhs.id < rhs.id
        }
        let result = PageResult(all: sets, page: page)
        var filterValues: GetDynamicBehaviorSetsResponse.FilterValues?
        if page.offset == 0 {
            filterValues = .init(
                appliedToServicesIDs: Set(sets.flatMap(\.appliedToServices)).sorted(),
                creators: sets.map(\.creator).uniqued,
                tags: Set(sets.flatMap(\.tags.keys)).sorted()
            )
        }
        return GetDynamicBehaviorSetsResponse(
            sets: result.items, hasMore: result.hasMore, continuationToken: result.nextToken, filterValues: filterValues
        )
    }

    /// The sets whose name or latest triggers contain the query's words, best first, at most 50.
    public func search(_ query: String, orgID: String, filter: DynamicBehaviorFilter) async throws -> [DynamicBehaviorSet] {
        let terms = SearchText.words(query)
        guard !terms.isEmpty else { return [] }
        let (sets, versions) = try await store.read { repositories -> ([DynamicBehaviorSet], [StoredBehaviorVersion]) in
            let sets = try await repositories.behaviors.all(orgID: orgID).filter(filter.matches)
            return (sets, try await repositories.behaviors.latestVersions(of: sets.map(\.id), orgID: orgID))
        }
        let triggers = Dictionary(versions.map { ($0.version.setID, $0.version.conversationTriggers) }, uniquingKeysWith: { $1 })
        let scored = sets.compactMap { set -> (DynamicBehaviorSet, Int)? in
            let score = SearchText.score(terms, name: set.name, other: (triggers[set.id] ?? []).joined(separator: " "))
            return score > 0 ? (set, score) : nil
        }
        return scored.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.updatedAt > $1.0.updatedAt }.prefix(50).map(\.0)
    }

    // MARK: - Versions

    /// Creates the set's next version; `expected`, when given, must be that number (else 400).
    public func createVersion(
        of id: String, _ input: DynamicBehaviorVersionInput, expected: Int?, caller: Principal
    ) async throws -> Int {
        let orgID = caller.orgID
        let input = input.stripped
        let vectors = await embedTriggers(input.conversationTriggers)
        return try await store.write { repositories in
            try await repositories.serialize("dynamic-behavior/\(id)")
            _ = try await Self.existing(id, orgID: orgID, in: repositories)
            let next = (try await repositories.behaviors.latestVersion(of: id, orgID: orgID) ?? 0) + 1
            if let expected, expected != next {
                throw PlatformError.badRequest("Version \(expected) is not the next version of this dynamic behavior set (expected \(next)).")
            }
            try await Self.requireTools(input.actions, orgID: orgID, in: repositories)
            try await repositories.behaviors.insert(Self.version(next, of: id, input, caller: caller, at: now()), vectors: vectors)
            return next
        }
    }

    public func versions(
        of id: String, orgID: String, range: ClosedRange<Int>?, ascending: Bool, page: PageRequest
    ) async throws -> PageResult<DynamicBehaviorSetVersion> {
        try await store.read { repositories in
            _ = try await Self.existing(id, orgID: orgID, in: repositories)
            return try await repositories.behaviors.versions(of: id, orgID: orgID, range: range, ascending: ascending, page: page)
        }
    }

    /// The latest version number of the set (nil when the set does not exist).
    public func latestVersion(of id: String, orgID: String) async throws -> Int {
        try await store.read { repositories in
            _ = try await Self.existing(id, orgID: orgID, in: repositories)
            return try await repositories.behaviors.latestVersion(of: id, orgID: orgID) ?? 0
        }
    }

    // MARK: - Invocations

    /// The set's invocations whose messages the caller may read (permission and ``Visibility``).
    public func invocations(
        of id: String, caller: Principal, ascending: Bool, page: PageRequest
    ) async throws -> PageResult<DynamicBehaviorInvocation> {
        let orgID = caller.orgID
        let (all, hidden) = try await store.read { repositories in
            _ = try await Self.existing(id, orgID: orgID, in: repositories)
            let all = try await repositories.behaviors.invocations(of: id, orgID: orgID, ascending: ascending)
            // Users who hide their conversations from others (``Visibility``).
            var hidden: Set<String> = []
            for owner in Set(all.map(\.userID)) where owner != caller.user.userID {
                if !Visibility.conversationsVisible(of: try await repositories.users.get(id: owner, orgID: orgID), to: caller) { hidden.insert(owner) }
            }
            return (all, hidden)
        }
        let visible = all.filter { !hidden.contains($0.userID) && caller.can("Conversation:GetMessage", on: ["user_id": $0.userID]) }
        return PageResult(all: visible, page: page)
    }

    // MARK: - Candidates of a conversation

    /// The active sets applied to `serviceID`, each with its latest version and trigger embeddings.
    public func candidates(serviceID: String, orgID: String) async throws -> [BehaviorCandidate] {
        let all = try await candidateCache.value(orgID, orgID: orgID) { try await loadCandidates(orgID: orgID) }
        return all.filter { $0.services.contains(serviceID) }
    }

    private func loadCandidates(orgID: String) async throws -> [BehaviorCandidate] {
        let (sets, versions) = try await store.read { repositories -> ([DynamicBehaviorSet], [StoredBehaviorVersion]) in
            let sets = try await repositories.behaviors.all(orgID: orgID).filter(\.isActive)
            return (sets, try await repositories.behaviors.latestVersions(of: sets.map(\.id), orgID: orgID))
        }
        let byID = Dictionary(versions.map { ($0.version.setID, $0) }, uniquingKeysWith: { $1 })
        var result: [BehaviorCandidate] = []
        for set in sets {
            guard var stored = byID[set.id] else { continue }
            if let embedder, stored.vectors?.model != embedder.model {
                // Stored without vectors, or by another model: compute them now, once.
                if let vectors = await embedTriggers(stored.version.conversationTriggers) {
                    stored.vectors = vectors
                    let version = stored.version
                    try await store.write { repositories in
                        try await repositories.behaviors.setVectors(vectors, setID: version.setID, version: version.version, orgID: orgID)
                    }
                }
            }
            result.append(BehaviorCandidate(
                behavior: DynamicBehavior(
                    info: stored.version.info, triggers: stored.version.conversationTriggers, actions: stored.version.actions,
                    triggerVectors: stored.vectors?.model == embedder?.model ? stored.vectors?.vectors ?? [] : []
                ),
                services: Set(set.appliedToServices)
            ))
        }
        return result
    }

    /// The triggers' embeddings, or nil without an embedder or when it failed (computed later).
    func embedTriggers(_ triggers: [String]) async -> TriggerVectors? {
        guard let embedder else { return nil }
        do {
            let vectors = try await embedder.embed(triggers)
            guard vectors.count == triggers.count else { return nil }
            return TriggerVectors(model: embedder.model, vectors: vectors)
        } catch {
            logger.warning("trigger embeddings failed; computed when first needed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    // MARK: - Rules

    static func existing(_ id: String, orgID: String, in repositories: Repositories) async throws -> DynamicBehaviorSet {
        guard let set = try await repositories.behaviors.get(id: id, orgID: orgID) else {
            throw PlatformError.notFound("Dynamic behavior set `\(id)` does not exist.")
        }
        return set
    }

    static func requireTools(_ actions: [DynamicBehaviorAction], orgID: String, in repositories: Repositories) async throws {
        for id in actions.flatMap(\.toolIDs) {
            guard let tool = try await repositories.tools.get(id: id, orgID: orgID), !tool.deprecated else {
                throw PlatformError.notFound("Tool `\(id)` does not exist.")
            }
        }
    }

    static func version(
        _ number: Int, of setID: String, _ input: DynamicBehaviorVersionInput, caller: Principal, at date: Date
    ) -> DynamicBehaviorSetVersion {
        DynamicBehaviorSetVersion(
            id: ObjectID.generate(now: date), orgID: caller.orgID, setID: setID, version: number,
            conversationTriggers: input.conversationTriggers, actions: input.actions, creator: caller.userInfo, createdAt: date
        )
    }

    /// Tags with their keys and values stripped, as the API's stripped strings are stored.
    static func stripped(_ tags: [String: String?]) -> [String: String?] {
        var result: [String: String?] = [:]
        for (key, value) in tags {
            // `updateValue`: assigning a nil value through the subscript would drop the key.
            result.updateValue(value.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }, forKey: key.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return result
    }
}

/// A set a conversation may select: its latest version as the Engine takes it, and where it applies.
public struct BehaviorCandidate: Sendable {
    /// Its trigger vectors are empty when no embedder made them (it cannot be retrieved then).
    public var behavior: DynamicBehavior
    public var services: Set<String>
}

/// Filters of the set listing and search.
public struct DynamicBehaviorFilter: Sendable {
    public var ids: [String] = []
    public var isActive: Bool?
    public var appliedToServices: [String] = []
    /// `org_id,user_id` pairs, or bare user ids.
    public var creators: [String] = []
    /// `key:value`, `key:*` (any value) or `key:` (no value).
    public var tags: [(key: String, value: String)] = []

    public init() {}

    func matches(_ set: DynamicBehaviorSet) -> Bool {
        (ids.isEmpty || ids.contains(set.id))
            && (isActive.map { $0 == set.isActive } ?? true)
            && (appliedToServices.isEmpty || appliedToServices.contains { set.appliedToServices.contains($0) })
            && (creators.isEmpty || creators.contains { $0 == "\(set.creator.orgID),\(set.creator.userID)" || $0 == set.creator.userID })
            && tags.allSatisfy { TagMatch(key: $0.key, value: $0.value).matches(set.tags) }
    }
}
