import Foundation

/// Body of `POST /v1/{org}/organization/agent`.
public struct CreateAgentRequest: Decodable, Sendable, ValidatableRequest {
    public var agentName: String
    enum CodingKeys: String, CodingKey { case agentName = "agent_name" }
    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(agentName, at: ["agent_name"])
        c.maxLength(agentName, 256, at: ["agent_name"])
    }
}

/// A versioned container (agent or context graph) as listed: `{id, name, deprecated, latest_version}`.
public struct VersionedResourceInstance: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var deprecated: Bool
    public var latestVersion: Int?
    public init(id: String, name: String, deprecated: Bool, latestVersion: Int?) {
        self.id = id
        self.name = name
        self.deprecated = deprecated
        self.latestVersion = latestVersion
    }
    enum CodingKeys: String, CodingKey {
        case id, name, deprecated
        case latestVersion = "latest_version"
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(deprecated, forKey: .deprecated)
        try c.encode(latestVersion, forKey: .latestVersion)
    }
}

public struct RelationshipToDeveloper: Codable, Sendable, Hashable {
    public var ownership: String
    public var type: String
    public var conversationVisibility: String
    public var thoughtVisibility: String
    enum CodingKeys: String, CodingKey {
        case ownership, type
        case conversationVisibility = "conversation_visibility"
        case thoughtVisibility = "thought_visibility"
    }
}

/// Who the agent is: name, role, maker and default language.
public struct Identity: Codable, Sendable, Hashable {
    public var name: String
    public var role: String
    public var developedBy: String
    public var defaultSpokenLanguage: String
    public var relationshipToDeveloper: RelationshipToDeveloper
    enum CodingKeys: String, CodingKey {
        case name, role
        case developedBy = "developed_by"
        case defaultSpokenLanguage = "default_spoken_language"
        case relationshipToDeveloper = "relationship_to_developer"
    }

    func validate(into c: inout ValidationCollector) {
        c.nonEmpty(name, at: ["name"])
        c.nonEmpty(role, at: ["role"])
        c.nonEmpty(developedBy, at: ["developed_by"])
        if !FieldRule.isLanguageCode(defaultSpokenLanguage, allowTwoLetters: false) {
            c.add(["default_spoken_language"], "Input should be an ISO 639-3 language code", type: "enum")
        }
        c.nonEmpty(relationshipToDeveloper.ownership, at: ["relationship_to_developer", "ownership"])
        c.nonEmpty(relationshipToDeveloper.type, at: ["relationship_to_developer", "type"])
        c.nonEmpty(relationshipToDeveloper.conversationVisibility, at: ["relationship_to_developer", "conversation_visibility"])
        c.nonEmpty(relationshipToDeveloper.thoughtVisibility, at: ["relationship_to_developer", "thought_visibility"])
    }
}

public struct VoiceConfig: Codable, Sendable, Hashable {
    public var voiceID: String
    public var stability: Double
    public var similarityBoost: Double
    public var style: Double
    enum CodingKeys: String, CodingKey {
        case voiceID = "voice_id"
        case stability
        case similarityBoost = "similarity_boost"
        case style
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        voiceID = try c.decode(String.self, forKey: .voiceID)
        stability = try c.decodeIfPresent(Double.self, forKey: .stability) ?? 0
        similarityBoost = try c.decodeIfPresent(Double.self, forKey: .similarityBoost) ?? 0
        style = try c.decodeIfPresent(Double.self, forKey: .style) ?? 0
    }
}

/// Body of `POST /v1/{org}/organization/agent/{agent_id}/`: the first version needs every field,
/// later versions patch the latest one.
public struct AgentVersionRequest: Decodable, Sendable, ValidatableRequest {
    public var initials: String?
    public var identity: Identity?
    public var background: String?
    public var behaviors: [String]?
    public var communicationPatterns: [String]?
    public var voiceConfig: VoiceConfig?

    enum CodingKeys: String, CodingKey {
        case initials, identity, background, behaviors
        case communicationPatterns = "communication_patterns"
        case voiceConfig = "voice_config"
    }

    public func validate(into c: inout ValidationCollector) {
        if let initials {
            c.nonEmpty(initials, at: ["initials"])
            c.maxLength(initials, 3, at: ["initials"])
        }
        if let identity { c.nested(["identity"]) { identity.validate(into: &$0) } }
        if let background { c.nonEmpty(background, at: ["background"]) }
        if let behaviors { c.nonEmpty(behaviors, at: ["behaviors"]) }
        if let communicationPatterns { c.nonEmpty(communicationPatterns, at: ["communication_patterns"]) }
        if let voiceConfig { c.nonEmpty(voiceConfig.voiceID, at: ["voice_config", "voice_id"]) }
    }

    /// The names of the fields a first version lacks.
    public var missingFieldsForFirstVersion: [String] {
        var missing: [String] = []
        if initials == nil { missing.append("initials") }
        if identity == nil { missing.append("identity") }
        if background == nil { missing.append("background") }
        if behaviors == nil { missing.append("behaviors") }
        if communicationPatterns == nil { missing.append("communication_patterns") }
        return missing
    }
}

/// One version of an agent: the persona every prompt of a conversation is built from.
public struct AgentVersion: Codable, Sendable, Hashable {
    public var id: String
    public var orgID: String
    public var agentID: String
    public var version: Int
    public var voiceConfig: VoiceConfig?
    public var initials: String
    public var identity: Identity
    public var background: String
    public var behaviors: [String]
    public var communicationPatterns: [String]
    public var createdAt: Date
    public var creator: UserInfo

