import Foundation

/// A tool a `change-tool-candidates` behavior offers: a context graph's tool call spec plus the name
/// shown in the behavior's description.
public struct DynamicBehaviorToolCallSpec: Codable, Sendable, Hashable {
    public var spec: ToolCallSpec
    public var toolName: String

    public init(spec: ToolCallSpec, toolName: String) {
        self.spec = spec
        self.toolName = toolName
    }

    enum CodingKeys: String, CodingKey { case toolName = "tool_name" }

    public init(from decoder: any Decoder) throws {
        spec = try ToolCallSpec(from: decoder)
        toolName = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .toolName)
    }

    public func encode(to encoder: any Encoder) throws {
        try spec.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(toolName, forKey: .toolName)
    }
}

/// What a selected behavior does to the conversation, tagged on the wire by `type`.
public enum DynamicBehaviorAction: Codable, Sendable, Hashable {
    /// Adds `instruction` to the current state's instructions, or replaces them when `overrides`.
    case injectInstruction(instruction: String, overrides: Bool)
    /// Adds tools to the current state's, or replaces them when `overrides`.
    case changeToolCandidates(specs: [DynamicBehaviorToolCallSpec], overrides: Bool)

    enum CodingKeys: String, CodingKey {
        case type, instruction
        case overridesInstructions = "overrides_instructions"
        case toolCallSpecs = "tool_call_specs"
        case overridesExistingToolCallSpecs = "overrides_existing_tool_call_specs"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "inject-instruction":
            self = .injectInstruction(
                instruction: try c.decode(String.self, forKey: .instruction),
                overrides: try c.decode(Bool.self, forKey: .overridesInstructions)
            )
        case "change-tool-candidates":
            self = .changeToolCandidates(
                specs: try c.decode([DynamicBehaviorToolCallSpec].self, forKey: .toolCallSpecs),
                overrides: try c.decode(Bool.self, forKey: .overridesExistingToolCallSpecs)
            )
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c,
                debugDescription: "Input tag '\(type)' found using 'type' does not match any of the expected tags: 'inject-instruction', 'change-tool-candidates'"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .injectInstruction(let instruction, let overrides):
            try c.encode("inject-instruction", forKey: .type)
            try c.encode(instruction, forKey: .instruction)
            try c.encode(overrides, forKey: .overridesInstructions)
        case .changeToolCandidates(let specs, let overrides):
            try c.encode("change-tool-candidates", forKey: .type)
            try c.encode(specs, forKey: .toolCallSpecs)
            try c.encode(overrides, forKey: .overridesExistingToolCallSpecs)
        }
    }

    /// The tools this action names.
    public var toolIDs: [String] {
        guard case .changeToolCandidates(let specs, _) = self else { return [] }
        return specs.map(\.spec.toolID)
    }
}

/// A dynamic behavior set (`DynamicBehaviorSetInstance`).
public struct DynamicBehaviorSet: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var isActive: Bool
    public var appliedToServices: [String]
    public var tags: [String: String?]
    public var createdAt: Date
    public var creator: UserInfo
    public var updatedAt: Date
    public var updatedBy: UserInfo

    public init(
        id: String, name: String, isActive: Bool, appliedToServices: [String], tags: [String: String?], createdAt: Date,
        creator: UserInfo
    ) {
        self.id = id
        self.name = name
        self.isActive = isActive
        self.appliedToServices = appliedToServices
        self.tags = tags
        self.createdAt = createdAt
        self.creator = creator
        self.updatedAt = createdAt
        self.updatedBy = creator
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case isActive = "is_active"
        case appliedToServices = "applied_to_services"
        case tags
        case createdAt = "created_at"
        case creator
        case updatedAt = "updated_at"
        case updatedBy = "updated_by"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(isActive, forKey: .isActive)
        try c.encode(appliedToServices, forKey: .appliedToServices)
        var tagContainer = c.nestedContainer(keyedBy: AnyKey.self, forKey: .tags)
        for key in tags.keys.sorted() {
            try tagContainer.encode(tags[key] ?? nil, forKey: AnyKey(key))
        }
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(creator, forKey: .creator)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(updatedBy, forKey: .updatedBy)
    }
}

