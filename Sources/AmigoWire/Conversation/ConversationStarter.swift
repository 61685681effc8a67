import Foundation

/// Body of `POST /v1/{org}/conversation/conversation_starter`: ask the service's agent for opening prompts.
public struct ConversationStarterRequest: Codable, Sendable, ValidatableRequest {
    public var serviceID: String
    public var serviceVersionSetName: String
    /// What the starters should be about; each starter covers some of them.
    public var facets: [String]
    /// Inclusive bounds on how many starters to generate, each in `1...10`, `minCount <= maxCount`.
    public var minCount: Int
    public var maxCount: Int
    public var generationInstructions: String

    public init(serviceID: String, serviceVersionSetName: String = "release", facets: [String], minCount: Int, maxCount: Int, generationInstructions: String) {
        self.serviceID = serviceID
        self.serviceVersionSetName = serviceVersionSetName
        self.facets = facets
        self.minCount = minCount
        self.maxCount = maxCount
        self.generationInstructions = generationInstructions
    }

    enum CodingKeys: String, CodingKey {
        case serviceID = "service_id"
        case serviceVersionSetName = "service_version_set_name"
        case facets
        case minCount = "min_count"
        case maxCount = "max_count"
        case generationInstructions = "generation_instructions"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        serviceID = try c.decode(String.self, forKey: .serviceID)
        serviceVersionSetName = try c.decodeIfPresent(String.self, forKey: .serviceVersionSetName) ?? "release"
        facets = try c.decode([String].self, forKey: .facets).map(FieldRule.stripped)
        minCount = try c.decode(Int.self, forKey: .minCount)
        maxCount = try c.decode(Int.self, forKey: .maxCount)
        generationInstructions = FieldRule.stripped(try c.decode(String.self, forKey: .generationInstructions))
    }

    public func validate(into c: inout ValidationCollector) {
        c.objectID(serviceID, at: ["service_id"])
        if facets.isEmpty { c.add(["facets"], "List should have at least 1 item after validation, not 0", type: "too_short") }
        c.nonEmpty(facets, at: ["facets"])
        let minCountInRange = Self.count(minCount, at: "min_count", into: &c)
        let maxCountInRange = Self.count(maxCount, at: "max_count", into: &c)
        c.nonEmpty(generationInstructions, at: ["generation_instructions"])
        if minCountInRange, maxCountInRange, minCount > maxCount {
            c.add([], "Value error, `min_count` must be less than or equal to `max_count`", type: "value_error")
        }
    }

    private static func count(_ value: Int, at key: String, into c: inout ValidationCollector) -> Bool {
        if value <= 0 {
            c.add([.key(key)], "Input should be greater than 0", type: "greater_than")
            return false
        }
        if value > 10 {
            c.add([.key(key)], "Input should be less than or equal to 10", type: "less_than_equal")
            return false
        }
        return true
    }
}

/// One generated conversation starter (`Prompt` in the API document).
public struct ConversationStarter: Codable, Sendable, Hashable {
    public var prompt: String
    /// The requested facets this starter is about.
    public var facets: [String]

    public init(prompt: String, facets: [String]) {
        self.prompt = prompt
        self.facets = facets
    }
}

/// Response of `POST /v1/{org}/conversation/conversation_starter`.
public struct ConversationStarterResponse: Codable, Sendable, Hashable {
    public var prompts: [ConversationStarter]

    public init(prompts: [ConversationStarter]) {
        self.prompts = prompts
    }
}
