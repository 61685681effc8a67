/// A Python-packaging (PEP 440) version specifier set such as `">=1.2,<2"`, `"~=1.4"` or `"==1.0.*"`: the
/// `version_constraint` of a ``ToolCallSpec`` and the `versions` / `version` arguments of the tool endpoints
/// (list versions, deprecate versions, list invocations).
///
/// Semantics follow `packaging.specifiers.SpecifierSet`, restricted to what tool versions can be:
/// - A set is comma-separated clauses; a version matches when it matches every clause. White space around
///   clauses and between an operator and its version is ignored; empty clauses (`">=1,"`) are skipped.
/// - **An empty (or all-blank) specifier has no clauses and matches every version.**
/// - Operators: `~=`, `==`, `!=`, `<=`, `>=`, `<`, `>`, `===`. Release segments may have any length and
///   compare as if padded with zeros: `==1.0` matches 1.0.0, `<2` excludes 2.0.0, `>1` excludes 1.0.0.
/// - `==V.*` / `!=V.*` match by prefix: `==1.0.*` matches 1.0.0 and 1.0.7 but not 1.1.0. The wildcard is
///   an error with any other operator.
/// - `~=V.N` means `>=V.N,==V.*` (so `~=1.4` is `>=1.4,==1.*` and `~=1.4.2` is `>=1.4.2,==1.4.*`); it needs
///   at least two release segments, so `~=1` is an error.
/// - `===X` compares the text case-insensitively with the version's ``ToolVersion/description``: `===1.0.0`
///   matches 1.0.0, `===1.0` matches nothing.
/// - A leading `v` and an epoch (`1!`) are accepted as PEP 440 allows; tool versions have epoch 0.
///
/// Tool versions are always `X.Y.Z` with no pre-release, post-release, dev or local part, so a specifier
/// that names one (`>=1.0a1`, `==1.0.post1`, `<2.dev0`, `==1.0+abc`) is rejected with a ``ParseError``
/// instead of being given semantics that could never apply.
public struct VersionSpecifier: Sendable, Hashable, CustomStringConvertible {
    /// The clauses in the order written.
    public let clauses: [Clause]

    /// Parses `text`; throws a ``ParseError`` naming the first clause that is not a valid specifier.
    public init(_ text: String) throws(ParseError) {
        var clauses: [Clause] = []
        for piece in text.split(separator: ",", omittingEmptySubsequences: false) {
            let clause = piece.trimmingWhitespace
            if clause.isEmpty { continue }
            clauses.append(try Clause(parsing: clause))
        }
        self.clauses = clauses
    }

    /// The specifier that matches every version (no clauses).
    public static let any = try! VersionSpecifier("")

    /// Whether `version` satisfies every clause.
    public func matches(_ version: ToolVersion) -> Bool {
        clauses.allSatisfy { $0.matches(version) }
    }

    /// The highest of `versions` that matches, if any.
    public func best(in versions: some Sequence<ToolVersion>) -> ToolVersion? {
        versions.filter(matches).max()
    }

    /// The clauses in their normalised form joined by commas (`">= 1.0 , <2"` → `">=1.0,<2"`);
    /// empty for ``any``. Parsing the description gives an equal specifier.
    public var description: String { clauses.map(\.description).joined(separator: ",") }
}

extension VersionSpecifier {
    /// The comparison of a clause.
    public enum Operator: String, Sendable, Hashable, CaseIterable {
        case compatible = "~="
        case equal = "=="
        case notEqual = "!="
        case lessThanOrEqual = "<="
        case greaterThanOrEqual = ">="
        case lessThan = "<"
        case greaterThan = ">"
        case arbitrary = "==="
    }

    /// One `operator version` clause, such as `>=1.2` or `==1.0.*`.
    public struct Clause: Sendable, Hashable, CustomStringConvertible {
        public let `operator`: Operator
        /// The version as written after the operator, without surrounding white space (`"1.0.*"`, `"v1.4"`).
        public let version: String
        private let target: Target

        private enum Target: Hashable {
            /// A release to compare against (`epoch!r1.r2…`).
            case release(epoch: Int, segments: [Int])
            /// `==`/`!=` with a trailing `.*`: the segments a version must start with.
            case prefix(epoch: Int, segments: [Int])
            /// `===`: the text itself, lowercased.
            case text(String)
        }

