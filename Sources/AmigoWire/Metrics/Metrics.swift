import Foundation

/// What a metric measures (`MetricValue`): yes or no, a number within bounds, or one of named categories.
public enum MetricValue: Codable, Sendable, Hashable {
    case boolean
    case numerical(lowerBound: Double, upperBound: Double)
    case categorical(categories: [String])

    /// The wire `type`.
    public var type: String {
        switch self {
        case .boolean: "boolean"
        case .numerical: "numerical"
        case .categorical: "categorical"
        }
    }

    enum CodingKeys: String, CodingKey {
        case type
        case lowerBound = "lower_bound"
        case upperBound = "upper_bound"
        case categories
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "boolean": self = .boolean
        case "numerical":
            self = .numerical(lowerBound: try c.decode(Double.self, forKey: .lowerBound), upperBound: try c.decode(Double.self, forKey: .upperBound))
        case "categorical": self = .categorical(categories: try c.decode([String].self, forKey: .categories))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c, debugDescription: "Input tag '\(type)' found using 'type' does not match any of the expected tags: 'boolean', 'categorical', 'numerical'"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        switch self {
        case .boolean: break
        case .numerical(let lower, let upper):
            try c.encode(lower, forKey: .lowerBound)
            try c.encode(upper, forKey: .upperBound)
        case .categorical(let categories):
            try c.encode(categories, forKey: .categories)
        }
    }

    func validate(into c: inout ValidationCollector) {
        switch self {
        case .boolean: break
        case .numerical(let lower, let upper):
            if !lower.isFinite { c.add(["lower_bound"], "Input should be a finite number", type: "finite_number") }
            if !upper.isFinite { c.add(["upper_bound"], "Input should be a finite number", type: "finite_number") }
            if lower.isFinite, upper.isFinite, lower > upper {
                c.add(["upper_bound"], "The upper bound must not be below the lower bound", type: "value_error")
            }
        case .categorical(let categories):
            if categories.isEmpty { c.add(["categories"], "List should have at least 1 item after validation, not 0", type: "too_short") }
            c.nonEmpty(categories, at: ["categories"])
        }
    }

    /// The value as stored: category names stripped, each once, in order.
    var stripped: MetricValue {
        if case .categorical(let categories) = self {
            var seen: Set<String> = []
            return .categorical(categories: categories.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { seen.insert($0).inserted })
        }
        return self
    }
}

/// A metric (`MetricInstance`; the search answers the same fields with `_id` for `id`).
public struct MetricInstance: Codable, Sendable, Hashable {
    public var id: String
    public var orgID: String
    public var createdAt: Date
    public var updatedAt: Date
    public var name: String
    public var description: String
    public var appliedToServices: [String]
    public var additionalNotes: String?
    public var tags: [Tag]
    public var creator: UserInfo
    public var updatedBy: UserInfo
    public var metricValue: MetricValue
    public var isDeleted: Bool

    public init(
        id: String, orgID: String, createdAt: Date, name: String, description: String, appliedToServices: [String],
        additionalNotes: String?, tags: [Tag], creator: UserInfo, metricValue: MetricValue
    ) {
        self.id = id
        self.orgID = orgID
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.name = name
        self.description = description
        self.appliedToServices = appliedToServices
        self.additionalNotes = additionalNotes
        self.tags = tags
        self.creator = creator
        self.updatedBy = creator
        self.metricValue = metricValue
        self.isDeleted = false
    }

    enum CodingKeys: String, CodingKey {
        case id
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case name, description
        case appliedToServices = "applied_to_services"
        case additionalNotes = "additional_notes"
        case tags, creator
        case updatedBy = "updated_by"
        case metricValue = "metric_value"
        case isDeleted = "is_deleted"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try encodeFields(into: &c)
    }

    /// Every field but the id, in the document's order.
    func encodeFields(into c: inout KeyedEncodingContainer<CodingKeys>) throws {
        try c.encode(orgID, forKey: .orgID)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(name, forKey: .name)
        try c.encode(description, forKey: .description)
        try c.encode(appliedToServices, forKey: .appliedToServices)
        try c.encode(additionalNotes, forKey: .additionalNotes)
        try c.encode(tags, forKey: .tags)
        try c.encode(creator, forKey: .creator)
        try c.encode(updatedBy, forKey: .updatedBy)
        try c.encode(metricValue, forKey: .metricValue)
        try c.encode(isDeleted, forKey: .isDeleted)
    }

    /// As the search answers it (the `Metric` document: `_id`).
    public var searchResult: SearchedMetric { SearchedMetric(metric: self) }
}

/// A metric as `search-metrics` answers it: the stored document's `_id` instead of `id`.
public struct SearchedMetric: Encodable, Sendable {
    public var metric: MetricInstance

    enum CodingKeys: String, CodingKey { case id = "_id" }

    public func encode(to encoder: any Encoder) throws {
        var ids = encoder.container(keyedBy: CodingKeys.self)
        try ids.encode(metric.id, forKey: .id)
        var fields = encoder.container(keyedBy: MetricInstance.CodingKeys.self)
        try metric.encodeFields(into: &fields)
    }
}

