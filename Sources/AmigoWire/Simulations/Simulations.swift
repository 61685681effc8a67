import Foundation

// Simulations: personas and scenarios (with versions), unit tests, unit test sets and their runs.

/// Tags as simulation personas and scenarios keep them: an object of key → value (or null).
public typealias SimulationTags = [String: String?]

extension Dictionary where Key == String, Value == String? {
    /// Keys and values stripped, as stored.
    public var strippedTags: SimulationTags {
        var tags: SimulationTags = [:]
        for (key, value) in self {
            tags[key.stripped] = .some(value?.stripped)
        }
        return tags
    }

    /// The tags as a sorted list (unit tests and sets answer them so).
    public var tagList: [Tag] { keys.sorted().map { Tag(key: $0, value: self[$0] ?? nil) } }
}

extension String {
    /// Without white space at either end, as the API strips names and texts.
    public var stripped: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}

// MARK: - Personas

/// A simulation persona (`SimulationPersonaInstance`): who the simulated user is. Its name is unique
/// among personas that are not deleted.
public struct SimulationPersona: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var role: String
    public var tags: SimulationTags
    public var isDeleted: Bool
    public var createdAt: Date
    public var creator: UserInfo
    public var updatedAt: Date
    public var updatedBy: UserInfo

    public init(id: String, name: String, role: String, tags: SimulationTags, createdAt: Date, creator: UserInfo) {
        self.id = id
        self.name = name
        self.role = role
        self.tags = tags
        self.isDeleted = false
        self.createdAt = createdAt
        self.creator = creator
        self.updatedAt = createdAt
        self.updatedBy = creator
    }

    enum CodingKeys: String, CodingKey {
        case id, name, role, tags
        case isDeleted = "is_deleted"
        case createdAt = "created_at"
        case creator
        case updatedAt = "updated_at"
        case updatedBy = "updated_by"
    }
}

/// A version of a persona (`SimulationPersonaVersion`): what the simulated user knows and is.
public struct SimulationPersonaVersion: Codable, Sendable, Hashable {
    public var id: String
    public var orgID: String
    public var createdAt: Date
    public var personaID: String
    public var version: Int
    public var background: String
    /// ISO 639-3; the agent's language when nil.
    public var preferredLanguage: String?
    /// IANA; UTC when nil.
    public var timezone: String?
    public var userModels: [String]
    public var nonsensitiveUserVariables: [String: String]
    public var sensitiveUserVariables: [String: String]
    public var creator: UserInfo

    public init(
        id: String, orgID: String, createdAt: Date, personaID: String, version: Int, body: SimulationPersonaVersionInput, creator: UserInfo
    ) {
        self.id = id
        self.orgID = orgID
        self.createdAt = createdAt
        self.personaID = personaID
        self.version = version
        self.background = body.background.stripped
        self.preferredLanguage = body.preferredLanguage
        self.timezone = body.timezone
        self.userModels = body.userModels.map(\.stripped)
        self.nonsensitiveUserVariables = body.nonsensitiveUserVariables
        self.sensitiveUserVariables = body.sensitiveUserVariables
        self.creator = creator
    }

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case personaID = "simulation_persona_id"
        case version, background
        case preferredLanguage = "preferred_language"
        case timezone
        case userModels = "user_models"
        case nonsensitiveUserVariables = "nonsensitive_user_variables"
        case sensitiveUserVariables = "sensitive_user_variables"
        case creator
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        orgID = try c.decode(String.self, forKey: .orgID)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        personaID = try c.decode(String.self, forKey: .personaID)
        version = try c.decode(Int.self, forKey: .version)
        background = try c.decode(String.self, forKey: .background)
        preferredLanguage = try c.decodeIfPresent(String.self, forKey: .preferredLanguage)
        timezone = try c.decodeIfPresent(String.self, forKey: .timezone)
        userModels = try c.decode([String].self, forKey: .userModels)
        nonsensitiveUserVariables = try c.decode([String: String].self, forKey: .nonsensitiveUserVariables)
        sensitiveUserVariables = try c.decode([String: String].self, forKey: .sensitiveUserVariables)
        creator = try c.decode(UserInfo.self, forKey: .creator)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(createdAt, forKey: .updatedAt)
        try c.encode(personaID, forKey: .personaID)
        try c.encode(version, forKey: .version)
        try c.encode(background, forKey: .background)
        try c.encode(preferredLanguage, forKey: .preferredLanguage)
        try c.encode(timezone, forKey: .timezone)
        try c.encode(userModels, forKey: .userModels)
        try c.encode(nonsensitiveUserVariables, forKey: .nonsensitiveUserVariables)
        try c.encode(sensitiveUserVariables, forKey: .sensitiveUserVariables)
        try c.encode(creator, forKey: .creator)
    }
}

/// A persona version as created (`initial_version`, or the body of a new version).
public struct SimulationPersonaVersionInput: Decodable, Sendable, ValidatableRequest {
    public var background: String
    public var preferredLanguage: String?
    public var timezone: String?
    public var userModels: [String]
    public var nonsensitiveUserVariables: [String: String]
    public var sensitiveUserVariables: [String: String]

