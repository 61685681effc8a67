import Foundation

/// The `{user_id, user_org_id}` pair a tool version records as its creator — note the key names differ
/// from ``UserInfo``'s `{org_id, user_id}`, used by tools themselves.
public struct ToolVersionUserInfo: Codable, Sendable, Hashable {
    public var userID: String
    public var userOrgID: String

    public init(userID: String, userOrgID: String) {
        self.userID = userID
        self.userOrgID = userOrgID
    }

    public init(_ user: UserInfo) {
        self.init(userID: user.userID, userOrgID: user.orgID)
    }

    public var userInfo: UserInfo { UserInfo(orgID: userOrgID, userID: userID) }

    enum CodingKeys: String, CodingKey {
        case userID = "user_id"
        case userOrgID = "user_org_id"
    }
}

/// A published version of a tool, as listed by `GET /v1/{org}/tool/{tool_id}/version`: the code at a
/// commit of the tools repository, built into a runnable function.
public struct ToolVersionInstance: Codable, Sendable, Hashable {
    public var id: String
    public var orgID: String
    public var createdAt: Date
    public var updatedAt: Date
    public var toolID: String
    public var version: ToolVersion
    /// Names of the plain environment variables this version needs; they must exist on the tool.
    public var requiredEnvvars: [String]
    /// Names of the secret environment variables this version needs; they must exist on the tool.
    public var requiredSecretEnvvars: [String]
    /// JSON Schema of the input parameters.
    public var inputSchema: [String: JSONValue]
    public var toolCommitHash: String
    public var amigoScaffoldCommitHash: String
    /// The directory of the tools repository the version was built from (the publish `project_path`).
    public var projectDirectory: String
    /// The deployment revision of the runnable function behind this version.
    public var lambdaVersion: Int
    public var creator: ToolVersionUserInfo
    public var updatedBy: ToolVersionUserInfo
    /// Deprecated versions cannot be used and take no part in resolving a version constraint.
    public var deprecated: Bool

    public init(
        id: String, orgID: String, createdAt: Date, updatedAt: Date? = nil, toolID: String, version: ToolVersion,
        requiredEnvvars: [String] = [], requiredSecretEnvvars: [String] = [], inputSchema: [String: JSONValue],
        toolCommitHash: String, amigoScaffoldCommitHash: String, projectDirectory: String, lambdaVersion: Int,
        creator: ToolVersionUserInfo, updatedBy: ToolVersionUserInfo? = nil, deprecated: Bool = false
    ) {
        self.id = id
        self.orgID = orgID
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.toolID = toolID
        self.version = version
        self.requiredEnvvars = requiredEnvvars
        self.requiredSecretEnvvars = requiredSecretEnvvars
        self.inputSchema = inputSchema
        self.toolCommitHash = toolCommitHash
        self.amigoScaffoldCommitHash = amigoScaffoldCommitHash
        self.projectDirectory = projectDirectory
        self.lambdaVersion = lambdaVersion
        self.creator = creator
        self.updatedBy = updatedBy ?? creator
        self.deprecated = deprecated
    }

    enum CodingKeys: String, CodingKey {
        case id
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case toolID = "tool_id"
        case version
        case requiredEnvvars = "required_envvars"
        case requiredSecretEnvvars = "required_secret_envvars"
        case inputSchema = "input_schema"
        case toolCommitHash = "tool_commit_hash"
        case amigoScaffoldCommitHash = "amigo_scaffold_commit_hash"
        case projectDirectory = "project_directory"
        case lambdaVersion = "lambda_version"
        case creator
        case updatedBy = "updated_by"
        case deprecated
    }
}

/// Response of `GET /v1/{org}/tool/{tool_id}/version`.
public struct GetToolVersionsResponse: Codable, Sendable, Hashable {
    /// The values the `creator` filter can take, sent with the first page only.
    public struct FilterValues: Codable, Sendable, Hashable {
        public var creators: [ToolVersionUserInfo]
        public init(creators: [ToolVersionUserInfo]) { self.creators = creators }
    }

    public var toolVersions: [ToolVersionInstance]
    public var hasMore: Bool
    /// `null` when there is no next page; always encoded.
    public var continuationToken: Int?
    /// `null` after the first page; always encoded.
    public var filterValues: FilterValues?

    public init(toolVersions: [ToolVersionInstance], hasMore: Bool, continuationToken: Int?, filterValues: FilterValues?) {
        self.toolVersions = toolVersions
        self.hasMore = hasMore
        self.continuationToken = continuationToken
        self.filterValues = filterValues
    }

    enum CodingKeys: String, CodingKey {
        case toolVersions = "tool_versions"
        case hasMore = "has_more"
        case continuationToken = "continuation_token"
        case filterValues = "filter_values"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(toolVersions, forKey: .toolVersions)
        try c.encode(hasMore, forKey: .hasMore)
        try c.encode(continuationToken, forKey: .continuationToken)
        try c.encode(filterValues, forKey: .filterValues)
    }
}
