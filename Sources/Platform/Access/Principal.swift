import AmigoWire
import Engine
import Foundation
import Storage

/// Every permission name Compadre checks, grouped by resource.
enum Permission {
    static let all: [String] = [
        "Organization:GetOrganizationDetails", "Organization:ModifyOrganization", "Organization:CreateOrganization", "Organization:DeleteOrganization",
        "Organization:CreateAPIKey", "Organization:GetAPIKey", "Organization:DeleteAPIKey",
        "Organization:CreateAgent", "Organization:GetAgent", "Organization:CreateAgentVersion", "Organization:DeleteAgent",
        "Organization:CreateServiceHierarchicalStateMachine", "Organization:GetServiceHierarchicalStateMachine",
        "Organization:CreateServiceHierarchicalStateMachineVersion", "Organization:DeleteServiceHierarchicalStateMachine",
        "Service:CreateService", "Service:GetService", "Service:UpdateService",
        "Service:CreateVersionSet", "Service:UpdateVersionSet", "Service:DeleteVersionSet", "Service:GetVersionSet",
        "User:InviteUser", "User:GetUserInfo", "User:UpdateUserInfo", "User:DeleteUser", "User:GetUserModel",
        "Role:CreateRole", "Role:GetRole", "Role:ModifyRole", "Role:CreateTemporaryPermissionGrant", "Role:GetTemporaryPermissionGrant",
        "Conversation:CreateConversation", "Conversation:GetConversation", "Conversation:GetMessage", "Conversation:InteractWithConversation",
        "Conversation:FinishConversation", "Conversation:GetInteractionInsights", "Conversation:GetRecommendedResponses", "Conversation:ModifyConversation",
        "Admin:GetModels", "Admin:GetPromptLogs", "Admin:SubmitSQLQuery",
        "DynamicBehaviorInstruction:CreateDynamicBehaviorInstruction", "DynamicBehaviorInstruction:GetDynamicBehaviorInstruction",
        "DynamicBehaviorInstruction:UpdateDynamicBehaviorInstruction", "DynamicBehaviorInstruction:DeleteDynamicBehaviorInstruction",
        "Metric:CreateMetric", "Metric:GetMetric", "Metric:ModifyMetric", "Metric:DeleteMetric", "Metric:EvaluateMetric",
        "Metric:GetMetricEvaluationResult",
    ] + Migrations.SimulationPermissions.all + Migrations.WebhookPermissions.all

    static let conversation = all.filter { $0.hasPrefix("Conversation:") }
}

/// The four roles every organization starts with.
enum DefaultRoles {
    static let superAdministrator = "DefaultSuperAdministratorRole"
    static let amigoAdministrator = "DefaultAmigoAdministratorRole"
    static let administrator = "DefaultAdministratorRole"
    static let user = "DefaultUserRole"

    static func make() -> [Role] {
        let ownUser: [String: PermissionCondition] = ["user_id": .equals(.string("{self_user_id}"))]
        let adminExcluded: Set = ["Organization:CreateOrganization", "Organization:DeleteOrganization", "Admin:SubmitSQLQuery", "Admin:GetPromptLogs"]
        let amigoExcluded: Set = ["Organization:CreateOrganization", "Organization:DeleteOrganization"]
        return [
            Role(id: ObjectID.generate(), name: superAdministrator, description: "Every permission, including creating and deleting the organization.",
                 frontendView: .admin, permissionGrants: [PermissionGrant(permissionName: "*")]),
            Role(id: ObjectID.generate(), name: amigoAdministrator, description: "Operator of the platform: everything but creating or deleting the organization.",
                 frontendView: .admin, permissionGrants: Permission.all.filter { !amigoExcluded.contains($0) }.map { PermissionGrant(permissionName: $0) }),
            Role(id: ObjectID.generate(), name: administrator, description: "Administrator of the organization's agents, services, users and keys.",
                 frontendView: .admin, permissionGrants: Permission.all.filter { !adminExcluded.contains($0) }.map { PermissionGrant(permissionName: $0) }),
            Role(id: ObjectID.generate(), name: user, description: "An end user: talks to services and manages their own profile.",
                 frontendView: .client, permissionGrants:
                    Permission.conversation.map { PermissionGrant(permissionName: $0, conditions: ownUser) }
                    + ["User:GetUserInfo", "User:UpdateUserInfo", "User:GetUserModel"].map { PermissionGrant(permissionName: $0, conditions: ownUser) }
                    + ["Service:GetService", "Organization:GetOrganizationDetails"].map { PermissionGrant(permissionName: $0) }),
        ]
    }
}

/// The authenticated caller of a request: the user, their role and organization.
public struct Principal: Sendable {
    public var orgID: String
    public var user: User
    public var role: Role
    /// Permissions held beside the role until they expire (never counted when comparing privileges).
    public var temporaryGrants: [TemporaryPermissionGrant]

    public init(orgID: String, user: User, role: Role, temporaryGrants: [TemporaryPermissionGrant] = []) {
        self.orgID = orgID
        self.user = user
        self.role = role
        self.temporaryGrants = temporaryGrants
    }

