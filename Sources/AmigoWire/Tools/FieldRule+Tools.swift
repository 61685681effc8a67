extension FieldRule {
    /// `^[a-z0-9_]+$` — tool names, which are also the function names the model calls.
    public static func isToolName(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "_") }
    }

    /// `^[A-Z_]+$` — tool environment variable names.
    ///
    /// The API document writes the pattern unanchored (`[A-Z_]+`), which Pydantic reads as "contains an
    /// uppercase letter or underscore"; Compadre requires the whole name to match.
    public static func isEnvvarName(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.allSatisfy { (0x41...0x5A).contains($0) || $0 == UInt8(ascii: "_") }
    }

    /// `^[-\w\d_/]+$` — a directory of the tools repository (`\w` is Unicode-aware, as in Pydantic).
    public static func isProjectPath(_ value: String) -> Bool {
        !value.isEmpty && value.unicodeScalars.allSatisfy {
            $0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "_" || $0 == "-" || $0 == "/"
        }
    }
}

extension ValidationCollector {
    /// A `StrippedNonemptyString` (already stripped by decoding) that must also satisfy `rule`.
    mutating func strippedString(_ value: String, matching rule: (String) -> Bool, pattern: String, at path: [ValidationIssue.Location]) {
        if value.isEmpty {
            add(path, "String should have at least 1 character", type: "string_too_short")
        } else if !rule(value) {
            add(path, "String should match pattern '\(pattern)'", type: "string_pattern_mismatch")
        }
    }

    /// A list whose length must lie in `range`, with Pydantic's messages.
    mutating func itemCount(_ count: Int, in range: ClosedRange<Int>, at path: [ValidationIssue.Location]) {
        if count < range.lowerBound {
            let noun = range.lowerBound == 1 ? "item" : "items"
            add(path, "List should have at least \(range.lowerBound) \(noun) after validation, not \(count)", type: "too_short")
        } else if count > range.upperBound {
            add(path, "List should have at most \(range.upperBound) items after validation, not \(count)", type: "too_long")
        }
    }

    /// Tool tags: at most 20, keys and non-null values `^[\w\s]+$` after stripping.
    mutating func toolTags(_ tags: [String: String?], at path: [ValidationIssue.Location]) {
        maxProperties(tags.count, 20, at: path)
        for key in tags.keys.sorted() {
            tagText(key, pattern: "^[\\w\\s]+$", at: path + [.key(key), "[key]"])
            if let value = tags[key] ?? nil { tagText(value, pattern: "^[\\w\\s]+$", at: path + [.key(key)]) }
        }
    }
}

/// Decodes a required `{key: value | null}` tag map, stripping keys and values as the API does.
func decodeRequiredStrippedTags<Key: CodingKey>(_ c: KeyedDecodingContainer<Key>, forKey key: Key) throws -> [String: String?] {
    let raw = try c.decode([String: String?].self, forKey: key)
    var tags = [String: String?](minimumCapacity: raw.count)
    for (name, value) in raw {
        tags[FieldRule.stripped(name)] = .some(value.map(FieldRule.stripped))
    }
    return tags
}

/// Decodes a string-to-string map whose keys are `StrippedNonemptyString`s, stripping the keys.
func decodeStrippedKeys<Key: CodingKey>(_ c: KeyedDecodingContainer<Key>, forKey key: Key) throws -> [String: String] {
    let raw = try c.decode([String: String].self, forKey: key)
    var map = [String: String](minimumCapacity: raw.count)
    for (name, value) in raw { map[FieldRule.stripped(name)] = value }
    return map
}

/// Decodes a string enum, failing with Pydantic's `Input should be 'a', 'b' or 'c'` message.
func decodeLiteral<Value: RawRepresentable & CaseIterable, Key: CodingKey>(
    _ type: Value.Type, _ c: KeyedDecodingContainer<Key>, forKey key: Key
) throws -> Value where Value.RawValue == String {
    let raw = try c.decode(String.self, forKey: key)
    guard let value = Value(rawValue: raw) else {
        let names = Value.allCases.map { "'\($0.rawValue)'" }
        let list = names.count > 1 ? names.dropLast().joined(separator: ", ") + " or " + names.last! : names.joined()
        throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "Input should be \(list)")
    }
    return value
}
