import AmigoWire
import Foundation
import SQLKit
import Synchronization

/// Every repository, bound to one session or transaction. Obtain it through `Store.read` or `Store.write`.
public struct Repositories: Sendable {
    let sql: any SQLDatabase
    /// Where a write transaction notes the organizations whose cached data it changes; nil when reading.
    let touched: TouchedOrganizations?
    public init(sql: any SQLDatabase) {
        self.sql = sql
        self.touched = nil
    }

    init(sql: any SQLDatabase, touched: TouchedOrganizations?) {
        self.sql = sql
        self.touched = touched
    }

    /// Serializes the write transactions that name `key` until they end: on PostgreSQL a transaction
    /// advisory lock (check-then-write rules such as "one active set per name" hold across concurrent
    /// requests and replicas); SQLite runs one write transaction at a time anyway.
    public func serialize(_ key: String) async throws {
        guard sql.dialect.name == "postgresql" else { return }
        try await sql.raw("SELECT pg_advisory_xact_lock(hashtextextended(\(bind: key), 0)) AS locked").run()
    }

    public var settings: SettingsRepository { SettingsRepository(sql: sql) }
    public var organizations: OrganizationRepository { OrganizationRepository(sql: sql, touched: touched) }
    public var roles: RoleRepository { RoleRepository(sql: sql, touched: touched) }
    public var users: UserRepository { UserRepository(sql: sql, touched: touched) }
    public var apiKeys: APIKeyRepository { APIKeyRepository(sql: sql, touched: touched) }
    public var agents: VersionedResourceRepository<AgentVersion> {
        VersionedResourceRepository(sql: sql, table: "agents", versionTable: "agent_versions", parentColumn: "agent_id")
    }
    public var contextGraphs: VersionedResourceRepository<ContextGraphVersion> {
        VersionedResourceRepository(sql: sql, table: "context_graphs", versionTable: "context_graph_versions", parentColumn: "context_graph_id")
    }
    public var services: ServiceRepository { ServiceRepository(sql: sql, touched: touched) }
    public var conversations: ConversationRepository { ConversationRepository(sql: sql) }
    public var leases: LeaseRepository { LeaseRepository(sql: sql) }
    public var tools: ToolRepository { ToolRepository(sql: sql) }
    public var behaviors: DynamicBehaviorRepository { DynamicBehaviorRepository(sql: sql, touched: touched) }
    public var jobs: JobRepository { JobRepository(sql: sql) }
    public var memories: MemoryRepository { MemoryRepository(sql: sql) }
    public var metrics: MetricRepository { MetricRepository(sql: sql) }
    public var simulations: SimulationRepository { SimulationRepository(sql: sql) }
    public var webhooks: WebhookRepository { WebhookRepository(sql: sql) }
    public var promptLogs: PromptLogRepository { PromptLogRepository(sql: sql) }
}

/// The database with its repositories: `read` for one session, `write` for one transaction.
public struct Store: Sendable {
    public let database: any Database
    /// Advanced for an organization by every committed write to its users, roles, API keys or services.
    public let generations = OrganizationGenerations()

    public init(database: any Database) { self.database = database }

    public func read<Result: Sendable>(_ body: @Sendable (Repositories) async throws -> Result) async throws -> Result {
        try await database.withSession { try await body(Repositories(sql: $0)) }
    }

    public func write<Result: Sendable>(_ body: @Sendable (Repositories) async throws -> Result) async throws -> Result {
        let touched = TouchedOrganizations()
        let result = try await database.withTransaction { try await body(Repositories(sql: $0, touched: touched)) }
        // After the commit: a cache entry loaded before it carries an older generation and is reloaded.
        generations.advance(touched.ids.withLock { $0 })
        return result
    }
}

/// A counter per organization that every committed write to the organization's users, roles, API keys
/// or services advances. A cache reads the generation *before* it loads an entry and stores both; the
/// entry is stale once the generation moved on, so a change takes effect on the next request of the
/// process that made it. (Other processes learn of it when their entries expire.)
public final class OrganizationGenerations: Sendable {
    private let counters = Mutex<[String: UInt64]>([:])

    public init() {}

    public func current(_ orgID: String) -> UInt64 {
        counters.withLock { $0[orgID] ?? 0 }
    }

    func advance(_ orgIDs: Set<String>) {
        guard !orgIDs.isEmpty else { return }
        counters.withLock { counters in
            for id in orgIDs { counters[id, default: 0] &+= 1 }
        }
    }
}

