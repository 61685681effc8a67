import Foundation

/// Body of `POST /v1/{org}/conversation/{id}/interaction/{interaction_id}/recommend_responses`.
/// The body is optional: `{}`, `null` or a missing `context` mean ``defaultContext``.
public struct RecommendResponsesRequest: Codable, Sendable, Hashable, ValidatableRequest {
    /// The persona and scenario the recommended user replies are written for.
    public var context: String

    /// The API's default context, byte for byte (it starts and ends with a newline).
    public static let defaultContext = "\nPERSONA:\nName: User\nBackground: A typical person seeking this service.\n---\nSCENARIO:\nName: Complete Service\nObjective: Successfully complete the service interaction.\nInstructions: Engage naturally with the agent to achieve the service objective.\n"

    public init(context: String = Self.defaultContext) {
        self.context = context
    }

    enum CodingKeys: String, CodingKey { case context }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), single.decodeNil() {
            context = Self.defaultContext
        } else {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            context = try c.decodeIfPresent(String.self, forKey: .context).map(FieldRule.stripped) ?? Self.defaultContext
        }
    }

    /// Decodes a request body that may be absent altogether, as the official SDK sends it.
    public static func decoding(_ body: Data, with decoder: JSONDecoder = WireCoding.decoder()) throws -> Self {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return Self() }
        return try decoder.decode(Self.self, from: body)
    }

    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(context, at: ["context"])
    }
}

/// Response of the recommend-responses endpoint: replies the user could send next.
public struct RecommendResponsesResponse: Codable, Sendable, Hashable {
    public var recommendedResponses: [String]

    public init(recommendedResponses: [String]) {
        self.recommendedResponses = recommendedResponses
    }

    enum CodingKeys: String, CodingKey {
        case recommendedResponses = "recommended_responses"
    }
}