    enum CodingKeys: String, CodingKey {
        case background
        case preferredLanguage = "preferred_language"
        case timezone
        case userModels = "user_models"
        case nonsensitiveUserVariables = "nonsensitive_user_variables"
        case sensitiveUserVariables = "sensitive_user_variables"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        background = try c.decode(String.self, forKey: .background)
        // Absent (or the API's `{}` "not set") is null.
        if case .value(let language) = try c.decodePatch(String.self, forKey: .preferredLanguage) { preferredLanguage = language }
        if case .value(let zone) = try c.decodePatch(String.self, forKey: .timezone) { timezone = zone }
        userModels = try c.decode([String].self, forKey: .userModels)
        nonsensitiveUserVariables = try c.decode([String: String].self, forKey: .nonsensitiveUserVariables)
        sensitiveUserVariables = try c.decode([String: String].self, forKey: .sensitiveUserVariables)
    }

    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(background, at: ["background"])
        if let preferredLanguage, !FieldRule.isLanguageCode(preferredLanguage, allowTwoLetters: false) {
            c.add(["preferred_language"], "Input should be an ISO 639-3 language code", type: "enum")
        }
        if let timezone, !TimeZoneRule.isKnown(timezone) { c.add(["timezone"], "Input should be an IANA time zone", type: "enum") }
        for (index, model) in userModels.enumerated() { c.nonEmpty(model, at: ["user_models", .index(index)]) }
        for (field, variables) in [("nonsensitive_user_variables", nonsensitiveUserVariables), ("sensitive_user_variables", sensitiveUserVariables)] {
            if variables.count > 20 { c.add([.key(field)], "Dictionary should have at most 20 items", type: "too_long") }
            for key in variables.keys.sorted() where !FieldRule.isVariableName(key) {
                c.add([.key(field), .key(key), "[key]"], "String should match pattern '^[a-z_][a-z0-9_]*$'", type: "string_pattern_mismatch")
            }
        }
    }
}

/// Body of `POST /v1/{org}/simulation/persona/`.
public struct CreateSimulationPersonaRequest: Decodable, Sendable, ValidatableRequest {
    public var name: String
    public var role: String
    public var tags: SimulationTags
    public var initialVersion: SimulationPersonaVersionInput

    enum CodingKeys: String, CodingKey {
        case name, role, tags
        case initialVersion = "initial_version"
    }

    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(name, at: ["name"])
        c.nonEmpty(role, at: ["role"])
        validateTags(tags, into: &c)
        c.nested(["initial_version"]) { initialVersion.validate(into: &$0) }
    }
}

/// Body of `POST /v1/{org}/simulation/persona/{id}/` and `…/scenario/{id}/`: only the tags change.
public struct UpdateSimulationTagsRequest: Decodable, Sendable, ValidatableRequest {
    public var tags: SimulationTags?

    public func validate(into c: inout ValidationCollector) {
        if let tags { validateTags(tags, into: &c) }
    }
}

// MARK: - Scenarios

/// A simulation scenario (`SimulationScenarioInstance`): what the simulated user is there to do.
public struct SimulationScenario: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var tags: SimulationTags
    public var isDeleted: Bool
    public var createdAt: Date
    public var creator: UserInfo
    public var updatedAt: Date
    public var updatedBy: UserInfo

    public init(id: String, name: String, tags: SimulationTags, createdAt: Date, creator: UserInfo) {
        self.id = id
        self.name = name
        self.tags = tags
        self.isDeleted = false
        self.createdAt = createdAt
        self.creator = creator
        self.updatedAt = createdAt
        self.updatedBy = creator
    }

    enum CodingKeys: String, CodingKey {
        case id, name, tags
        case isDeleted = "is_deleted"
        case createdAt = "created_at"
        case creator
        case updatedAt = "updated_at"
        case updatedBy = "updated_by"
    }
}

/// A version of a scenario (`SimulationScenarioVersion`).
public struct SimulationScenarioVersion: Codable, Sendable, Hashable {
    public var id: String
    public var orgID: String
    public var createdAt: Date
    public var scenarioID: String
    public var version: Int
    public var objective: String
    public var instructions: String
    public var initialMessageType: InitialMessageType
    /// When the simulated conversation takes place (UTC); the server's time when nil.
    public var conversationStartsAt: Date?
    public var creator: UserInfo