/// The organizations a write transaction changed in ways caches keep.
final class TouchedOrganizations: Sendable {
    let ids = Mutex<Set<String>>([])

    func touch(_ orgID: String) {
        _ = ids.withLock { $0.insert(orgID) }
    }
}

/// Small key/value settings of the installation (for example the token signing secret).
public struct SettingsRepository: Sendable {
    let sql: any SQLDatabase

    public func value(for key: String) async throws -> String? {
        try await sql.select().column("value").from("settings").where("key", .equal, key).first()
            .map { try $0.decode(column: "value", as: String.self) }
    }

    /// Stores `value` unless the key already has one; returns the value that is stored.
    public func valueInsertingIfAbsent(_ value: String, for key: String) async throws -> String {
        try await sql.raw("INSERT INTO settings (key, value) VALUES (\(bind: key), \(bind: value)) ON CONFLICT (key) DO NOTHING").run()
        return try await self.value(for: key) ?? value
    }
}

public struct OrganizationRepository: Sendable {
    let sql: any SQLDatabase
    let touched: TouchedOrganizations?

    public func get(_ id: String) async throws -> Organization? {
        try await sql.select().column("doc").from("organizations").where("id", .equal, id).first()
            .map { try Documents.decode(Organization.self, from: $0) }
    }

    public func insert(_ organization: Organization) async throws {
        touched?.touch(organization.orgID)
        try await sql.insert(into: "organizations").columns("id", "doc")
            .values(SQLBind(organization.orgID), SQLBind(try Documents.encode(organization))).run()
    }

    public func update(_ organization: Organization) async throws {
        touched?.touch(organization.orgID)
        try await sql.update("organizations").set("doc", to: try Documents.encode(organization))
            .where("id", .equal, organization.orgID).run()
    }

    // MARK: - Erasing

    /// The tables holding rows of an organization (an `org_id` column), children before parents.
    public static let erasableTables = [
        "message_audio", "messages", "interactions", "conversations", "dynamic_behavior_invocations", "dynamic_behavior_set_versions",
        "dynamic_behavior_sets", "metric_results", "metrics", "memories", "user_models", "jobs", "tool_invocations", "tool_versions",
        "simulation_artifacts", "simulation_runs", "simulation_unit_test_sets", "simulation_unit_tests", "simulation_scenario_versions",
        "simulation_scenarios", "simulation_persona_versions", "simulation_personas", "replays", "webhook_deliveries",
        "webhook_destinations", "webhook_key_warnings", "temporary_permission_grants", "prompt_logs", "email_sign_ins", "services", "context_graph_versions",
        "context_graphs", "agent_versions", "agents", "api_keys", "users", "roles",
    ]

    /// Removes the organization's own row; true when there was one.
    public func removeRow(_ id: String) async throws -> Bool {
        touched?.touch(id)
        let found = try await get(id) != nil
        try await sql.delete(from: "organizations").where("id", .equal, id).run()
        return found
    }

    /// Erases the rows keyed by the organization's tools (their variables and the tools), and the leases
    /// of its conversations or naming it (`…/<org>/…`).
    public func eraseToolsAndLeases(of id: String) async throws {
        try await sql.raw("DELETE FROM tool_envvars WHERE tool_id IN (SELECT id FROM tools WHERE org_id = \(bind: id))").run()
        try await sql.raw("""
            DELETE FROM leases WHERE key LIKE \(bind: "%/\(id)/%") OR key IN \
            (SELECT 'conversation/' || id FROM conversations WHERE org_id = \(bind: id))
            """).run()
        try await sql.delete(from: "tools").where("org_id", .equal, id).run()
    }

    /// Erases the organization's rows of `table` (one of ``erasableTables``).
    public func erase(_ table: String, of id: String) async throws {
        precondition(Self.erasableTables.contains(table), "not an organization's table: \(table)")
        touched?.touch(id)
        try await sql.delete(from: table).where("org_id", .equal, id).run()
    }

    /// How many rows of the organization remain in every table that holds its rows (organization row included).
    public func remainingRows(of id: String) async throws -> Int {
        var total = try await get(id) == nil ? 0 : 1
        for table in Self.erasableTables + ["tools"] {
            let row = try await sql.raw("SELECT COUNT(*) AS n FROM \(ident: table) WHERE org_id = \(bind: id)").first()
            total += try row?.decode(column: "n", as: Int.self) ?? 0
        }
        return total
    }
}