/// Body of `POST /v1/{org}/metric/`.
public struct CreateMetricRequest: Decodable, Sendable, ValidatableRequest {
    public var name: String
    public var description: String
    public var appliedToServices: [String]
    /// Required but nullable: absent means null.
    public var additionalNotes: String?
    public var tags: [String: String?]
    public var metricValue: MetricValue

    enum CodingKeys: String, CodingKey {
        case name, description
        case appliedToServices = "applied_to_services"
        case additionalNotes = "additional_notes"
        case tags
        case metricValue = "metric_value"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decode(String.self, forKey: .description)
        appliedToServices = try c.decode([String].self, forKey: .appliedToServices)
        additionalNotes = try c.decodeIfPresent(String.self, forKey: .additionalNotes)
        tags = try c.decode([String: String?].self, forKey: .tags)
        metricValue = try c.decode(MetricValue.self, forKey: .metricValue)
    }

    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(name, at: ["name"])
        c.nonEmpty(description, at: ["description"])
        for (index, id) in appliedToServices.enumerated() { c.objectID(id, at: ["applied_to_services", .index(index)]) }
        if let additionalNotes { c.nonEmpty(additionalNotes, at: ["additional_notes"]) }
        validateTags(tags, into: &c)
        c.nested(["metric_value", .key(metricValue.type)]) { metricValue.validate(into: &$0) }
    }

    /// The metric value as stored (category names stripped).
    public var storedValue: MetricValue { metricValue.stripped }
    public var tagList: [Tag] {
        tags.keys.sorted().map { key in
            Tag(key: key.trimmingCharacters(in: .whitespacesAndNewlines), value: (tags[key] ?? nil)?.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}

/// Body of `POST /v1/{org}/metric/{metric_id}/`: name and value type cannot change; `null` or absent =
/// unchanged, except `additional_notes`, where absent is unchanged and `null` erases the notes.
public struct UpdateMetricRequest: Decodable, Sendable, ValidatableRequest {
    public var description: String?
    public var appliedToServices: [String]?
    public var additionalNotes: Patch<String>
    public var tags: [String: String?]?

    enum CodingKeys: String, CodingKey {
        case description
        case appliedToServices = "applied_to_services"
        case additionalNotes = "additional_notes"
        case tags
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        appliedToServices = try c.decodeIfPresent([String].self, forKey: .appliedToServices)
        additionalNotes = try c.decodePatch(String.self, forKey: .additionalNotes)
        tags = try c.decodeIfPresent([String: String?].self, forKey: .tags)
    }

    public func validate(into c: inout ValidationCollector) {
        if let description { c.nonEmpty(description, at: ["description"]) }
        for (index, id) in (appliedToServices ?? []).enumerated() { c.objectID(id, at: ["applied_to_services", .index(index)]) }
        if case .value(let notes) = additionalNotes { c.nonEmpty(notes, at: ["additional_notes"]) }
        if let tags { validateTags(tags, into: &c) }
    }
}

public struct CreateMetricResponse: Codable, Sendable {
    public var id: String
    public init(id: String) { self.id = id }
}

/// The `filter_values` of `get-metrics`.
public struct MetricFilterValues: Encodable, Sendable {
    public var appliedToServicesIDs: [String]
    public var creators: [UserInfo]
    public var tags: [String]
    public var types: [String]

    public init(appliedToServicesIDs: [String], creators: [UserInfo], tags: [String], types: [String]) {
        self.appliedToServicesIDs = appliedToServicesIDs
        self.creators = creators
        self.tags = tags
        self.types = types
    }

    enum CodingKeys: String, CodingKey {
        case appliedToServicesIDs = "applied_to_services_ids"
        case creators, tags, types
    }
}

// MARK: - Evaluation

/// A metric's result: a number, a yes/no, a category, or null ("not applicable").
public enum MetricResult: Codable, Sendable, Hashable {
    case number(Double)
    case bool(Bool)
    case category(String)
    case notApplicable

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .notApplicable }
        else if let value = try? c.decode(Bool.self) { self = .bool(value) }
        else if let value = try? c.decode(Double.self) { self = .number(value) }
        else { self = .category(try c.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let value): try c.encode(value)
        case .bool(let value): try c.encode(value)
        case .category(let value): try c.encode(value)
        case .notApplicable: try c.encodeNil()
        }
    }
}

/// Where a stored result came from (`EvaluationSource`).
public enum EvaluationSource: Codable, Sendable, Hashable {
    case postSession(conversationID: String, references: [String])
    case manual(conversationID: String, evaluateToInteractionID: String?, invokedBy: UserInfo, references: [String])
    case simulation(runID: String, unitTestID: String, runIndex: Int, references: [String])

    public var type: String {
        switch self {
        case .postSession: "post-session"
        case .manual: "manual"
        case .simulation: "simulation"
        }
    }

    public var conversationID: String? {
        switch self {
        case .postSession(let id, _), .manual(let id, _, _, _): id
        case .simulation: nil
        }
    }