/// A coding key made of any string.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// One version of a dynamic behavior set: what triggers it and what it does.
public struct DynamicBehaviorSetVersion: Codable, Sendable, Hashable {
    public var id: String
    public var orgID: String
    public var setID: String
    public var version: Int
    public var conversationTriggers: [String]
    public var actions: [DynamicBehaviorAction]
    public var creator: UserInfo
    public var createdAt: Date

    public init(
        id: String, orgID: String, setID: String, version: Int, conversationTriggers: [String], actions: [DynamicBehaviorAction],
        creator: UserInfo, createdAt: Date
    ) {
        self.id = id
        self.orgID = orgID
        self.setID = setID
        self.version = version
        self.conversationTriggers = conversationTriggers
        self.actions = actions
        self.creator = creator
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case setID = "dynamic_behavior_set_id"
        case version
        case conversationTriggers = "conversation_triggers"
        case actions, creator
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        orgID = try c.decode(String.self, forKey: .orgID)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        setID = try c.decode(String.self, forKey: .setID)
        version = try c.decode(Int.self, forKey: .version)
        conversationTriggers = try c.decode([String].self, forKey: .conversationTriggers)
        actions = try c.decode([DynamicBehaviorAction].self, forKey: .actions)
        creator = try c.decode(UserInfo.self, forKey: .creator)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(createdAt, forKey: .updatedAt)
        try c.encode(setID, forKey: .setID)
        try c.encode(version, forKey: .version)
        try c.encode(conversationTriggers, forKey: .conversationTriggers)
        try c.encode(actions, forKey: .actions)
        try c.encode(creator, forKey: .creator)
    }

    /// The `[set_id, version]` pair events and insights name it by.
    public var info: VersionInfo { VersionInfo(id: setID, version: version) }
}

/// One time a behavior was selected in a conversation (`DynamicBehaviorInvocation`).
public struct DynamicBehaviorInvocation: Codable, Sendable, Hashable {
    public var id: String
    public var orgID: String
    public var conversationID: String
    public var serviceID: String
    public var userID: String
    /// The interaction's first input message: the user's message or its first external event.
    public var initialMessageID: String
    public var agentMessageID: String?
    public var agentInnerThoughtsIDs: [String]
    public var setVersion: VersionInfo
    public var invokedAt: Date
    public var externalEventMessageIDs: [String]

    public init(
        id: String, orgID: String, conversationID: String, serviceID: String, userID: String, initialMessageID: String,
        agentMessageID: String?, agentInnerThoughtsIDs: [String], setVersion: VersionInfo, invokedAt: Date,
        externalEventMessageIDs: [String]
    ) {
        self.id = id
        self.orgID = orgID
        self.conversationID = conversationID
        self.serviceID = serviceID
        self.userID = userID
        self.initialMessageID = initialMessageID
        self.agentMessageID = agentMessageID
        self.agentInnerThoughtsIDs = agentInnerThoughtsIDs
        self.setVersion = setVersion
        self.invokedAt = invokedAt
        self.externalEventMessageIDs = externalEventMessageIDs
    }

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case conversationID = "conversation_id"
        case serviceID = "service_id"
        case userID = "user_id"
        case initialMessageID = "initial_message_id"
        case agentMessageID = "agent_message_id"
        case agentInnerThoughtsIDs = "agent_inner_thoughts_ids"
        case setVersion = "dynamic_behavior_set_version_info"
        case invokedAt = "invoked_at"
        case externalEventMessageIDs = "external_event_message_ids"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        orgID = try c.decode(String.self, forKey: .orgID)
        conversationID = try c.decode(String.self, forKey: .conversationID)
        serviceID = try c.decode(String.self, forKey: .serviceID)
        userID = try c.decode(String.self, forKey: .userID)
        initialMessageID = try c.decode(String.self, forKey: .initialMessageID)
        agentMessageID = try c.decodeIfPresent(String.self, forKey: .agentMessageID)
        agentInnerThoughtsIDs = try c.decode([String].self, forKey: .agentInnerThoughtsIDs)
        setVersion = try c.decode(VersionInfo.self, forKey: .setVersion)
        invokedAt = try c.decode(Date.self, forKey: .invokedAt)
        externalEventMessageIDs = try c.decodeIfPresent([String].self, forKey: .externalEventMessageIDs) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(invokedAt, forKey: .createdAt)
        try c.encode(invokedAt, forKey: .updatedAt)
        try c.encode(conversationID, forKey: .conversationID)
        try c.encode(serviceID, forKey: .serviceID)
        try c.encode(userID, forKey: .userID)
        try c.encode(initialMessageID, forKey: .initialMessageID)
        try c.encode(agentMessageID, forKey: .agentMessageID)
        try c.encode(agentInnerThoughtsIDs, forKey: .agentInnerThoughtsIDs)
        try c.encode(setVersion, forKey: .setVersion)
        try c.encode(invokedAt, forKey: .invokedAt)
        try c.encode(externalEventMessageIDs, forKey: .externalEventMessageIDs)
    }
}