public struct RoleRepository: Sendable {
    let sql: any SQLDatabase
    let touched: TouchedOrganizations?

    // MARK: - Temporary permission grants

    /// Stores a grant; the organization's cached callers are read again (the grant counts at once).
    public func insert(_ grant: TemporaryPermissionGrant) async throws {
        touched?.touch(grant.orgID)
        try await sql.raw("""
            INSERT INTO temporary_permission_grants (id, org_id, user_id, permission_name, expires_at, doc) VALUES (\(bind: grant.id), \
            \(bind: grant.orgID), \(bind: grant.userID), \(bind: grant.permissionGrant.permissionName), \
            \(bind: grant.expiresAt.timeIntervalSince1970), \(bind: try Documents.encode(grant)))
            """).run()
    }

    /// The user's grants that have not expired at `now`.
    public func activeGrants(userID: String, orgID: String, at now: Date) async throws -> [TemporaryPermissionGrant] {
        try await sql.raw("""
            SELECT doc FROM temporary_permission_grants WHERE org_id = \(bind: orgID) AND user_id = \(bind: userID) \
            AND expires_at > \(bind: now.timeIntervalSince1970)
            """).all().map { try Documents.decode(TemporaryPermissionGrant.self, from: $0) }
    }

    /// A page of the organization's grants matching `filter`.
    public func grants(orgID: String, filter: TemporaryGrantFilter, sort: [SortKey], page: PageRequest) async throws -> PageResult<TemporaryPermissionGrant> {
        let query = sql.select().column("doc").from("temporary_permission_grants").where("org_id", .equal, orgID)
        if !filter.ids.isEmpty { query.where("id", .in, filter.ids) }
        if !filter.userIDs.isEmpty { query.where("user_id", .in, filter.userIDs) }
        if let name = filter.permissionName { query.where("permission_name", .equal, name) }
        if let expired = filter.isExpired, let now = filter.now {
            query.where("expires_at", expired ? .lessThanOrEqual : .greaterThan, now.timeIntervalSince1970)
        }
        let rows = try await query.sorted(by: sort, then: "id").all()
        let all = try rows.map { try Documents.decode(TemporaryPermissionGrant.self, from: $0) }
            .filter { grant in
                (filter.creators.isEmpty || filter.creators.contains { $0 == "\(grant.creator.orgID),\(grant.creator.userID)" || $0 == grant.creator.userID })
                    && filter.tags.allSatisfy { $0.matches(grant.tags) }
            }
        return PageResult(all: all, page: page)
    }

    public func insert(_ role: Role, orgID: String) async throws {
        touched?.touch(orgID)
        try await sql.insert(into: "roles").columns("id", "org_id", "name", "doc")
            .values(SQLBind(role.id), SQLBind(orgID), SQLBind(role.name), SQLBind(try Documents.encode(role))).run()
    }

    public func update(_ role: Role, orgID: String) async throws {
        touched?.touch(orgID)
        try await sql.update("roles").set("doc", to: try Documents.encode(role)).where("id", .equal, role.id).where("org_id", .equal, orgID).run()
    }

    public func get(id: String, orgID: String) async throws -> Role? {
        try await sql.select().column("doc").from("roles").where("id", .equal, id).where("org_id", .equal, orgID).first()
            .map { try Documents.decode(Role.self, from: $0) }
    }

    public func get(name: String, orgID: String) async throws -> Role? {
        try await sql.select().column("doc").from("roles").where("name", .equal, name).where("org_id", .equal, orgID).first()
            .map { try Documents.decode(Role.self, from: $0) }
    }

    public func list(orgID: String, ids: [String] = [], names: [String] = []) async throws -> [Role] {
        let query = sql.select().column("doc").from("roles").where("org_id", .equal, orgID)
        if !ids.isEmpty { query.where("id", .in, ids) }
        if !names.isEmpty { query.where("name", .in, names) }
        return try await query.orderBy("id").all().map { try Documents.decode(Role.self, from: $0) }
    }
}

/// Filters of the user listing.
public struct UserFilter: Sendable {
    public var ids: [String] = []
    public var emails: [String] = []
    public init(ids: [String] = [], emails: [String] = []) {
        self.ids = ids
        self.emails = emails
    }
}

public struct UserRepository: Sendable {
    let sql: any SQLDatabase
    let touched: TouchedOrganizations?

    private static func searchText(_ user: User) -> String {
        "\(user.firstName) \(user.lastName) \(user.email)".lowercased()
    }