    public init(
        id: String, orgID: String, createdAt: Date, scenarioID: String, version: Int, body: SimulationScenarioVersionInput, creator: UserInfo
    ) {
        self.id = id
        self.orgID = orgID
        self.createdAt = createdAt
        self.scenarioID = scenarioID
        self.version = version
        self.objective = body.objective.stripped
        self.instructions = body.instructions.stripped
        self.initialMessageType = body.initialMessageType
        self.conversationStartsAt = body.conversationStartsAt
        self.creator = creator
    }

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case scenarioID = "simulation_scenario_id"
        case version, objective, instructions
        case initialMessageType = "initial_message_type"
        case conversationStartsAt = "conversation_starts_at"
        case creator
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        orgID = try c.decode(String.self, forKey: .orgID)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        scenarioID = try c.decode(String.self, forKey: .scenarioID)
        version = try c.decode(Int.self, forKey: .version)
        objective = try c.decode(String.self, forKey: .objective)
        instructions = try c.decode(String.self, forKey: .instructions)
        initialMessageType = try c.decode(InitialMessageType.self, forKey: .initialMessageType)
        conversationStartsAt = try c.decodeIfPresent(Date.self, forKey: .conversationStartsAt)
        creator = try c.decode(UserInfo.self, forKey: .creator)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(createdAt, forKey: .updatedAt)
        try c.encode(scenarioID, forKey: .scenarioID)
        try c.encode(version, forKey: .version)
        try c.encode(objective, forKey: .objective)
        try c.encode(instructions, forKey: .instructions)
        try c.encode(initialMessageType, forKey: .initialMessageType)
        try c.encode(conversationStartsAt, forKey: .conversationStartsAt)
        try c.encode(creator, forKey: .creator)
    }
}

/// A scenario version as created. `conversation_starts_at` is required but nullable: absent is null.
public struct SimulationScenarioVersionInput: Decodable, Sendable, ValidatableRequest {
    public var objective: String
    public var instructions: String
    public var initialMessageType: InitialMessageType
    public var conversationStartsAt: Date?

    enum CodingKeys: String, CodingKey {
        case objective, instructions
        case initialMessageType = "initial_message_type"
        case conversationStartsAt = "conversation_starts_at"
    }

    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(objective, at: ["objective"])
        c.nonEmpty(instructions, at: ["instructions"])
    }
}

/// Body of `POST /v1/{org}/simulation/scenario/`.
public struct CreateSimulationScenarioRequest: Decodable, Sendable, ValidatableRequest {
    public var name: String
    public var tags: SimulationTags
    public var initialVersion: SimulationScenarioVersionInput

    enum CodingKeys: String, CodingKey {
        case name, tags
        case initialVersion = "initial_version"
    }

    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(name, at: ["name"])
        validateTags(tags, into: &c)
        c.nested(["initial_version"]) { initialVersion.validate(into: &$0) }
    }
}

// MARK: - Unit tests

/// What a metric's result must be for a run to pass (`SuccessCriterionDescription`).
public enum SuccessCriterionDescription: Codable, Sendable, Hashable {
    case boolean(expectedValue: Bool)
    case numerical(verb: String, threshold: Double)
    case categorical(expectedValues: [String])

    public static let verbs = ["==", "!=", "<=", "<", ">=", ">"]

    /// The metric type it applies to.
    public var type: String {
        switch self {
        case .boolean: "boolean"
        case .numerical: "numerical"
        case .categorical: "categorical"
        }
    }

    enum CodingKeys: String, CodingKey {
        case type
        case expectedValue = "expected_value"
        case verb, threshold
        case expectedValues = "expected_values"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .type) {
        case "boolean": self = .boolean(expectedValue: try c.decode(Bool.self, forKey: .expectedValue))
        case "numerical": self = .numerical(verb: try c.decode(String.self, forKey: .verb), threshold: try c.decode(Double.self, forKey: .threshold))
        case "categorical": self = .categorical(expectedValues: try c.decode([String].self, forKey: .expectedValues))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c,
                debugDescription: "Input tag '\(other)' found using 'type' does not match any of the expected tags: 'boolean', 'categorical', 'numerical'"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        switch self {
        case .boolean(let expected): try c.encode(expected, forKey: .expectedValue)
        case .numerical(let verb, let threshold):
            try c.encode(verb, forKey: .verb)
            try c.encode(threshold, forKey: .threshold)
        case .categorical(let expected): try c.encode(expected, forKey: .expectedValues)
        }
    }

    func validate(into c: inout ValidationCollector) {
        switch self {
        case .boolean: break
        case .numerical(let verb, let threshold):
            if !Self.verbs.contains(verb) { c.add(["verb"], "Input should be '==', '!=', '<=', '<', '>=' or '>'", type: "enum") }
            if !threshold.isFinite { c.add(["threshold"], "Input should be a finite number", type: "finite_number") }
        case .categorical(let expected):
            if expected.isEmpty { c.add(["expected_values"], "List should have at least 1 item after validation, not 0", type: "too_short") }
            c.nonEmpty(expected, at: ["expected_values"])
        }
    }

    /// Whether `result` meets the criterion; a `null` ("not applicable") result never does.
    public func isMet(by result: MetricResult) -> Bool {
        switch (self, result) {
        case (.boolean(let expected), .bool(let value)): return value == expected
        case (.numerical(let verb, let threshold), .number(let value)):
            switch verb {
            case "==": return value == threshold
            case "!=": return value != threshold
            case "<=": return value <= threshold
            case "<": return value < threshold
            case ">=": return value >= threshold
            default: return value > threshold
            }
        case (.categorical(let expected), .category(let value)): return expected.contains(value)
        default: return false
        }
    }

