import Foundation
import Platform

/// What the bundled OpenAPI document says about each operation that the server needs at run time:
/// its per-minute rate limit. The document is the single source of these numbers.
public struct OperationCatalog: Sendable {
    public let rateLimits: [String: Int]
    public let document: Data

    public static func bundled() throws -> OperationCatalog {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json") else {
            throw CocoaError(.fileNoSuchFile)
        }
        return try OperationCatalog(document: Data(contentsOf: url))
    }

    init(document: Data) throws {
        self.document = document
        var limits: [String: Int] = [:]
        let root = try JSONSerialization.jsonObject(with: document) as? [String: Any] ?? [:]
        for (_, item) in root["paths"] as? [String: Any] ?? [:] {
            for (_, operation) in item as? [String: Any] ?? [:] {
                guard let operation = operation as? [String: Any], let id = operation["operationId"] as? String else { continue }
                if let limit = operation["x-rate-limit-per-minute"] as? Int { limits[id] = limit }
            }
        }
        rateLimits = limits
    }

    /// Every `(METHOD, path)` the document describes.
    public var routes: [(method: String, path: String, operationID: String)] {
        let root = (try? JSONSerialization.jsonObject(with: document) as? [String: Any]) ?? [:]
        var result: [(String, String, String)] = []
        for (path, item) in root["paths"] as? [String: Any] ?? [:] {
            for (method, operation) in item as? [String: Any] ?? [:] {
                guard let operation = operation as? [String: Any], let id = operation["operationId"] as? String else { continue }
                result.append((method.uppercased(), path, id))
            }
        }
        return result.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
    }
}