    public func insert(_ user: User) async throws {
        touched?.touch(user.orgID)
        try await sql.insert(into: "users")
            .columns("org_id", "id", "email", "role_id", "first_name", "last_name", "search_text", "doc")
            .values(
                SQLBind(user.orgID), SQLBind(user.userID), SQLBind(user.email.lowercased()), SQLBind(user.roleID),
                SQLBind(user.firstName), SQLBind(user.lastName), SQLBind(Self.searchText(user)), SQLBind(try Documents.encode(user))
            ).run()
    }

    public func update(_ user: User) async throws {
        touched?.touch(user.orgID)
        try await sql.update("users")
            .set("role_id", to: user.roleID).set("first_name", to: user.firstName).set("last_name", to: user.lastName)
            .set("search_text", to: Self.searchText(user)).set("doc", to: try Documents.encode(user))
            .where("org_id", .equal, user.orgID).where("id", .equal, user.userID).run()
    }

    public func get(id: String, orgID: String) async throws -> User? {
        try await sql.raw("SELECT doc FROM users WHERE org_id = \(bind: orgID) AND id = \(bind: id)").first()
            .map { try Documents.decode(User.self, from: $0) }
    }

    // MARK: - Email sign-in

    /// Stores a one-time sign-in link's token (by its hash).
    public func insertSignIn(tokenHash: String, userID: String, orgID: String, redirectLink: String, expiresAt: Date) async throws {
        try await sql.raw("""
            INSERT INTO email_sign_ins (token_hash, org_id, user_id, redirect_link, expires_at, used) VALUES (\(bind: tokenHash), \
            \(bind: orgID), \(bind: userID), \(bind: redirectLink), \(bind: expiresAt.timeIntervalSince1970), \(bind: false))
            """).run()
    }

    /// Uses a sign-in token once: its user and redirect when it exists in `orgID`, is unused and unexpired at `now`.
    public func redeemSignIn(tokenHash: String, orgID: String, now: Date) async throws -> (userID: String, redirectLink: String)? {
        guard let row = try await sql.raw("""
            SELECT user_id, redirect_link FROM email_sign_ins WHERE token_hash = \(bind: tokenHash) AND org_id = \(bind: orgID) \
            AND NOT used AND expires_at > \(bind: now.timeIntervalSince1970)
            """).first()
        else { return nil }
        try await sql.raw("UPDATE email_sign_ins SET used = \(bind: true) WHERE token_hash = \(bind: tokenHash)").run()
        return (try row.decode(column: "user_id", as: String.self), try row.decode(column: "redirect_link", as: String.self))
    }

    public func find(email: String, orgID: String) async throws -> User? {
        try await sql.select().column("doc").from("users").where("org_id", .equal, orgID).where("email", .equal, email.lowercased()).first()
            .map { try Documents.decode(User.self, from: $0) }
    }

    /// Users with their statistics.
    public func list(orgID: String, filter: UserFilter, sort: [SortKey], page: PageRequest) async throws -> PageResult<(User, UserStats)> {
        let query = sql.select().columns("doc", "num_conversations", "num_messages", "last_message_time").from("users").where("org_id", .equal, orgID)
        if !filter.ids.isEmpty { query.where("id", .in, filter.ids) }
        if !filter.emails.isEmpty { query.where("email", .in, filter.emails.map { $0.lowercased() }) }
        let rows = try await query.sorted(by: sort, then: "id").paged(page).all()
        return PageResult(fetched: try rows.map(Self.userWithStats), page: page)
    }

    /// Users whose name or e-mail contains `text` (case-insensitive).
    public func search(orgID: String, text: String, ids: [String], limit: Int) async throws -> [(User, UserStats)] {
        // `%` and `_` in the text act as wildcards in LIKE; the exact check below removes what they let through.
        let needle = text.lowercased()
        let query = sql.select().columns("doc", "num_conversations", "num_messages", "last_message_time").from("users")
            .where("org_id", .equal, orgID)
            .where(SQLIdentifier("search_text"), .like, SQLBind("%\(needle)%"))
        if !ids.isEmpty { query.where("id", .in, ids) }
        let rows = try await query.orderBy("id").all()
        return Array(try rows.map(Self.userWithStats)
            .filter { "\($0.0.firstName) \($0.0.lastName) \($0.0.email)".lowercased().contains(needle) }
            .prefix(limit))
    }