        public var description: String { `operator`.rawValue + version }

        /// Whether `version` satisfies this clause.
        public func matches(_ version: ToolVersion) -> Bool {
            switch (`operator`, target) {
            case (.arbitrary, .text(let text)):
                return version.description == text
            case (.equal, .prefix(let epoch, let segments)):
                return Self.hasPrefix(version, epoch: epoch, segments)
            case (.notEqual, .prefix(let epoch, let segments)):
                return !Self.hasPrefix(version, epoch: epoch, segments)
            case (.compatible, .release(let epoch, let segments)):
                return Self.compare(version, epoch: epoch, segments) >= 0
                    && Self.hasPrefix(version, epoch: epoch, segments.dropLast())
            case (let op, .release(let epoch, let segments)):
                let order = Self.compare(version, epoch: epoch, segments)
                switch op {
                case .equal: return order == 0
                case .notEqual: return order != 0
                case .lessThanOrEqual: return order <= 0
                case .greaterThanOrEqual: return order >= 0
                case .lessThan: return order < 0
                case .greaterThan: return order > 0
                case .compatible, .arbitrary: return false
                }
            default:
                return false
            }
        }

        /// -1, 0 or 1 as `version` (epoch 0) sorts before, equal to or after `epoch!segments`, the shorter
        /// release padded with zeros.
        private static func compare(_ version: ToolVersion, epoch: Int, _ segments: [Int]) -> Int {
            if epoch != 0 { return -1 }
            for index in 0..<max(3, segments.count) {
                let mine = version.component(index)
                let theirs = index < segments.count ? segments[index] : 0
                if mine != theirs { return mine < theirs ? -1 : 1 }
            }
            return 0
        }

        /// Whether `version`, padded with zeros, starts with `segments` (and has the same epoch).
        private static func hasPrefix(_ version: ToolVersion, epoch: Int, _ segments: some Collection<Int>) -> Bool {
            epoch == 0 && segments.enumerated().allSatisfy { version.component($0.offset) == $0.element }
        }

        fileprivate init(parsing clause: Substring) throws(ParseError) {
            let fail = { (reason: ParseError.Reason) in ParseError(clause: String(clause), reason: reason) }
            // Longest operators first, so `===` is not read as `==` and `<=` not as `<`.
            let candidates: [Operator] = [.arbitrary, .compatible, .equal, .notEqual, .lessThanOrEqual, .greaterThanOrEqual, .lessThan, .greaterThan]
            guard let op = candidates.first(where: { clause.hasPrefix($0.rawValue) }) else {
                throw fail(.missingOperator)
            }
            let version = clause.dropFirst(op.rawValue.count).trimmingWhitespace
            if version.contains(where: \.isWhitespace) { throw fail(.whitespaceInVersion) }
            self.operator = op
            self.version = String(version)

            if op == .arbitrary {
                // packaging accepts anything but white space, `;` and `)` here, even nothing.
                if version.contains(where: { $0 == ";" || $0 == ")" }) { throw fail(.malformedVersion) }
                target = .text(version.lowercased())
                return
            }
            if version.isEmpty { throw fail(.missingVersion) }

            var rest = Substring(version)
            if rest.first == "v" || rest.first == "V" { rest = rest.dropFirst() }
            var epoch = 0
            if let bang = rest.firstIndex(of: "!") {
                guard let number = ToolVersion.number(rest[..<bang].utf8) else { throw fail(.malformedVersion) }
                epoch = number
                rest = rest[rest.index(after: bang)...]
            }
            var segments: [Int] = []
            var wildcard = false
            while true {
                let digits = rest.prefix { $0.isASCII && $0.isNumber }
                guard !digits.isEmpty else { throw fail(segments.isEmpty ? .malformedVersion : Self.suffixReason(rest)) }
                guard let number = ToolVersion.number(digits.utf8) else { throw fail(.numberTooLarge) }
                segments.append(number)
                rest = rest.dropFirst(digits.count)
                if rest.isEmpty { break }
                if rest == ".*" {
                    wildcard = true
                    break
                }
                guard rest.first == ".", let next = rest.dropFirst().first, next.isASCII, next.isNumber else {
                    throw fail(Self.suffixReason(rest))
                }
                rest = rest.dropFirst()
            }

            if wildcard {
                guard op == .equal || op == .notEqual else { throw fail(.wildcardNeedsEquality) }
                target = .prefix(epoch: epoch, segments: segments)
            } else {
                if op == .compatible, segments.count < 2 { throw fail(.compatibleNeedsTwoSegments) }
                target = .release(epoch: epoch, segments: segments)
            }
        }