    /// Category names stripped, as stored.
    var stripped: SuccessCriterionDescription {
        if case .categorical(let values) = self { return .categorical(expectedValues: values.map(\.stripped)) }
        return self
    }
}

/// A named success criterion on a metric (`SuccessCriterion`).
public struct SuccessCriterion: Codable, Sendable, Hashable {
    public var name: String
    public var metricID: String
    public var criterion: SuccessCriterionDescription

    public init(name: String, metricID: String, criterion: SuccessCriterionDescription) {
        self.name = name
        self.metricID = metricID
        self.criterion = criterion
    }

    enum CodingKeys: String, CodingKey {
        case name
        case metricID = "metric_id"
        case criterion
    }

    func validate(into c: inout ValidationCollector) {
        c.nonEmpty(name, at: ["name"])
        c.objectID(metricID, at: ["metric_id"])
        c.nested(["criterion", .key(criterion.type)]) { criterion.validate(into: &$0) }
    }

    var stripped: SuccessCriterion { SuccessCriterion(name: name.stripped, metricID: metricID, criterion: criterion.stripped) }
}

/// A simulation unit test (`SimulationUnitTestInstance`; the search answers `SimulationUnitTest`, with
/// `_id`): a service's version set against a persona in a scenario, judged by metrics.
public struct SimulationUnitTest: Codable, Sendable, Hashable, IDRenamable {
    public var id: String
    public var orgID: String
    public var createdAt: Date
    public var updatedAt: Date
    public var name: String
    public var description: String
    public var serviceID: String
    public var serviceVersionSetName: String
    public var personaID: String
    public var scenarioID: String
    public var maxInteractions: Int
    public var successCriterions: [SuccessCriterion]
    public var isDeleted: Bool
    public var tags: [Tag]
    public var creator: UserInfo
    public var updatedBy: UserInfo

    public init(id: String, orgID: String, createdAt: Date, request: CreateSimulationUnitTestRequest, creator: UserInfo) {
        self.id = id
        self.orgID = orgID
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.name = request.name.stripped
        self.description = request.description.stripped
        self.serviceID = request.serviceID
        self.serviceVersionSetName = request.serviceVersionSetName
        self.personaID = request.personaID
        self.scenarioID = request.scenarioID
        self.maxInteractions = request.maxInteractions
        self.successCriterions = request.successCriterions.map(\.stripped)
        self.isDeleted = false
        self.tags = request.tags.strippedTags.tagList
        self.creator = creator
        self.updatedBy = creator
    }

    enum CodingKeys: String, CodingKey {
        case id
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case name, description
        case serviceID = "service_id"
        case serviceVersionSetName = "service_version_set_name"
        case personaID = "persona_id"
        case scenarioID = "scenario_id"
        case maxInteractions = "max_interactions"
        case successCriterions = "success_criterions"
        case isDeleted = "is_deleted"
        case tags, creator
        case updatedBy = "updated_by"
        case underscoreID = "_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        orgID = try c.decode(String.self, forKey: .orgID)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        updatedAt = try c.decode(Date.self, forKey: .updatedAt)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decode(String.self, forKey: .description)
        serviceID = try c.decode(String.self, forKey: .serviceID)
        serviceVersionSetName = try c.decode(String.self, forKey: .serviceVersionSetName)
        personaID = try c.decode(String.self, forKey: .personaID)
        scenarioID = try c.decode(String.self, forKey: .scenarioID)
        maxInteractions = try c.decode(Int.self, forKey: .maxInteractions)
        successCriterions = try c.decode([SuccessCriterion].self, forKey: .successCriterions)
        isDeleted = try c.decode(Bool.self, forKey: .isDeleted)
        tags = try c.decode([Tag].self, forKey: .tags)
        creator = try c.decode(UserInfo.self, forKey: .creator)
        updatedBy = try c.decode(UserInfo.self, forKey: .updatedBy)
    }

    public func encode(to encoder: any Encoder) throws {
        try encode(to: encoder, renamingID: false)
    }

    public func encode(to encoder: any Encoder, renamingID: Bool) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: renamingID ? .underscoreID : .id)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(name, forKey: .name)
        try c.encode(description, forKey: .description)
        try c.encode(serviceID, forKey: .serviceID)
        try c.encode(serviceVersionSetName, forKey: .serviceVersionSetName)
        try c.encode(personaID, forKey: .personaID)
        try c.encode(scenarioID, forKey: .scenarioID)
        try c.encode(maxInteractions, forKey: .maxInteractions)
        try c.encode(successCriterions, forKey: .successCriterions)
        try c.encode(isDeleted, forKey: .isDeleted)
        try c.encode(tags, forKey: .tags)
        try c.encode(creator, forKey: .creator)
        try c.encode(updatedBy, forKey: .updatedBy)
    }

    /// As the search answers it: `_id` instead of `id`.
    public var searchResult: IDRenamed<SimulationUnitTest> { IDRenamed(self) }
}

