/// One `tag` filter of a listing: `key:value` matches a resource whose tag `key` has that value,
/// `key:*` any value, `key:` a tag without a value; a resource without the tag never matches.
public struct TagMatch: Sendable, Hashable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    /// `key:value` as a query carries it; a bare `key` means `key:*`.
    public init(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        self.init(key: String(parts[0]), value: parts.count > 1 ? String(parts[1]) : "*")
    }

    /// Whether a tag whose value is `tagValue` (nil: a tag without value) matches.
    public func accepts(_ tagValue: String?) -> Bool {
        switch value {
        case "*": true
        case "": tagValue == nil
        default: tagValue == value
        }
    }

    /// Over tags kept as a dictionary (conversations, dynamic behavior sets).
    public func matches(_ tags: [String: String?]) -> Bool {
        guard let tagValue = tags[key] else { return false }
        return accepts(tagValue)
    }

    /// Over tags kept as a list (services, tools).
    public func matches(_ tags: [Tag]) -> Bool {
        tags.contains { $0.key == key && accepts($0.value) }
    }
}
