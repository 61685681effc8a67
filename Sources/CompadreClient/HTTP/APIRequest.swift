import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One request to the API, before the base URL and the access token are added; a value, so the 401
/// retry can send it again.
struct APIRequest: Sendable {
    var method: HTTPMethod
    /// Starts with `/`, path segments already escaped (see ``segment(_:)``).
    var path: String
    var query: [(name: String, value: String)] = []
    var accept = "application/json"
    var contentType: String?
    var body: ByteBuffer?

    init(_ method: HTTPMethod, _ path: String, query: [(name: String, value: String)] = []) {
        self.method = method
        self.path = path
        self.query = query
    }

    func httpRequest(baseURL: String, token: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url(baseURL: baseURL))
        request.method = method
        request.headers.add(name: "authorization", value: "Bearer \(token)")
        request.headers.add(name: "accept", value: accept)
        if let contentType { request.headers.add(name: "content-type", value: contentType) }
        if let body { request.body = .bytes(body) }
        return request
    }

    func url(baseURL: String) -> String {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        url += path
        if !query.isEmpty {
            url += "?" + query.map { "\(Self.escape($0.name))=\(Self.escape($0.value))" }.joined(separator: "&")
        }
        return url
    }

    /// `text` as one path segment: IDs come from users and servers, so `/` and `?` are escaped too.
    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    private static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