    public var runID: String? {
        if case .simulation(let id, _, _, _) = self { id } else { nil }
    }

    /// The messages the result rests on.
    public var references: [String] {
        switch self {
        case .postSession(_, let references), .manual(_, _, _, let references), .simulation(_, _, _, let references): references
        }
    }

    enum CodingKeys: String, CodingKey {
        case type
        case conversationID = "conversation_id"
        case evaluateToInteractionID = "evaluate_to_interaction_id"
        case invokedBy = "invoked_by"
        case references
        case runID = "simulation_unit_test_set_run_id"
        case unitTestID = "unit_test_id"
        case runIndex = "run_index"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let references = try c.decode([String].self, forKey: .references)
        switch try c.decode(String.self, forKey: .type) {
        case "post-session": self = .postSession(conversationID: try c.decode(String.self, forKey: .conversationID), references: references)
        case "manual":
            self = .manual(
                conversationID: try c.decode(String.self, forKey: .conversationID),
                evaluateToInteractionID: try c.decodeIfPresent(String.self, forKey: .evaluateToInteractionID),
                invokedBy: try c.decode(UserInfo.self, forKey: .invokedBy), references: references
            )
        default:
            self = .simulation(
                runID: try c.decode(String.self, forKey: .runID), unitTestID: try c.decode(String.self, forKey: .unitTestID),
                runIndex: try c.decode(Int.self, forKey: .runIndex), references: references
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        switch self {
        case .postSession(let conversationID, let references):
            try c.encode(conversationID, forKey: .conversationID)
            try c.encode(references, forKey: .references)
        case .manual(let conversationID, let interactionID, let invokedBy, let references):
            try c.encode(conversationID, forKey: .conversationID)
            try c.encode(interactionID, forKey: .evaluateToInteractionID)
            try c.encode(invokedBy, forKey: .invokedBy)
            try c.encode(references, forKey: .references)
        case .simulation(let runID, let unitTestID, let runIndex, let references):
            try c.encode(runID, forKey: .runID)
            try c.encode(unitTestID, forKey: .unitTestID)
            try c.encode(runIndex, forKey: .runIndex)
            try c.encode(references, forKey: .references)
        }
    }
}

/// A stored result (`MetricEvaluationResultInstance`).
public struct MetricEvaluationResultInstance: Codable, Sendable, Hashable {
    public var id: String
    public var orgID: String
    public var createdAt: Date
    public var updatedAt: Date
    public var metricID: String
    public var result: MetricResult
    public var justification: String
    public var source: EvaluationSource

    public init(id: String, orgID: String, createdAt: Date, metricID: String, result: MetricResult, justification: String, source: EvaluationSource) {
        self.id = id
        self.orgID = orgID
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.metricID = metricID
        self.result = result
        self.justification = justification
        self.source = source
    }

    enum CodingKeys: String, CodingKey {
        case id
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case metricID = "metric_id"
        case result, justification, source
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(metricID, forKey: .metricID)
        try c.encode(result, forKey: .result)
        try c.encode(justification, forKey: .justification)
        try c.encode(source, forKey: .source)
    }
}

/// Body of `POST /v1/{org}/metric/evaluate`.
public struct EvaluateMetricsRequest: Decodable, Sendable, ValidatableRequest {
    public var metricIDs: [String]
    public var conversationID: String
    public var evaluateToInteractionID: String?

    enum CodingKeys: String, CodingKey {
        case metricIDs = "metric_ids"
        case conversationID = "conversation_id"
        case evaluateToInteractionID = "evaluate_to_interaction_id"
    }

    public func validate(into c: inout ValidationCollector) {
        if metricIDs.isEmpty { c.add(["metric_ids"], "List should have at least 1 item after validation, not 0", type: "too_short") }
        if metricIDs.count > 10 { c.add(["metric_ids"], "List should have at most 10 items after validation, not \(metricIDs.count)", type: "too_long") }
        for (index, id) in metricIDs.enumerated() { c.objectID(id, at: ["metric_ids", .index(index)]) }
        c.objectID(conversationID, at: ["conversation_id"])
        if let evaluateToInteractionID { c.objectID(evaluateToInteractionID, at: ["evaluate_to_interaction_id"]) }
    }
}

/// One metric's answer to `evaluate` (`MetricEvaluationResult`).
public struct MetricEvaluation: Codable, Sendable, Hashable {
    public var metricID: String
    public var name: String
    public var value: MetricResult
    public var references: [String]
    public var justification: String

    public init(metricID: String, name: String, value: MetricResult, references: [String], justification: String) {
        self.metricID = metricID
        self.name = name
        self.value = value
        self.references = references
        self.justification = justification
    }

    enum CodingKeys: String, CodingKey {
        case metricID = "metric_id"
        case name, value, references, justification
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(metricID, forKey: .metricID)
        try c.encode(name, forKey: .name)
        try c.encode(value, forKey: .value)
        try c.encode(references, forKey: .references)
        try c.encode(justification, forKey: .justification)
    }
}
