/// Small, reusable field rules shared by the request validators.
public enum FieldRule {
    /// `StrippedNonemptyString`: non-empty after trimming white space.
    public static func isNonEmpty(_ value: String) -> Bool {
        value.contains { !$0.isWhitespace }
    }

    /// `^[a-z_][a-z0-9_]+$` — user variable names.
    public static func isVariableName(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count >= 2, let first = bytes.first, first == UInt8(ascii: "_") || (0x61...0x7A).contains(first) else { return false }
        return bytes.dropFirst().allSatisfy { $0 == UInt8(ascii: "_") || (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) }
    }

    /// `^[A-Za-z0-9_-]+$` with at most 40 characters — version set names.
    public static func isVersionSetName(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 40 && value.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// `^[\w\s]+$` — service tag keys and values.
    public static func isTagText(_ value: String) -> Bool {
        !value.isEmpty && value.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "_" || $0.properties.isWhitespace }
    }

    /// `^[a-z-]+( [a-z-]+){0,2}$` — speech keyterms.
    public static func isKeyterm(_ value: String) -> Bool {
        let words = value.split(separator: " ", omittingEmptySubsequences: false)
        guard (1...3).contains(words.count) else { return false }
        return words.allSatisfy { word in !word.isEmpty && word.utf8.allSatisfy { (0x61...0x7A).contains($0) || $0 == UInt8(ascii: "-") } }
    }

    /// A plausible e-mail address: one `@`, a non-empty local part and a dotted domain.
    public static func isEmail(_ value: String) -> Bool {
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !value.contains(" ") else { return false }
        let domain = parts[1]
        return domain.contains(".") && !domain.hasPrefix(".") && !domain.hasSuffix(".")
    }

    /// ISO 639-3 style language codes (three lowercase letters) or two-letter codes.
    public static func isLanguageCode(_ value: String, allowTwoLetters: Bool) -> Bool {
        let bytes = Array(value.utf8)
        // ISO 639-3: three lower-case letters; where allowed, ISO 639-1's two letters in either case.
        if bytes.count == 3 { return bytes.allSatisfy { (0x61...0x7A).contains($0) } }
        return allowTwoLetters && bytes.count == 2 && bytes.allSatisfy { (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }
}

extension ValidationCollector {
    public mutating func nonEmpty(_ value: String, at path: [ValidationIssue.Location]) {
        if !FieldRule.isNonEmpty(value) { add(path, "String should have at least 1 character", type: "string_too_short") }
    }

    public mutating func nonEmpty(_ values: [String], at path: [ValidationIssue.Location]) {
        for (index, value) in values.enumerated() { nonEmpty(value, at: path + [.index(index)]) }
    }

    public mutating func maxLength(_ value: String, _ limit: Int, at path: [ValidationIssue.Location]) {
        if value.count > limit { add(path, "String should have at most \(limit) characters", type: "string_too_long") }
    }

    public mutating func objectID(_ value: String, at path: [ValidationIssue.Location]) {
        if !ObjectID.isValid(value) { add(path, "String should match pattern '^[a-f0-9]{24}$'", type: "string_pattern_mismatch") }
    }

    public mutating func keyterms(_ values: [String], at path: [ValidationIssue.Location]) {
        if values.count > 20 { add(path, "List should have at most 20 items", type: "too_long") }
        for (index, value) in values.enumerated() where !FieldRule.isKeyterm(value) {
            add(path + [.index(index)], "String should match pattern '^[a-z-]+( [a-z-]+){0,2}$'", type: "string_pattern_mismatch")
        }
    }
}