// MARK: - Requests

/// The triggers and actions of a new version, as both create requests carry them.
public struct DynamicBehaviorVersionInput: Decodable, Sendable, ValidatableRequest {
    public var conversationTriggers: [String]
    public var actions: [DynamicBehaviorAction]

    enum CodingKeys: String, CodingKey {
        case conversationTriggers = "conversation_triggers"
        case actions
    }

    /// The input with its texts stripped, as the API's stripped strings are stored.
    public var stripped: DynamicBehaviorVersionInput {
        func strip(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
        var input = self
        input.conversationTriggers = conversationTriggers.map(strip)
        input.actions = actions.map { action in
            switch action {
            case .injectInstruction(let instruction, let overrides):
                return .injectInstruction(instruction: strip(instruction), overrides: overrides)
            case .changeToolCandidates(let specs, let overrides):
                return .changeToolCandidates(specs: specs.map { tool in
                    var tool = tool
                    tool.toolName = strip(tool.toolName)
                    tool.spec.additionalInstruction = strip(tool.spec.additionalInstruction)
                    tool.spec.audioFillers = tool.spec.audioFillers.map(strip)
                    return tool
                }, overrides: overrides)
            }
        }
        return input
    }

    public func validate(into c: inout ValidationCollector) {
        if conversationTriggers.isEmpty {
            c.add(["conversation_triggers"], "List should have at least 1 item after validation, not 0", type: "too_short")
        } else if conversationTriggers.count > 50 {
            c.add(["conversation_triggers"], "List should have at most 50 items after validation, not \(conversationTriggers.count)", type: "too_long")
        }
        for (index, trigger) in conversationTriggers.enumerated() {
            c.nonEmpty(trigger, at: ["conversation_triggers", .index(index)])
        }
        for (index, action) in actions.enumerated() {
            let path: [ValidationIssue.Location] = ["actions", .index(index)]
            switch action {
            case .injectInstruction(let instruction, _):
                c.nonEmpty(instruction, at: path + ["instruction"])
            case .changeToolCandidates(let specs, _):
                var seen: Set<String> = []
                for (specIndex, tool) in specs.enumerated() {
                    let specPath = path + ["tool_call_specs", .index(specIndex)]
                    let spec = tool.spec
                    if !seen.insert(spec.toolID).inserted {
                        c.add(specPath + ["tool_id"], "Tool \(spec.toolID) is listed more than once")
                    }
                    c.nonEmpty(tool.toolName, at: specPath + ["tool_name"])
                    for violation in spec.violations {
                        let message = switch violation {
                        case .toolID: "String should match pattern '^[a-f0-9]{24}$'"
                        case .versionConstraint(let reason): reason
                        case .emptyInstruction, .emptyFiller: "String should have at least 1 character"
                        case .tooManyFillers(let count): "List should have at most 5 items after validation, not \(count)"
                        case .fillerDelayNotPositive: "Input should be greater than 0"
                        case .fillerDelayTooLong: "Input should be less than or equal to 10"
                        }
                        c.add(specPath + violation.path, message, type: violation.type)
                    }
                }
            }
        }
    }
}

/// Body of `POST /v1/{org}/dynamic_behavior_set/`.
public struct CreateDynamicBehaviorSetRequest: Decodable, Sendable, ValidatableRequest {
    public struct InitialVersion: Decodable, Sendable {
        public var isActive: Bool
        public var version: DynamicBehaviorVersionInput

