import Foundation
/// A condition on one attribute of the resource a permission applies to.
public enum PermissionCondition: Codable, Sendable, Hashable {
    case equals(JSONValue)
    case notEquals(JSONValue)
    case isIn([JSONValue])

    enum CodingKeys: String, CodingKey { case type, value, values }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decodeIfPresentNotNull(String.self, forKey: .type)
        switch type {
        case "In":
            self = .isIn(try c.decode([JSONValue].self, forKey: .values))
        case "NotEquals":
            self = .notEquals(try c.decode(JSONValue.self, forKey: .value))
        case "Equals", nil:
            if type == nil, c.contains(.values) {
                self = .isIn(try c.decode([JSONValue].self, forKey: .values))
            } else {
                self = .equals(try c.decode(JSONValue.self, forKey: .value))
            }
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "Input tag '\(type ?? "")' does not match any of the expected tags: 'Equals', 'In', 'NotEquals'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .equals(let value):
            try c.encode("Equals", forKey: .type)
            try c.encode(value, forKey: .value)
        case .notEquals(let value):
            try c.encode("NotEquals", forKey: .type)
            try c.encode(value, forKey: .value)
        case .isIn(let values):
            try c.encode("In", forKey: .type)
            try c.encode(values, forKey: .values)
        }
    }
}

/// Permission to perform `permission_name` (`Resource:Action`, or `*` for everything) on resources
/// whose attributes meet every condition.
public struct PermissionGrant: Codable, Sendable, Hashable {
    public var permissionName: String
    public var conditions: [String: PermissionCondition]
    public init(permissionName: String, conditions: [String: PermissionCondition] = [:]) {
        self.permissionName = permissionName
        self.conditions = conditions
    }
    enum CodingKeys: String, CodingKey {
        case permissionName = "permission_name"
        case conditions
    }
}

public enum FrontendView: String, Codable, Sendable, Hashable {
    case client
    case admin
}

/// A role: the permissions of every user and API key assigned to it.
public struct Role: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var description: String
    public var frontendView: FrontendView
    public var permissionGrants: [PermissionGrant]
    public init(id: String, name: String, description: String, frontendView: FrontendView, permissionGrants: [PermissionGrant]) {
        self.id = id
        self.name = name
        self.description = description
        self.frontendView = frontendView
        self.permissionGrants = permissionGrants
    }
    enum CodingKeys: String, CodingKey {
        case id, name, description
        case frontendView = "frontend_view"
        case permissionGrants = "permission_grants"
    }
}

public struct GetRolesResponse: Codable, Sendable {
    public var roles: [Role]
    public init(roles: [Role]) { self.roles = roles }
}

public struct RoleIDResponse: Codable, Sendable {
    public var roleID: String
    public init(roleID: String) { self.roleID = roleID }
    enum CodingKeys: String, CodingKey { case roleID = "role_id" }
}

private func validateGrants(_ grants: [PermissionGrant], into c: inout ValidationCollector) {
    for (index, grant) in grants.enumerated() {
        let name = grant.permissionName
        let parts = name.unicodeScalars.split(separator: ":", omittingEmptySubsequences: false)
        if name != "*" && (parts.count != 2 || parts.contains(where: \.isEmpty)) {
            c.add(["permission_grants", .index(index), "permission_name"], "Permission names have the form 'Resource:Action'", type: "value_error")
        }
    }
}

/// Body of `POST /v1/{org}/role/`.
public struct CreateRoleRequest: Decodable, Sendable, ValidatableRequest {
    public var roleName: String
    public var description: String
    public var permissionGrants: [PermissionGrant]
    public var frontendView: FrontendView
    enum CodingKeys: String, CodingKey {
        case roleName = "role_name"
        case description
        case permissionGrants = "permission_grants"
        case frontendView = "frontend_view"
    }
    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(roleName, at: ["role_name"])
        c.maxLength(roleName, 256, at: ["role_name"])
        c.nonEmpty(description, at: ["description"])
        validateGrants(permissionGrants, into: &c)
    }
}

