/// A published version of a tool: `major.minor.patch`, ordered numerically.
///
/// On the wire it is the API's `Version` object `{"major", "minor", "patch"}`; in paths, query values and
/// `publish` responses it is the text `"1.2.3"` (``description``). Tool versions never carry pre-release,
/// post-release, dev or local parts, which is what lets ``VersionSpecifier`` stay small.
public struct ToolVersion: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int

    public init(major: Int, minor: Int, patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `"1.2.3"`: exactly three dot-separated runs of ASCII digits, nothing else (no `v`, no spaces).
    /// Leading zeros are accepted and dropped (`"01.2.3"` is 1.2.3). `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var numbers: [Int] = []
        for part in parts {
            guard let number = Self.number(part) else { return nil }
            numbers.append(number)
        }
        self.init(major: numbers[0], minor: numbers[1], patch: numbers[2])
    }

    /// What `publish` does with the latest version. The first version of a tool is published with
    /// `major`, which makes it `0.0.0.bumped(.major)` = 1.0.0.
    public enum Bump: String, Codable, Sendable, Hashable, CaseIterable {
        case major
        case minor
        case patch
    }

    /// The next version after a bump: major → X+1.0.0, minor → X.Y+1.0, patch → X.Y.Z+1.
    public func bumped(_ bump: Bump) -> ToolVersion {
        switch bump {
        case .major: ToolVersion(major: major + 1, minor: 0, patch: 0)
        case .minor: ToolVersion(major: major, minor: minor + 1, patch: 0)
        case .patch: ToolVersion(major: major, minor: minor, patch: patch + 1)
        }
    }

    /// `0.0.0`, the version before a tool's first.
    public static let zero = ToolVersion(major: 0, minor: 0, patch: 0)

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (lhs: ToolVersion, rhs: ToolVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    /// The release segment at `index` (0 major, 1 minor, 2 patch), zero beyond the patch, as PEP 440 pads
    /// shorter releases when comparing.
    func component(_ index: Int) -> Int {
        switch index {
        case 0: major
        case 1: minor
        case 2: patch
        default: 0
        }
    }

    /// A run of ASCII digits as a non-negative `Int`; `nil` when empty, not all digits, or too large.
    static func number(_ digits: some Collection<UInt8>) -> Int? {
        guard !digits.isEmpty else { return nil }
        var value = 0
        for byte in digits {
            guard (0x30...0x39).contains(byte) else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - 0x30))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }
}