        enum CodingKeys: String, CodingKey { case isActive = "is_active" }

        public init(from decoder: any Decoder) throws {
            isActive = try decoder.container(keyedBy: CodingKeys.self).decode(Bool.self, forKey: .isActive)
            version = try DynamicBehaviorVersionInput(from: decoder)
        }
    }

    public var name: String
    public var tags: [String: String?]
    public var appliedToServices: [String]
    public var initialVersion: InitialVersion

    enum CodingKeys: String, CodingKey {
        case name, tags
        case appliedToServices = "applied_to_services"
        case initialVersion = "initial_version"
    }

    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(name, at: ["name"])
        validateTags(tags, into: &c)
        for (index, id) in appliedToServices.enumerated() { c.objectID(id, at: ["applied_to_services", .index(index)]) }
        c.nested(["initial_version"]) { initialVersion.version.validate(into: &$0) }
    }
}

/// Body of `POST /v1/{org}/dynamic_behavior_set/{id}/`: every field optional, `null` = unchanged.
public struct UpdateDynamicBehaviorSetRequest: Decodable, Sendable, ValidatableRequest {
    public var name: String?
    public var tags: [String: String?]?
    public var appliedToServices: [String]?
    public var isActive: Bool?

    enum CodingKeys: String, CodingKey {
        case name, tags
        case appliedToServices = "applied_to_services"
        case isActive = "is_active"
    }

    public func validate(into c: inout ValidationCollector) {
        if let name { c.nonEmpty(name, at: ["name"]) }
        if let tags { validateTags(tags, into: &c) }
        for (index, id) in (appliedToServices ?? []).enumerated() { c.objectID(id, at: ["applied_to_services", .index(index)]) }
    }
}

// MARK: - Responses

public struct CreateDynamicBehaviorSetResponse: Codable, Sendable {
    public var dynamicBehaviorSetID: String
    public init(dynamicBehaviorSetID: String) { self.dynamicBehaviorSetID = dynamicBehaviorSetID }
    enum CodingKeys: String, CodingKey { case dynamicBehaviorSetID = "dynamic_behavior_set_id" }
}

public struct CreateDynamicBehaviorSetVersionResponse: Codable, Sendable {
    public var newVersionNumber: Int
    public init(newVersionNumber: Int) { self.newVersionNumber = newVersionNumber }
    enum CodingKeys: String, CodingKey { case newVersionNumber = "new_version_number" }
}

public struct GetDynamicBehaviorSetsResponse: Encodable, Sendable {
    public struct FilterValues: Encodable, Sendable {
        public var appliedToServicesIDs: [String]
        public var creators: [UserInfo]
        public var tags: [String]
        public init(appliedToServicesIDs: [String], creators: [UserInfo], tags: [String]) {
            self.appliedToServicesIDs = appliedToServicesIDs
            self.creators = creators
            self.tags = tags
        }
        enum CodingKeys: String, CodingKey {
            case appliedToServicesIDs = "applied_to_services_ids"
            case creators, tags
        }
    }

    public var sets: [DynamicBehaviorSet]
    public var hasMore: Bool
    public var continuationToken: Int?
    public var filterValues: FilterValues?

    public init(sets: [DynamicBehaviorSet], hasMore: Bool, continuationToken: Int?, filterValues: FilterValues?) {
        self.sets = sets
        self.hasMore = hasMore
        self.continuationToken = continuationToken
        self.filterValues = filterValues
    }

    enum CodingKeys: String, CodingKey {
        case sets = "dynamic_behavior_sets"
        case hasMore = "has_more"
        case continuationToken = "continuation_token"
        case filterValues = "filter_values"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sets, forKey: .sets)
        try c.encode(hasMore, forKey: .hasMore)
        try c.encode(continuationToken, forKey: .continuationToken)
        try c.encode(filterValues, forKey: .filterValues)
    }
}