/// Body of `POST /v1/{org}/role/{role_name}`.
public struct ModifyRoleRequest: Decodable, Sendable, ValidatableRequest {
    public var description: String?
    public var permissionGrants: [PermissionGrant]?
    public var frontendView: FrontendView?
    enum CodingKeys: String, CodingKey {
        case description
        case permissionGrants = "permission_grants"
        case frontendView = "frontend_view"
    }
    public func validate(into c: inout ValidationCollector) {
        if let description { c.nonEmpty(description, at: ["description"]) }
        if let permissionGrants { validateGrants(permissionGrants, into: &c) }
    }
}

/// Body of `POST /v1/{org}/role/{role_name}/assign`.
public struct AssignRoleRequest: Decodable, Sendable, ValidatableRequest {
    public var userID: String
    enum CodingKeys: String, CodingKey { case userID = "user_id" }
    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(userID, at: ["user_id"])
    }
}

/// A permission a user holds for a while (`TemporaryPermissionGrant`), beside their role.
public struct TemporaryPermissionGrant: Codable, Sendable, Hashable {
    public var id: String
    public var orgID: String
    public var createdAt: Date
    public var userID: String
    public var expiresAt: Date
    public var permissionGrant: PermissionGrant
    public var justification: String
    public var creator: UserInfo
    public var tags: [String: String?]

    public init(
        id: String, orgID: String, createdAt: Date, userID: String, expiresAt: Date, permissionGrant: PermissionGrant, justification: String,
        creator: UserInfo, tags: [String: String?]
    ) {
        self.id = id
        self.orgID = orgID
        self.createdAt = createdAt
        self.userID = userID
        self.expiresAt = expiresAt
        self.permissionGrant = permissionGrant
        self.justification = justification
        self.creator = creator
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case userID = "user_id"
        case expiresAt = "expires_at"
        case permissionGrant = "permission_grant"
        case justification, creator, tags
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        orgID = try c.decode(String.self, forKey: .orgID)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        userID = try c.decode(String.self, forKey: .userID)
        expiresAt = try c.decode(Date.self, forKey: .expiresAt)
        permissionGrant = try c.decode(PermissionGrant.self, forKey: .permissionGrant)
        justification = try c.decode(String.self, forKey: .justification)
        creator = try c.decode(UserInfo.self, forKey: .creator)
        tags = try c.decode([String: String?].self, forKey: .tags)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(createdAt, forKey: .updatedAt)
        try c.encode(userID, forKey: .userID)
        try c.encode(expiresAt, forKey: .expiresAt)
        try c.encode(permissionGrant, forKey: .permissionGrant)
        try c.encode(justification, forKey: .justification)
        try c.encode(creator, forKey: .creator)
        try c.encode(tags, forKey: .tags)
    }
}

/// Body of `POST /v1/{org}/role/temporary_permission_grant/`.
public struct CreateTemporaryPermissionGrantRequest: Decodable, Sendable, ValidatableRequest {
    public var userID: String
    /// ISO 8601 duration (`PT1H`, `P1D`).
    public var duration: String
    public var permissionGrant: PermissionGrant
    public var tags: [String: String?]
    public var justification: String

    enum CodingKeys: String, CodingKey {
        case userID = "user_id"
        case duration
        case permissionGrant = "permission_grant"
        case tags, justification
    }

    public var durationSeconds: Double? { ISODuration.seconds(duration) }

    public func validate(into c: inout ValidationCollector) {
        if userID.isEmpty { c.add(["user_id"], "String should have at least 1 character", type: "string_too_short") }
        if let seconds = durationSeconds {
            if seconds <= 0 { c.add(["duration"], "Duration should be positive", type: "value_error") }
        } else {
            c.add(["duration"], "Input should be a valid ISO 8601 duration", type: "time_delta_parsing")
        }
        if justification.count < 10 { c.add(["justification"], "String should have at least 10 characters", type: "string_too_short") }
        validateTags(tags, into: &c)
    }
}

public struct CreateTemporaryPermissionGrantResponse: Codable, Sendable {
    public var temporaryPermissionGrantID: String
    public var expiresAt: Date

    public init(temporaryPermissionGrantID: String, expiresAt: Date) {
        self.temporaryPermissionGrantID = temporaryPermissionGrantID
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case temporaryPermissionGrantID = "temporary_permission_grant_id"
        case expiresAt = "expires_at"
    }
}
