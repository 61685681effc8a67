import Foundation

/// Which model a prompt kind should use in a version set.
public struct LLMConfig: Codable, Sendable, Hashable {
    public var llmName: String
    public var params: [String: JSONValue]
    enum CodingKeys: String, CodingKey {
        case llmName = "llm_name"
        case params
    }
    public init(llmName: String, params: [String: JSONValue] = [:]) {
        self.llmName = llmName
        self.params = params
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        llmName = try c.decode(String.self, forKey: .llmName)
        params = try c.decodeIfPresent([String: JSONValue].self, forKey: .params) ?? [:]
    }
}

/// A named pin of agent and context-graph versions (`null` = latest at conversation time).
public struct VersionSet: Codable, Sendable, Hashable {
    public var agentVersionNumber: Int?
    public var contextGraphVersionNumber: Int?
    public var llmModelPreferences: [String: LLMConfig]

    public init(agentVersionNumber: Int? = nil, contextGraphVersionNumber: Int? = nil, llmModelPreferences: [String: LLMConfig] = [:]) {
        self.agentVersionNumber = agentVersionNumber
        self.contextGraphVersionNumber = contextGraphVersionNumber
        self.llmModelPreferences = llmModelPreferences
    }

    /// The `edge` set: always the latest versions, no model preferences.
    public static let edge = VersionSet()

    enum CodingKeys: String, CodingKey {
        case agentVersionNumber = "agent_version_number"
        case contextGraphVersionNumber = "service_hierarchical_state_machine_version_number"
        case llmModelPreferences = "llm_model_preferences"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // The version numbers are required but nullable: the official SDK leaves out fields whose value is
        // None, so absent means null (the latest version).
        agentVersionNumber = try c.decodeIfPresent(Int.self, forKey: .agentVersionNumber)
        contextGraphVersionNumber = try c.decodeIfPresent(Int.self, forKey: .contextGraphVersionNumber)
        llmModelPreferences = try c.decode([String: LLMConfig].self, forKey: .llmModelPreferences)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(agentVersionNumber, forKey: .agentVersionNumber)
        try c.encode(contextGraphVersionNumber, forKey: .contextGraphVersionNumber)
        try c.encode(llmModelPreferences, forKey: .llmModelPreferences)
    }

    func validate(into c: inout ValidationCollector) {
        if let number = agentVersionNumber, number < 1 { c.add(["agent_version_number"], "Input should be greater than 0", type: "greater_than") }
        if let number = contextGraphVersionNumber, number < 1 {
            c.add(["service_hierarchical_state_machine_version_number"], "Input should be greater than 0", type: "greater_than")
        }
        for key in llmModelPreferences.keys.sorted() where !FieldRule.isNonEmpty(llmModelPreferences[key]!.llmName) {
            c.add(["llm_model_preferences", .key(key), "llm_name"], "String should have at least 1 character", type: "string_too_short")
        }
    }
}

public struct Tag: Codable, Sendable, Hashable {
    public var key: String
    public var value: String?
    public init(key: String, value: String?) {
        self.key = key
        self.value = value
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key, forKey: .key)
        try c.encode(value, forKey: .value)
    }
    enum CodingKeys: String, CodingKey { case key, value }
}

/// A service: an agent and a context graph offered to users, with its version sets.
public struct Service: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var versionSets: [String: VersionSet]
    public var description: String
    public var isActive: Bool
    public var contextGraphID: String
    public var agentID: String
    public var tags: [Tag]
    public var keyterms: [String]
    public var creator: UserInfo
    public var updatedBy: UserInfo

    public init(id: String, name: String, versionSets: [String: VersionSet], description: String, isActive: Bool, contextGraphID: String, agentID: String, tags: [Tag], keyterms: [String], creator: UserInfo) {
        self.id = id
        self.name = name
        self.versionSets = versionSets
        self.description = description
        self.isActive = isActive
        self.contextGraphID = contextGraphID
        self.agentID = agentID
        self.tags = tags
        self.keyterms = keyterms
        self.creator = creator
        self.updatedBy = creator
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case versionSets = "version_sets"
        case description
        case isActive = "is_active"
        case contextGraphID = "service_hierarchical_state_machine_id"
        case agentID = "agent_id"
        case tags, keyterms, creator
        case updatedBy = "updated_by"
    }
}

