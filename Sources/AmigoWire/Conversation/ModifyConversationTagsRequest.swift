import Foundation

/// Body of `POST /v1/{org}/conversation/{id}/tags/`: tags to add or overwrite, then tags to remove.
public struct ModifyConversationTagsRequest: Codable, Sendable, ValidatableRequest {
    public var updates: [String: String?]
    /// Tag keys to remove, each once: the API treats the list as a set, so decoding drops repeats.
    public var deletes: [String]

    public init(updates: [String: String?] = [:], deletes: [String] = []) {
        self.updates = updates
        self.deletes = deletes
    }

    enum CodingKeys: String, CodingKey { case updates, deletes }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        updates = try decodeStrippedTags(c, forKey: .updates)
        var seen = Set<String>()
        deletes = try (c.decodeIfPresent([String].self, forKey: .deletes) ?? []).map(FieldRule.stripped).filter { seen.insert($0).inserted }
    }

    public func validate(into c: inout ValidationCollector) {
        c.maxProperties(updates.count, 20, at: ["updates"])
        for key in updates.keys.sorted() {
            c.tagText(key, pattern: "^[\\w\\s]+$", at: ["updates", .key(key), "[key]"])
            if let value = updates[key] ?? nil { c.tagText(value, pattern: "^[\\w\\s]+$", at: ["updates", .key(key)]) }
        }
        c.nonEmpty(deletes, at: ["deletes"])
    }
}
