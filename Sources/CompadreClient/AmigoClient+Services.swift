import Foundation
import NIOHTTP1

extension AmigoClient {
    /// The organization's services, to pick one to chat with; follows the pages (50 at most).
    public nonisolated func services() async throws -> [ServiceSummary] {
        var services: [ServiceSummary] = []
        var token: Int? = nil
        var pages = 0
        repeat {
            pages += 1
            var request = APIRequest(.GET, organizationPath + "/service/", query: [("limit", "20")])
            if let token { request.query.append(("continuation_token", String(token))) }
            let page = try await json(ServicePage.self, request)
            services += page.services
            token = page.hasMore ? page.continuationToken : nil
        } while token != nil && pages < 50
        return services
    }
}

/// What a chat needs of a service; the rest of the listing is not decoded.
public struct ServiceSummary: Decodable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var isActive: Bool

    public init(id: String, name: String, isActive: Bool = true) {
        self.id = id
        self.name = name
        self.isActive = isActive
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case isActive = "is_active"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decode(String.self, forKey: .name)
        isActive = try c.decodeIfPresent(Bool.self, forKey: .isActive) ?? true
    }
}

private struct ServicePage: Decodable {
    var services: [ServiceSummary]
    var hasMore: Bool
    var continuationToken: Int?

    enum CodingKeys: String, CodingKey {
        case services
        case hasMore = "has_more"
        case continuationToken = "continuation_token"
    }
}
