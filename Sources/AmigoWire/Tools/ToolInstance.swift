import Foundation

/// A tool of an organization, as listed by `GET /v1/{org}/tool/`: a named, described function whose
/// published versions (``ToolVersionInstance``) context graphs call.
public struct ToolInstance: Codable, Sendable, Hashable {
    public var id: String
    public var orgID: String
    public var createdAt: Date
    public var updatedAt: Date
    /// `^[a-z0-9_]+$`, unique among the organization's non-deprecated tools.
    public var name: String
    /// Describes the tool to the model.
    public var description: String
    /// Deprecated tools cannot be used, and all their versions are deprecated too.
    public var deprecated: Bool
    /// Names of the plain environment variables set on the tool.
    public var envvars: [String]
    /// Names of the secret environment variables set on the tool (their values are never returned).
    public var secretEnvvars: [String]
    public var tags: [Tag]
    public var creator: UserInfo
    public var updatedBy: UserInfo

    public init(
        id: String, orgID: String, createdAt: Date, updatedAt: Date? = nil, name: String, description: String,
        deprecated: Bool = false, envvars: [String] = [], secretEnvvars: [String] = [], tags: [Tag] = [],
        creator: UserInfo, updatedBy: UserInfo? = nil
    ) {
        self.id = id
        self.orgID = orgID
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.name = name
        self.description = description
        self.deprecated = deprecated
        self.envvars = envvars
        self.secretEnvvars = secretEnvvars
        self.tags = tags
        self.creator = creator
        self.updatedBy = updatedBy ?? creator
    }

    enum CodingKeys: String, CodingKey {
        case id
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case name, description, deprecated, envvars
        case secretEnvvars = "secret_envvars"
        case tags, creator
        case updatedBy = "updated_by"
    }
}

/// Response of `GET /v1/{org}/tool/`.
public struct GetToolsResponse: Codable, Sendable, Hashable {
    /// The values the `tag` filter can take, sent with the first page only.
    public struct FilterValues: Codable, Sendable, Hashable {
        /// `key:value` (or `key:` for a tag without value) for every tag in use.
        public var tags: [String]
        public init(tags: [String]) { self.tags = tags }
    }

    public var tools: [ToolInstance]
    public var hasMore: Bool
    /// `null` when there is no next page; always encoded.
    public var continuationToken: Int?
    /// `null` after the first page; always encoded.
    public var filterValues: FilterValues?

    public init(tools: [ToolInstance], hasMore: Bool, continuationToken: Int?, filterValues: FilterValues?) {
        self.tools = tools
        self.hasMore = hasMore
        self.continuationToken = continuationToken
        self.filterValues = filterValues
    }

    enum CodingKeys: String, CodingKey {
        case tools
        case hasMore = "has_more"
        case continuationToken = "continuation_token"
        case filterValues = "filter_values"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tools, forKey: .tools)
        try c.encode(hasMore, forKey: .hasMore)
        try c.encode(continuationToken, forKey: .continuationToken)
        try c.encode(filterValues, forKey: .filterValues)
    }
}