    public var userInfo: UserInfo { UserInfo(orgID: orgID, userID: user.userID) }

    /// Whether the role grants `permission` on a resource with `attributes` (e.g. `["user_id": "…"]`).
    public func can(_ permission: String, on attributes: [String: String] = [:]) -> Bool {
        func allows(_ grant: PermissionGrant) -> Bool {
            grant.grants(permission) && grant.conditions.allSatisfy { attribute, condition in
                guard let actual = attributes[attribute] else { return false }
                return condition.isSatisfied(by: actual, principal: self)
            }
        }
        if role.permissionGrants.contains(where: allows) { return true }
        guard !temporaryGrants.isEmpty else { return false }
        // A grant counts until its expiry, even in a principal cached before it.
        let now = Date()
        return temporaryGrants.contains { $0.expiresAt > now && allows($0.permissionGrant) }
    }

    /// Throws 403 unless the role grants `permission` on the resource.
    public func require(_ permission: String, on attributes: [String: String] = [:]) throws {
        if !can(permission, on: attributes) { throw PlatformError.forbidden("Missing required permission `\(permission)`.") }
    }

    /// Throws 403 unless this principal's role is at least as privileged as the default super administrator's.
    public func requireSuperAdministrator() throws {
        guard let role = DefaultRoles.make().first(where: { $0.name == DefaultRoles.superAdministrator }) else { return }
        try requireCovers(role)
    }

    /// Throws 403 unless this principal's role is at least as privileged as the default Amigo
    /// administrator's (more than an organization's administrator).
    public func requireAmigoAdministrator() throws {
        guard let role = DefaultRoles.make().first(where: { $0.name == DefaultRoles.amigoAdministrator }) else { return }
        try requireCovers(role)
    }

    /// Throws 403 unless this principal's role is at least as privileged as `other`.
    public func requireCovers(_ other: Role) throws {
        if !role.covers(other) { throw PlatformError.forbidden("The role `\(other.name)` has privileges the caller lacks.") }
    }
}

extension PermissionGrant {
    public func grants(_ permission: String) -> Bool {
        if permissionName == "*" || permissionName == permission { return true }
        if permissionName.hasSuffix(":*") { return permission.hasPrefix(permissionName.dropLast()) }
        return permissionName.replacingOccurrences(of: ".", with: ":") == permission
    }

    /// Whether this grant allows at least everything `other` allows.
    func covers(_ other: PermissionGrant) -> Bool {
        let nameCovered = permissionName == "*" || grants(other.permissionName)
        return nameCovered && (conditions.isEmpty || conditions == other.conditions)
    }
}

extension Role {
    /// Whether this role allows at least everything `other` allows ("greater or equal privileges").
    public func covers(_ other: Role) -> Bool {
        other.permissionGrants.allSatisfy { needed in permissionGrants.contains { $0.covers(needed) } }
    }
}

extension PermissionCondition {
    func isSatisfied(by actual: String, principal: Principal) -> Bool {
        func resolve(_ value: JSONValue) -> String? {
            guard case .string(let text) = value else { return nil }
            switch text {
            case "{self_user_id}": return principal.user.userID
            case "{self_org_id}": return principal.orgID
            default: return text
            }
        }
        switch self {
        case .equals(let value): return resolve(value) == actual
        case .notEquals(let value): return resolve(value) != actual
        case .isIn(let values): return values.contains { resolve($0) == actual }
        }
    }
}

/// Who a verified token names: its user with the user's role, while the user — and the API key the
/// token was signed in with, unexpired — still exist. Answers come from an ``OrganizationCache``: a
/// deleted user or key, or a changed role, takes effect on this process's next request and on other
/// processes within the cache's lifetime.
public struct Principals: Sendable {
    struct Key: Hashable, Sendable {
        var orgID: String
        var userID: String
        var apiKeyID: String?
    }

    private let store: Store
    private let cache: OrganizationCache<Key, Principal?>

    public init(store: Store, lifetime: Duration = .seconds(1), clock: AnyClock = .continuous) {
        self.store = store
        cache = OrganizationCache(generations: store.generations, lifetime: lifetime, clock: clock)
    }

    /// The principal of `userID` in `orgID`, or nil when the user (or the API key) no longer exists.
    public func principal(userID: String, orgID: String, apiKeyID: String?) async throws -> Principal? {
        try await cache.value(Key(orgID: orgID, userID: userID, apiKeyID: apiKeyID), orgID: orgID) {
            try await store.read { repositories -> Principal? in
                if let apiKeyID {
                    guard let key = try await repositories.apiKeys.get(keyID: apiKeyID, orgID: orgID), key.instance.expiresAt > Date() else { return nil }
                }
                guard let user = try await repositories.users.get(id: userID, orgID: orgID),
                      let role = try await repositories.roles.get(id: user.roleID, orgID: orgID) else { return nil }
                let grants = try await repositories.roles.activeGrants(userID: userID, orgID: orgID, at: Date())
                return Principal(orgID: orgID, user: user, role: role, temporaryGrants: grants)
            }
        }
    }
}