    /// Counts a user's conversation activity (shown in user listings as `user_stats`).
    public func recordActivity(
        userID: String, orgID: String, conversations: Int, messages: Int, at time: Date?
    ) async throws {
        // SQL text, like the other statements of every interaction (see `ConversationRepository`).
        try await sql.raw("""
            UPDATE users SET num_conversations = num_conversations + \(bind: conversations), num_messages = num_messages + \(bind: messages), \
            last_message_time = COALESCE(\(bind: time?.timeIntervalSince1970), last_message_time)
            WHERE id = \(bind: userID) AND org_id = \(bind: orgID)
            """).run()
    }

    public func delete(id: String, orgID: String) async throws {
        touched?.touch(orgID)
        try await sql.delete(from: "users").where("org_id", .equal, orgID).where("id", .equal, id).run()
    }

    public func count(orgID: String, roleID: String) async throws -> Int {
        try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("users")
            .where("org_id", .equal, orgID).where("role_id", .equal, roleID).first()
            .map { try $0.decode(column: "n", as: Int.self) } ?? 0
    }

    private static func userWithStats(_ row: any SQLRow) throws -> (User, UserStats) {
        let user = try Documents.decode(User.self, from: row)
        let last = try row.decodeNil(column: "last_message_time") ? nil : try row.decode(column: "last_message_time", as: Double.self)
        let stats = UserStats(
            numConversations: try row.decode(column: "num_conversations", as: Int.self),
            numMessages: try row.decode(column: "num_messages", as: Int.self),
            lastMessageTime: last.map { Date(timeIntervalSince1970: $0) }
        )
        return (user, stats)
    }
}

/// A stored API key: the listed instance and the hash of its secret.
public struct StoredAPIKey: Sendable {
    public var instance: APIKeyInstance
    public var secretHash: String
    public init(instance: APIKeyInstance, secretHash: String) {
        self.instance = instance
        self.secretHash = secretHash
    }
}

public struct APIKeyRepository: Sendable {
    let sql: any SQLDatabase
    let touched: TouchedOrganizations?

    public func insert(_ key: StoredAPIKey) async throws {
        touched?.touch(key.instance.orgID)
        try await sql.insert(into: "api_keys").columns("key_id", "id", "org_id", "secret_hash", "role_id", "expires_at", "doc")
            .values(
                SQLBind(key.instance.keyID), SQLBind(key.instance.id), SQLBind(key.instance.orgID), SQLBind(key.secretHash),
                SQLBind(key.instance.roleID), SQLBind(key.instance.expiresAt.timeIntervalSince1970), SQLBind(try Documents.encode(key.instance))
            ).run()
    }

    public func get(keyID: String, orgID: String) async throws -> StoredAPIKey? {
        try await sql.select().columns("doc", "secret_hash").from("api_keys").where("key_id", .equal, keyID).where("org_id", .equal, orgID).first()
            .map { StoredAPIKey(instance: try Documents.decode(APIKeyInstance.self, from: $0), secretHash: try $0.decode(column: "secret_hash", as: String.self)) }
    }

    public func list(orgID: String) async throws -> [APIKeyInstance] {
        try await sql.select().column("doc").from("api_keys").where("org_id", .equal, orgID).orderBy("id").all()
            .map { try Documents.decode(APIKeyInstance.self, from: $0) }
    }

    public func count(orgID: String) async throws -> Int {
        try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("api_keys")
            .where("org_id", .equal, orgID).first().map { try $0.decode(column: "n", as: Int.self) } ?? 0
    }

    public func delete(keyID: String, orgID: String) async throws {
        touched?.touch(orgID)
        try await sql.delete(from: "api_keys").where("key_id", .equal, keyID).where("org_id", .equal, orgID).run()
    }

    public func reassignRole(from oldRoleID: String, to newRoleID: String, orgID: String) async throws {
        touched?.touch(orgID)
        for key in try await list(orgID: orgID) where key.roleID == oldRoleID {
            var updated = key
            updated.roleID = newRoleID
            try await sql.update("api_keys").set("role_id", to: newRoleID).set("doc", to: try Documents.encode(updated))
                .where("key_id", .equal, key.keyID).run()
        }
    }
}

/// Filters of the temporary permission grant listing.
public struct TemporaryGrantFilter: Sendable {
    public var ids: [String] = []
    public var userIDs: [String] = []
    public var permissionName: String?
    public var isExpired: Bool?
    /// The time `isExpired` is judged at.
    public var now: Date?
    public var creators: [String] = []
    public var tags: [TagMatch] = []

    public init() {}
}
