/// Body of `POST /v1/{org}/tool/`: a new tool with no versions yet. Decoding strips the name, the
/// description and the tags, as the API does; `validate(into:)` reports every rule the body breaks.
public struct CreateToolRequest: Codable, Sendable, Hashable, ValidatableRequest {
    /// `^[a-z0-9_]+$`; unique among the organization's non-deprecated tools (checked by the server, 409).
    public var name: String
    /// Tells the model what the tool does.
    public var description: String
    /// Required on the wire (may be `{}`); at most 20, values may be `null`.
    public var tags: [String: String?]

    public init(name: String, description: String, tags: [String: String?] = [:]) {
        self.name = name
        self.description = description
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey { case name, description, tags }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = FieldRule.stripped(try c.decode(String.self, forKey: .name))
        description = FieldRule.stripped(try c.decode(String.self, forKey: .description))
        tags = try decodeRequiredStrippedTags(c, forKey: .tags)
    }

    public func validate(into c: inout ValidationCollector) {
        c.strippedString(name, matching: FieldRule.isToolName, pattern: "^[a-z0-9_]+$", at: ["name"])
        c.nonEmpty(description, at: ["description"])
        c.toolTags(tags, at: ["tags"])
    }

    /// The tags as a tool stores them, sorted by key.
    public var tagList: [Tag] { tags.keys.sorted().map { Tag(key: $0, value: tags[$0] ?? nil) } }
}

/// `{"id": "..."}` — the response of `POST /v1/{org}/tool/` (201).
public typealias CreateToolResponse = IDResponse

/// Body of `POST /v1/{org}/tool/{tool_id}`: a field that is absent or `null` is left as it is; `tags`
/// replaces all the tags.
public struct ModifyToolRequest: Codable, Sendable, Hashable, ValidatableRequest {
    public var description: String?
    public var tags: [String: String?]?

    public init(description: String? = nil, tags: [String: String?]? = nil) {
        self.description = description
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey { case description, tags }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        description = try c.decodeIfPresent(String.self, forKey: .description).map(FieldRule.stripped)
        if c.contains(.tags), try !c.decodeNil(forKey: .tags) {
            tags = try decodeRequiredStrippedTags(c, forKey: .tags)
        } else {
            tags = nil
        }
    }

    public func validate(into c: inout ValidationCollector) {
        if let description { c.nonEmpty(description, at: ["description"]) }
        if let tags { c.toolTags(tags, at: ["tags"]) }
    }

    /// The new tags as a tool stores them, sorted by key; `nil` when the tags stay as they are.
    public var tagList: [Tag]? { tags.map { tags in tags.keys.sorted().map { Tag(key: $0, value: tags[$0] ?? nil) } } }
}
