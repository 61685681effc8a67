import Foundation

extension FieldRule {
    /// Python's `str.strip()`, which the API applies to every `StrippedNonemptyString` before checking it.
    static func stripped(_ value: String) -> String {
        value.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension ValidationCollector {
    /// A `StrippedNonemptyString` matching `^[\w\s]+$` (`^[\w\s_]+$` reads the same): empty after stripping
    /// is `string_too_short`, anything else outside the pattern `string_pattern_mismatch`.
    mutating func tagText(_ value: String, pattern: String, at path: [ValidationIssue.Location]) {
        if !FieldRule.isNonEmpty(value) {
            add(path, "String should have at least 1 character", type: "string_too_short")
        } else if !FieldRule.isTagText(FieldRule.stripped(value)) {
            add(path, "String should match pattern '\(pattern)'", type: "string_pattern_mismatch")
        }
    }

    mutating func maxProperties(_ count: Int, _ limit: Int, at path: [ValidationIssue.Location]) {
        if count > limit { add(path, "Dictionary should have at most \(limit) items after validation, not \(count)", type: "too_long") }
    }
}

/// Decodes a `{key: value | null}` tag map, stripping keys and values as the API does.
func decodeStrippedTags<Key: CodingKey>(_ c: KeyedDecodingContainer<Key>, forKey key: Key) throws -> [String: String?] {
    guard let raw = try c.decodeIfPresent([String: String?].self, forKey: key) else { return [:] }
    var tags = [String: String?](minimumCapacity: raw.count)
    for (name, value) in raw {
        tags[FieldRule.stripped(name)] = .some(value.map(FieldRule.stripped))
    }
    return tags
}