/// Body of `POST /v1/{org}/simulation/unit_test/`.
public struct CreateSimulationUnitTestRequest: Decodable, Sendable, ValidatableRequest {
    public var name: String
    public var description: String
    public var serviceID: String
    public var serviceVersionSetName: String
    public var personaID: String
    public var scenarioID: String
    public var maxInteractions: Int
    public var successCriterions: [SuccessCriterion]
    public var tags: SimulationTags

    enum CodingKeys: String, CodingKey {
        case name, description
        case serviceID = "service_id"
        case serviceVersionSetName = "service_version_set_name"
        case personaID = "persona_id"
        case scenarioID = "scenario_id"
        case maxInteractions = "max_interactions"
        case successCriterions = "success_criterions"
        case tags
    }

    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(name, at: ["name"])
        c.nonEmpty(description, at: ["description"])
        c.objectID(serviceID, at: ["service_id"])
        c.objectID(personaID, at: ["persona_id"])
        c.objectID(scenarioID, at: ["scenario_id"])
        SimulationRules.maxInteractions(maxInteractions, into: &c)
        SimulationRules.criteria(successCriterions, into: &c)
    }
}

/// Body of `POST /v1/{org}/simulation/unit_test/{id}/`: `null` or absent = unchanged. `run_count` is
/// accepted (≥ 1) and has no effect: how often a test runs is its set's `unit_test_runs[].run_count`.
public struct UpdateSimulationUnitTestRequest: Decodable, Sendable, ValidatableRequest {
    public var description: String?
    public var serviceID: String?
    public var serviceVersionSetName: String?
    public var personaID: String?
    public var scenarioID: String?
    public var maxInteractions: Int?
    public var successCriterions: [SuccessCriterion]?
    public var runCount: Int?
    public var tags: SimulationTags?

    enum CodingKeys: String, CodingKey {
        case description
        case serviceID = "service_id"
        case serviceVersionSetName = "service_version_set_name"
        case personaID = "persona_id"
        case scenarioID = "scenario_id"
        case maxInteractions = "max_interactions"
        case successCriterions = "success_criterions"
        case runCount = "run_count"
        case tags
    }

    public func validate(into c: inout ValidationCollector) {
        if let description { c.nonEmpty(description, at: ["description"]) }
        if let serviceID { c.objectID(serviceID, at: ["service_id"]) }
        if let personaID { c.objectID(personaID, at: ["persona_id"]) }
        if let scenarioID { c.objectID(scenarioID, at: ["scenario_id"]) }
        if let maxInteractions { SimulationRules.maxInteractions(maxInteractions, into: &c) }
        if let successCriterions { SimulationRules.criteria(successCriterions, into: &c) }
        if let runCount, runCount < 1 { c.add(["run_count"], "Input should be greater than 0", type: "greater_than") }
        if let runCount, runCount > 100 { c.add(["run_count"], "Input should be less than or equal to 100", type: "less_than_equal") }
    }
}

enum SimulationRules {
    static func maxInteractions(_ value: Int, into c: inout ValidationCollector) {
        if value < 1 { c.add(["max_interactions"], "Input should be greater than 0", type: "greater_than") }
        if value > 100 { c.add(["max_interactions"], "Input should be less than or equal to 100", type: "less_than_equal") }
    }

    static func criteria(_ criteria: [SuccessCriterion], into c: inout ValidationCollector) {
        if criteria.isEmpty { c.add(["success_criterions"], "List should have at least 1 item after validation, not 0", type: "too_short") }
        for (index, criterion) in criteria.enumerated() {
            c.nested(["success_criterions", .index(index)]) { criterion.validate(into: &$0) }
        }
    }

    static func runs(_ runs: [UnitTestRunDescriptor], into c: inout ValidationCollector) {
        if runs.isEmpty { c.add(["unit_test_runs"], "List should have at least 1 item after validation, not 0", type: "too_short") }
        for (index, run) in runs.enumerated() {
            c.objectID(run.unitTestID, at: ["unit_test_runs", .index(index), "unit_test_id"])
            if run.runCount < 1 { c.add(["unit_test_runs", .index(index), "run_count"], "Input should be greater than 0", type: "greater_than") }
            if run.runCount > 100 { c.add(["unit_test_runs", .index(index), "run_count"], "Input should be less than or equal to 100", type: "less_than_equal") }
        }
    }
}

// MARK: - Unit test sets

/// How often a set runs one of its unit tests (`UnitTestRunDescriptor`).
public struct UnitTestRunDescriptor: Codable, Sendable, Hashable {
    public var unitTestID: String
    public var runCount: Int

    public init(unitTestID: String, runCount: Int) {
        self.unitTestID = unitTestID
        self.runCount = runCount
    }

