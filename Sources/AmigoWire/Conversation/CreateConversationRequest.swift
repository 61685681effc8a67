import Foundation

/// What the first message of a new conversation is. `skip` exists for realtime sessions only;
/// `POST /conversation/` rejects it.
public enum InitialMessageType: String, Codable, Sendable, Hashable {
    case userMessage = "user-message"
    case externalEvent = "external-event"
    case skip
}

/// Body of `POST /v1/{org}/conversation/`. Decoding strips `initial_message`, tag keys and tag values,
/// as the API does; `validate(into:)` reports every rule the body breaks.
public struct CreateConversationRequest: Codable, Sendable, ValidatableRequest {
    public var serviceID: String
    /// The version set of the service to use; `release` unless sent.
    public var serviceVersionSetName: String
    /// Starts the conversation with a user message or external event instead of an agent message.
    public var initialMessage: String?
    /// Only allowed together with `initialMessage`.
    public var initialMessageType: InitialMessageType?
    public var tags: [String: String?]
    /// Test traffic gets no post-session analysis. Sent by newer SDKs (`is_test`); absent from the
    /// reference API document, so it defaults to `false`.
    public var isTest: Bool

    public init(
        serviceID: String, serviceVersionSetName: String = "release", initialMessage: String? = nil,
        initialMessageType: InitialMessageType? = nil, tags: [String: String?] = [:], isTest: Bool = false
    ) {
        self.serviceID = serviceID
        self.serviceVersionSetName = serviceVersionSetName
        self.initialMessage = initialMessage
        self.initialMessageType = initialMessageType
        self.tags = tags
        self.isTest = isTest
    }

    enum CodingKeys: String, CodingKey {
        case serviceID = "service_id"
        case serviceVersionSetName = "service_version_set_name"
        case initialMessage = "initial_message"
        case initialMessageType = "initial_message_type"
        case tags
        case isTest = "is_test"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        serviceID = try c.decode(String.self, forKey: .serviceID)
        serviceVersionSetName = try c.decodeIfPresent(String.self, forKey: .serviceVersionSetName) ?? "release"
        initialMessage = try c.decodeIfPresent(String.self, forKey: .initialMessage).map(FieldRule.stripped)
        if let raw = try c.decodeIfPresent(String.self, forKey: .initialMessageType) {
            guard let type = InitialMessageType(rawValue: raw) else {
                throw DecodingError.dataCorruptedError(forKey: .initialMessageType, in: c, debugDescription: "Input should be 'user-message' or 'external-event'")
            }
            initialMessageType = type
        } else {
            initialMessageType = nil
        }
        tags = try decodeStrippedTags(c, forKey: .tags)
        isTest = try c.decodeIfPresent(Bool.self, forKey: .isTest) ?? false
    }

    public func validate(into c: inout ValidationCollector) {
        c.objectID(serviceID, at: ["service_id"])
        if let initialMessage { c.nonEmpty(initialMessage, at: ["initial_message"]) }
        if initialMessageType == .skip {
            c.add(["initial_message_type"], "Input should be 'user-message' or 'external-event'", type: "literal_error")
        } else if initialMessageType != nil, initialMessage == nil {
            c.add([], "Value error, `initial_message_type` can only be specified if `initial_message` is provided", type: "value_error")
        }
        c.maxProperties(tags.count, 20, at: ["tags"])
        for key in tags.keys.sorted() {
            c.tagText(key, pattern: "^[\\w\\s_]+$", at: ["tags", .key(key), "[key]"])
            guard let value = tags[key] ?? nil else { continue }
            let stripped = FieldRule.stripped(value)
            if stripped.isEmpty {
                c.add(["tags", .key(key)], "String should have at least 1 character", type: "string_too_short")
            } else {
                c.maxLength(stripped, 100, at: ["tags", .key(key)])
            }
        }
    }
}