        /// Why the text after the release segments is rejected: a PEP 440 suffix tool versions never have,
        /// or plain garbage.
        private static func suffixReason(_ rest: Substring) -> ParseError.Reason {
            let lowered = rest.lowercased()
            if lowered.hasPrefix("+") { return .unsupportedSuffix("local version") }
            if lowered.hasPrefix("-"), lowered.dropFirst().first?.isNumber == true { return .unsupportedSuffix("post-release") }
            var word = Substring(lowered)
            if let first = word.first, "-_.".contains(first) { word = word.dropFirst() }
            // A PEP 440 keyword followed by its number, a separator or nothing (`rc1`, `post`, `dev.2`).
            func startsWith(_ keywords: [String]) -> Bool {
                keywords.contains { keyword in
                    guard word.hasPrefix(keyword) else { return false }
                    guard let next = word.dropFirst(keyword.count).first else { return true }
                    return next.isNumber || "-_.+".contains(next)
                }
            }
            if startsWith(["dev"]) { return .unsupportedSuffix("dev-release") }
            if startsWith(["alpha", "beta", "preview", "pre", "rc", "a", "b", "c"]) { return .unsupportedSuffix("pre-release") }
            if startsWith(["post", "rev", "r"]) { return .unsupportedSuffix("post-release") }
            return .malformedVersion
        }
    }

    /// A specifier that is not valid PEP 440, or names a version part tool versions never have. ``description``
    /// is written for the API client: the server can put it in its 422 or 400 body as it is.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The offending clause, trimmed (`"~=1"` in `">=0.5, ~=1"`).
        public let clause: String
        fileprivate let reason: Reason

        fileprivate enum Reason: Hashable {
            case missingOperator
            case missingVersion
            case whitespaceInVersion
            case malformedVersion
            case numberTooLarge
            case wildcardNeedsEquality
            case compatibleNeedsTwoSegments
            case unsupportedSuffix(String)
        }

        fileprivate init(clause: String, reason: Reason) {
            self.clause = clause
            self.reason = reason
        }

        /// Whether the clause is well-formed PEP 440 but names a pre-, post-, dev-release or local version.
        public var isUnsupportedVersionPart: Bool {
            if case .unsupportedSuffix = reason { true } else { false }
        }

        public var description: String {
            let why: String
            switch reason {
            case .missingOperator:
                why = "it must start with one of the operators ~=, ==, !=, <=, >=, <, >, === (for example '>=1.0.0')"
            case .missingVersion:
                why = "the operator is not followed by a version"
            case .whitespaceInVersion:
                why = "the version contains white space (separate clauses with commas, as in '>=1.0,<2')"
            case .malformedVersion:
                why = "the version must be release numbers separated by dots, such as '1.2' or '1.2.3'"
            case .numberTooLarge:
                why = "a version number is too large"
            case .wildcardNeedsEquality:
                why = "a '.*' suffix is only allowed with == and !="
            case .compatibleNeedsTwoSegments:
                why = "~= needs a version with at least two numbers, such as '~=1.4'"
            case .unsupportedSuffix(let kind):
                why = "\(kind) segments are not supported: tool versions are always MAJOR.MINOR.PATCH"
            }
            return "Invalid version specifier '\(clause)': \(why)."
        }
    }
}

extension StringProtocol {
    /// The text without white space at either end.
    fileprivate var trimmingWhitespace: Substring {
        let text = self[...]
        guard let first = text.firstIndex(where: { !$0.isWhitespace }), let last = text.lastIndex(where: { !$0.isWhitespace }) else {
            return Substring()
        }
        return Substring(text[first...last])
    }
}