public struct GetServicesResponse: Encodable, Sendable {
    public struct FilterValues: Codable, Sendable {
        public var tags: [String]
        public init(tags: [String]) { self.tags = tags }
    }
    public var services: [Service]
    public var hasMore: Bool
    public var continuationToken: Int?
    public var filterValues: FilterValues?

    public init(services: [Service], hasMore: Bool, continuationToken: Int?, filterValues: FilterValues?) {
        self.services = services
        self.hasMore = hasMore
        self.continuationToken = continuationToken
        self.filterValues = filterValues
    }

    enum CodingKeys: String, CodingKey {
        case services
        case hasMore = "has_more"
        case continuationToken = "continuation_token"
        case filterValues = "filter_values"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(services, forKey: .services)
        try c.encode(hasMore, forKey: .hasMore)
        try c.encode(continuationToken, forKey: .continuationToken)
        try c.encode(filterValues, forKey: .filterValues)
    }
}

/// Tags as services and dynamic behavior sets take them: at most 20, keys and values `^[\\w\\s]+$`.
func validateTags(_ tags: [String: String?], into c: inout ValidationCollector) {
    if tags.count > 20 { c.add(["tags"], "Dictionary should have at most 20 items", type: "too_long") }
    for key in tags.keys.sorted() {
        if !FieldRule.isTagText(key) { c.add(["tags", .key(key), "[key]"], "String should match pattern '^[\\w\\s]+$'", type: "string_pattern_mismatch") }
        if let value = tags[key] ?? nil, !FieldRule.isTagText(value) {
            c.add(["tags", .key(key)], "String should match pattern '^[\\w\\s]+$'", type: "string_pattern_mismatch")
        }
    }
}

/// Body of `POST /v1/{org}/service/`.
public struct CreateServiceRequest: Decodable, Sendable, ValidatableRequest {
    public var contextGraphID: String
    public var agentID: String
    public var name: String
    public var description: String
    public var isActive: Bool
    public var releaseVersionSet: VersionSet?
    public var keyterms: [String]
    public var tags: [String: String?]

    enum CodingKeys: String, CodingKey {
        case contextGraphID = "service_hierarchical_state_machine_id"
        case agentID = "agent_id"
        case name, description
        case isActive = "is_active"
        case releaseVersionSet = "release_version_set"
        case keyterms, tags
    }

    public func validate(into c: inout ValidationCollector) {
        c.objectID(contextGraphID, at: ["service_hierarchical_state_machine_id"])
        c.objectID(agentID, at: ["agent_id"])
        c.nonEmpty(name, at: ["name"])
        c.nonEmpty(description, at: ["description"])
        if let releaseVersionSet { c.nested(["release_version_set"]) { releaseVersionSet.validate(into: &$0) } }
        c.keyterms(keyterms, at: ["keyterms"])
        validateTags(tags, into: &c)
    }

    public var tagList: [Tag] { tags.keys.sorted().map { Tag(key: $0, value: tags[$0] ?? nil) } }
}

/// Body of `POST /v1/{org}/service/{service_id}/`.
public struct UpdateServiceRequest: Decodable, Sendable, ValidatableRequest {
    public var name: String?
    public var description: String?
    public var isActive: Bool?
    public var agentID: String?
    public var contextGraphID: String?
    public var tags: [String: String?]?
    public var keyterms: [String]?

    enum CodingKeys: String, CodingKey {
        case name, description
        case isActive = "is_active"
        case agentID = "agent_id"
        case contextGraphID = "service_hierarchical_state_machine_id"
        case tags, keyterms
    }

    public func validate(into c: inout ValidationCollector) {
        if let name { c.nonEmpty(name, at: ["name"]) }
        if let description { c.nonEmpty(description, at: ["description"]) }
        if let agentID { c.objectID(agentID, at: ["agent_id"]) }
        if let contextGraphID { c.objectID(contextGraphID, at: ["service_hierarchical_state_machine_id"]) }
        if let tags { validateTags(tags, into: &c) }
        if let keyterms { c.keyterms(keyterms, at: ["keyterms"]) }
    }
}

/// Body of `PUT /v1/{org}/service/{service_id}/version_sets/{name}/`.
public struct UpsertVersionSetRequest: Decodable, Sendable, ValidatableRequest {
    public var versionSet: VersionSet
    enum CodingKeys: String, CodingKey { case versionSet = "version_set" }
    public func validate(into c: inout ValidationCollector) {
        c.nested(["version_set"]) { versionSet.validate(into: &$0) }
    }
}