    enum CodingKeys: String, CodingKey {
        case unitTestID = "unit_test_id"
        case runCount = "run_count"
    }
}

/// A set of unit tests that run together (`SimulationUnitTestSetInstance`; the search answers
/// `SimulationUnitTestSet`, with `_id`).
public struct SimulationUnitTestSet: Codable, Sendable, Hashable, IDRenamable {
    public var id: String
    public var orgID: String
    public var createdAt: Date
    public var updatedAt: Date
    public var name: String
    public var description: String?
    public var unitTestRuns: [UnitTestRunDescriptor]
    public var lastTriggeredRunID: String?
    public var isDeleted: Bool
    public var tags: [Tag]
    public var creator: UserInfo
    public var updatedBy: UserInfo

    public init(id: String, orgID: String, createdAt: Date, request: CreateSimulationUnitTestSetRequest, creator: UserInfo) {
        self.id = id
        self.orgID = orgID
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.name = request.name.stripped
        self.description = request.description?.stripped
        self.unitTestRuns = request.unitTestRuns
        self.lastTriggeredRunID = nil
        self.isDeleted = false
        self.tags = request.tags.strippedTags.tagList
        self.creator = creator
        self.updatedBy = creator
    }

    enum CodingKeys: String, CodingKey {
        case id
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case name, description
        case unitTestRuns = "unit_test_runs"
        case lastTriggeredRunID = "last_triggered_run_id"
        case isDeleted = "is_deleted"
        case tags, creator
        case updatedBy = "updated_by"
        case underscoreID = "_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        orgID = try c.decode(String.self, forKey: .orgID)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        updatedAt = try c.decode(Date.self, forKey: .updatedAt)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        unitTestRuns = try c.decode([UnitTestRunDescriptor].self, forKey: .unitTestRuns)
        lastTriggeredRunID = try c.decodeIfPresent(String.self, forKey: .lastTriggeredRunID)
        isDeleted = try c.decode(Bool.self, forKey: .isDeleted)
        tags = try c.decode([Tag].self, forKey: .tags)
        creator = try c.decode(UserInfo.self, forKey: .creator)
        updatedBy = try c.decode(UserInfo.self, forKey: .updatedBy)
    }

    public func encode(to encoder: any Encoder) throws {
        try encode(to: encoder, renamingID: false)
    }

    public func encode(to encoder: any Encoder, renamingID: Bool) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: renamingID ? .underscoreID : .id)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(name, forKey: .name)
        try c.encode(description, forKey: .description)
        try c.encode(unitTestRuns, forKey: .unitTestRuns)
        try c.encode(lastTriggeredRunID, forKey: .lastTriggeredRunID)
        try c.encode(isDeleted, forKey: .isDeleted)
        try c.encode(tags, forKey: .tags)
        try c.encode(creator, forKey: .creator)
        try c.encode(updatedBy, forKey: .updatedBy)
    }

    /// As the search answers it: `_id` instead of `id`.
    public var searchResult: IDRenamed<SimulationUnitTestSet> { IDRenamed(self) }
}

/// Body of `POST /v1/{org}/simulation/unit_test_set/`. `description` is required but nullable.
public struct CreateSimulationUnitTestSetRequest: Decodable, Sendable, ValidatableRequest {
    public var name: String
    public var description: String?
    public var unitTestRuns: [UnitTestRunDescriptor]
    public var tags: SimulationTags

    enum CodingKeys: String, CodingKey {
        case name, description
        case unitTestRuns = "unit_test_runs"
        case tags
    }

    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(name, at: ["name"])
        if let description { c.nonEmpty(description, at: ["description"]) }
        SimulationRules.runs(unitTestRuns, into: &c)
    }
}

/// Body of `POST /v1/{org}/simulation/unit_test_set/{id}`: `null` or absent = unchanged, except
/// `description`, where `null` erases it.
public struct UpdateSimulationUnitTestSetRequest: Decodable, Sendable, ValidatableRequest {
    public var name: String?
    public var description: Patch<String>
    public var unitTestRuns: [UnitTestRunDescriptor]?
    public var tags: SimulationTags?

    enum CodingKeys: String, CodingKey {
        case name, description
        case unitTestRuns = "unit_test_runs"
        case tags
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        description = try c.decodePatch(String.self, forKey: .description)
        unitTestRuns = try c.decodeIfPresent([UnitTestRunDescriptor].self, forKey: .unitTestRuns)
        tags = try c.decodeIfPresent(SimulationTags.self, forKey: .tags)
    }

    public func validate(into c: inout ValidationCollector) {
        if let name { c.nonEmpty(name, at: ["name"]) }
        if case .value(let description) = description { c.nonEmpty(description, at: ["description"]) }
        if let unitTestRuns { SimulationRules.runs(unitTestRuns, into: &c) }
    }
}

// MARK: - Runs

/// Body of `POST /v1/{org}/simulation/unit_test_set_run/`.
public struct CreateSimulationUnitTestSetRunRequest: Decodable, Sendable, ValidatableRequest {
    public var setID: String