    /// Builds version `number` from `request`, filling what it omits from `previous`.
    public init?(id: String, agentID: String, version: Int, request: AgentVersionRequest, previous: AgentVersion?, creator: UserInfo, createdAt: Date) {
        guard let initials = request.initials ?? previous?.initials,
              let identity = request.identity ?? previous?.identity,
              let background = request.background ?? previous?.background,
              let behaviors = request.behaviors ?? previous?.behaviors,
              let communicationPatterns = request.communicationPatterns ?? previous?.communicationPatterns
        else { return nil }
        self.id = id
        self.orgID = creator.orgID
        self.agentID = agentID
        self.version = version
        self.voiceConfig = request.voiceConfig ?? previous?.voiceConfig
        self.initials = initials
        self.identity = identity
        self.background = background
        self.behaviors = behaviors
        self.communicationPatterns = communicationPatterns
        self.createdAt = createdAt
        self.creator = creator
    }

    enum CodingKeys: String, CodingKey {
        case id
        case orgID = "org_id"
        case agentID = "agent_id"
        case version
        case voiceConfig = "voice_config"
        case initials, identity, background, behaviors
        case communicationPatterns = "communication_patterns"
        case createdAt = "created_at"
        case creator
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(agentID, forKey: .agentID)
        try c.encode(version, forKey: .version)
        try c.encode(voiceConfig, forKey: .voiceConfig)
        try c.encode(initials, forKey: .initials)
        try c.encode(identity, forKey: .identity)
        try c.encode(background, forKey: .background)
        try c.encode(behaviors, forKey: .behaviors)
        try c.encode(communicationPatterns, forKey: .communicationPatterns)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(creator, forKey: .creator)
    }
}

/// A page of a list endpoint, encoded under the endpoint's own items key; listings that answer
/// `filter_values` always encode it (null after the first page).
public struct Page<Item: Codable & Sendable>: Encodable, Sendable {
    public var itemsKey: String
    public var items: [Item]
    public var hasMore: Bool
    public var continuationToken: Int?
    /// Whether this listing answers `filter_values`, and their value (nil: null).
    public var hasFilterValues = false
    public var filterValues: (any Encodable & Sendable)?

    public init(itemsKey: String, items: [Item], hasMore: Bool, continuationToken: Int?) {
        self.itemsKey = itemsKey
        self.items = items
        self.hasMore = hasMore
        self.continuationToken = continuationToken
    }

    /// A page of a listing that answers `filter_values`.
    public init(itemsKey: String, items: [Item], hasMore: Bool, continuationToken: Int?, filterValues: (any Encodable & Sendable)?) {
        self.init(itemsKey: itemsKey, items: items, hasMore: hasMore, continuationToken: continuationToken)
        self.hasFilterValues = true
        self.filterValues = filterValues
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(items, forKey: Key(stringValue: itemsKey))
        try c.encode(hasMore, forKey: Key(stringValue: "has_more"))
        try c.encode(continuationToken, forKey: Key(stringValue: "continuation_token"))
        if hasFilterValues {
            if let filterValues { try c.encode(filterValues, forKey: Key(stringValue: "filter_values")) }
            else { try c.encodeNil(forKey: Key(stringValue: "filter_values")) }
        }
    }
}

/// Body of `POST /v1/{org}/organization/service_hierarchical_state_machine`.
public struct CreateContextGraphRequest: Decodable, Sendable, ValidatableRequest {
    public var stateMachineName: String
    enum CodingKeys: String, CodingKey { case stateMachineName = "state_machine_name" }
    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(stateMachineName, at: ["state_machine_name"])
        c.maxLength(stateMachineName, 256, at: ["state_machine_name"])
    }
}

/// One stored version of a context graph, as returned by the versions endpoint.
public struct ContextGraphVersion: Codable, Sendable {
    public var id: String
    public var orgID: String
    public var contextGraphID: String
    public var version: Int
    public var createdAt: Date
    public var creator: UserInfo
    public var definition: ContextGraphDefinition

    public init(id: String, orgID: String, contextGraphID: String, version: Int, createdAt: Date, creator: UserInfo, definition: ContextGraphDefinition) {
        self.id = id
        self.orgID = orgID
        self.contextGraphID = contextGraphID
        self.version = version
        self.createdAt = createdAt
        self.creator = creator
        self.definition = definition
    }

    enum CodingKeys: String, CodingKey {
        case id
        case orgID = "org_id"
        case contextGraphID = "service_hierarchical_state_machine_id"
        case version
        case createdAt = "created_at"
        case creator
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        orgID = try c.decode(String.self, forKey: .orgID)
        contextGraphID = try c.decode(String.self, forKey: .contextGraphID)
        version = try c.decode(Int.self, forKey: .version)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        creator = try c.decode(UserInfo.self, forKey: .creator)
        definition = try ContextGraphDefinition(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try definition.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(contextGraphID, forKey: .contextGraphID)
        try c.encode(version, forKey: .version)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(creator, forKey: .creator)
    }
}

/// The `version` query of the version listings: a number, `latest`, or an inclusive `N-M` range.
public enum VersionSelector: Sendable, Hashable {
    case exact(Int)
    case latest
    case range(ClosedRange<Int>)
    /// `N-latest`: from version N up to the latest.
    case fromVersion(Int)

    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "latest" {
            self = .latest
        } else if let number = Int(trimmed), number >= 1 {
            self = .exact(number)
        } else {
            let parts = trimmed.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let low = Int(parts[0]), low >= 1 else { return nil }
            if parts[1] == "latest" {
                self = .fromVersion(low)
                return
            }
            guard let high = Int(parts[1]), low <= high else { return nil }
            self = .range(low...high)
        }
    }
}