    enum CodingKeys: String, CodingKey { case setID = "simulation_unit_test_set_id" }

    public func validate(into c: inout ValidationCollector) {
        c.objectID(setID, at: ["simulation_unit_test_set_id"])
    }
}

/// A metric a unit test's runs are judged by (`MetricToEvaluate`).
public struct MetricToEvaluate: Codable, Sendable, Hashable {
    public var metricID: String
    public var successCriterionName: String
    public var successCriterion: SuccessCriterionDescription

    public init(metricID: String, successCriterionName: String, successCriterion: SuccessCriterionDescription) {
        self.metricID = metricID
        self.successCriterionName = successCriterionName
        self.successCriterion = successCriterion
    }

    enum CodingKeys: String, CodingKey {
        case metricID = "metric_id"
        case successCriterionName = "success_criterion_name"
        case successCriterion = "success_criterion"
    }
}

/// What one unit test of a run runs on, fixed when the run is created (`UnitTestRunSpec`).
public struct UnitTestRunSpec: Codable, Sendable, Hashable {
    public var unitTestID: String
    public var runCount: Int
    public var graph: VersionInfo
    public var agent: VersionInfo
    public var scenario: VersionInfo?
    public var persona: VersionInfo?
    public var llmModelPreferences: [String: LLMConfig]
    public var maxInteractions: Int
    public var metricsToEvaluate: [MetricToEvaluate]

    public init(
        unitTestID: String, runCount: Int, graph: VersionInfo, agent: VersionInfo, scenario: VersionInfo?, persona: VersionInfo?,
        llmModelPreferences: [String: LLMConfig], maxInteractions: Int, metricsToEvaluate: [MetricToEvaluate]
    ) {
        self.unitTestID = unitTestID
        self.runCount = runCount
        self.graph = graph
        self.agent = agent
        self.scenario = scenario
        self.persona = persona
        self.llmModelPreferences = llmModelPreferences
        self.maxInteractions = maxInteractions
        self.metricsToEvaluate = metricsToEvaluate
    }

    enum CodingKeys: String, CodingKey {
        case unitTestID = "unit_test_id"
        case runCount = "run_count"
        case graph = "service_hierarchical_state_machine_version_info"
        case agent = "agent_version_info"
        case scenario = "scenario_version_info"
        case persona = "persona_version_info"
        case llmModelPreferences = "llm_model_preferences"
        case maxInteractions = "max_interactions"
        case metricsToEvaluate = "metrics_to_evaluate"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        unitTestID = try c.decode(String.self, forKey: .unitTestID)
        runCount = try c.decode(Int.self, forKey: .runCount)
        graph = try c.decode(VersionInfo.self, forKey: .graph)
        agent = try c.decode(VersionInfo.self, forKey: .agent)
        scenario = try c.decodeIfPresent(VersionInfo.self, forKey: .scenario)
        persona = try c.decodeIfPresent(VersionInfo.self, forKey: .persona)
        llmModelPreferences = try c.decode([String: LLMConfig].self, forKey: .llmModelPreferences)
        maxInteractions = try c.decode(Int.self, forKey: .maxInteractions)
        metricsToEvaluate = try c.decode([MetricToEvaluate].self, forKey: .metricsToEvaluate)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(unitTestID, forKey: .unitTestID)
        try c.encode(runCount, forKey: .runCount)
        try c.encode(graph, forKey: .graph)
        try c.encode(agent, forKey: .agent)
        try c.encode(scenario, forKey: .scenario)
        try c.encode(persona, forKey: .persona)
        try c.encode(llmModelPreferences, forKey: .llmModelPreferences)
        try c.encode(maxInteractions, forKey: .maxInteractions)
        try c.encode(metricsToEvaluate, forKey: .metricsToEvaluate)
    }
}

/// One metric's verdicts over a unit test's runs: `(result id, passed)` per judged run.
public struct UnitTestMetricResults: Codable, Sendable, Hashable {
    public var metricID: String
    public var results: [Verdict]

    public struct Verdict: Codable, Sendable, Hashable {
        public var resultID: String
        public var passed: Bool

        public init(resultID: String, passed: Bool) {
            self.resultID = resultID
            self.passed = passed
        }

        public init(from decoder: any Decoder) throws {
            var c = try decoder.unkeyedContainer()
            resultID = try c.decode(String.self)
            passed = try c.decode(Bool.self)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.unkeyedContainer()
            try c.encode(resultID)
            try c.encode(passed)
        }
    }

    public init(metricID: String, results: [Verdict]) {
        self.metricID = metricID
        self.results = results
    }

    enum CodingKeys: String, CodingKey {
        case metricID = "metric_id"
        case results
    }
}

/// A unit test's outcome in a run (`UnitTestRunResult`): `run_errors` has one entry per run — null
/// when the run finished and was judged, else why it did not pass on its own terms.
public struct UnitTestRunResult: Codable, Sendable, Hashable {
    public var unitTestID: String
    public var metricEvaluationResults: [UnitTestMetricResults]
    public var runErrors: [String?]

    public init(unitTestID: String, metricEvaluationResults: [UnitTestMetricResults], runErrors: [String?]) {
        self.unitTestID = unitTestID
        self.metricEvaluationResults = metricEvaluationResults
        self.runErrors = runErrors
    }

    enum CodingKeys: String, CodingKey {
        case unitTestID = "unit_test_id"
        case metricEvaluationResults = "metric_evaluation_results"
        case runErrors = "run_errors"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(unitTestID, forKey: .unitTestID)
        try c.encode(metricEvaluationResults, forKey: .metricEvaluationResults)
        var errors = c.nestedUnkeyedContainer(forKey: .runErrors)
        for error in runErrors {
            if let error { try errors.encode(error) } else { try errors.encodeNil() }
        }
    }
}

/// A run of a unit test set (`SimulationUnitTestSetRunInstance`).
public struct SimulationUnitTestSetRun: Codable, Sendable, Hashable {
    public var orgID: String
    public var id: String
    public var isCompleted: Bool
    public var setID: String
    /// True as soon as any unit test run failed.
    public var failedMetrics: Bool
    public var errored: Bool
    public var artifactsGenerated: Bool
    public var unitTestRunSpecs: [UnitTestRunSpec]
    /// One per spec, nil until that unit test's runs are all done.
    public var unitTestRunResults: [UnitTestRunResult?]
    public var createdAt: Date
    public var creator: UserInfo

    public init(orgID: String, id: String, setID: String, specs: [UnitTestRunSpec], createdAt: Date, creator: UserInfo) {
        self.orgID = orgID
        self.id = id
        self.isCompleted = false
        self.setID = setID
        self.failedMetrics = false
        self.errored = false
        self.artifactsGenerated = false
        self.unitTestRunSpecs = specs
        self.unitTestRunResults = specs.map { _ in nil }
        self.createdAt = createdAt
        self.creator = creator
    }

    enum CodingKeys: String, CodingKey {
        case orgID = "org_id"
        case id
        case isCompleted = "is_completed"
        case setID = "simulation_unit_test_set_id"
        case failedMetrics = "failed_metrics"
        case errored
        case artifactsGenerated = "artifacts_generated"
        case unitTestRunSpecs = "unit_test_run_specs"
        case unitTestRunResults = "unit_test_run_results"
        case createdAt = "created_at"
        case creator
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(id, forKey: .id)
        try c.encode(isCompleted, forKey: .isCompleted)
        try c.encode(setID, forKey: .setID)
        try c.encode(failedMetrics, forKey: .failedMetrics)
        try c.encode(errored, forKey: .errored)
        try c.encode(artifactsGenerated, forKey: .artifactsGenerated)
        try c.encode(unitTestRunSpecs, forKey: .unitTestRunSpecs)
        var results = c.nestedUnkeyedContainer(forKey: .unitTestRunResults)
        for result in unitTestRunResults {
            if let result { try results.encode(result) } else { try results.encodeNil() }
        }
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(creator, forKey: .creator)
    }

    /// The run as a caller sees it: specs and results only with `Simulation:GetSimulationUnitTestSet`;
    /// the persona, scenario and metrics parts of them only with `Simulation:GetSimulationUnitTest`.
    public func visible(seesSets: Bool, seesTests: Bool) -> SimulationUnitTestSetRun {
        var run = self
        guard seesSets else {
            run.unitTestRunSpecs = []
            run.unitTestRunResults = []
            return run
        }
        if !seesTests {
            run.unitTestRunSpecs = run.unitTestRunSpecs.map { spec in
                var spec = spec
                spec.scenario = nil
                spec.persona = nil
                spec.metricsToEvaluate = []
                return spec
            }
            run.unitTestRunResults = run.unitTestRunResults.map { result in
                result.map { UnitTestRunResult(unitTestID: $0.unitTestID, metricEvaluationResults: [], runErrors: $0.runErrors) }
            }
        }
        return run
    }
}

/// Answer of `get-simulation-unit-test-set-run-artifacts`.
public struct SimulationArtifactsLink: Codable, Sendable {
    public var presignedURL: String
    public var urlExpiresAt: Date

    public init(presignedURL: String, urlExpiresAt: Date) {
        self.presignedURL = presignedURL
        self.urlExpiresAt = urlExpiresAt
    }

    enum CodingKeys: String, CodingKey {
        case presignedURL = "presigned_url"
        case urlExpiresAt = "url_expires_at"
    }
}

// MARK: - Helpers

/// A stored document that a search answers with `_id` in place of its `id`.
public protocol IDRenamable: Encodable, Sendable {
    func encode(to encoder: any Encoder, renamingID: Bool) throws
}

/// A value encoded with `_id` in place of its `id`.
public struct IDRenamed<Value: IDRenamable>: Encodable, Sendable {
    public var value: Value

    public init(_ value: Value) { self.value = value }

    public func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder, renamingID: true)
    }
}
