import AmigoWire
import Foundation
import Testing

@Suite struct ToolVersionTests {
    @Test(arguments: [("1.2.3", ToolVersion(major: 1, minor: 2, patch: 3)), ("0.0.0", .zero), ("10.20.30", ToolVersion(major: 10, minor: 20, patch: 30)), ("01.2.03", ToolVersion(major: 1, minor: 2, patch: 3))])
    func aVersionParsesFromItsText(_ text: String, _ expected: ToolVersion) {
        #expect(ToolVersion(text) == expected)
    }

    @Test(arguments: ["", "1", "1.2", "1.2.3.4", "v1.2.3", " 1.2.3", "1.2.3 ", "1..3", "1.-2.3", "a.b.c", "1.2.3a1", "1.2.99999999999999999999"])
    func anythingButThreeNumbersIsNotAVersion(_ text: String) {
        #expect(ToolVersion(text) == nil)
    }

    @Test func aVersionPrintsAsMajorMinorPatch() {
        #expect(ToolVersion(major: 1, minor: 2, patch: 3).description == "1.2.3")
        #expect("\(ToolVersion(major: 0, minor: 10, patch: 0))" == "0.10.0")
    }

    @Test func versionsOrderNumericallyNotAsText() {
        let versions = ["1.10.0", "1.2.0", "1.9.9", "0.9.12", "1.2.10", "1.2.9"].compactMap { ToolVersion($0) }
        #expect(versions.sorted().map(\.description) == ["0.9.12", "1.2.0", "1.2.9", "1.2.10", "1.9.9", "1.10.0"])
        #expect(ToolVersion("2.0.0")! > ToolVersion("1.99.99")!)
    }

    @Test(arguments: [
        (ToolVersion.Bump.major, "2.0.0"),
        (.minor, "1.3.0"),
        (.patch, "1.2.4"),
    ])
    func bumpingResetsTheLowerNumbers(_ bump: ToolVersion.Bump, _ expected: String) {
        #expect(ToolVersion(major: 1, minor: 2, patch: 3).bumped(bump).description == expected)
    }

    @Test func theFirstVersionPublishedWithMajorIsOneZeroZero() {
        #expect(ToolVersion.zero.bumped(.major).description == "1.0.0")
    }

    @Test func onTheWireAVersionIsAnObjectOfThreeNumbers() throws {
        let version = ToolVersion(major: 1, minor: 2, patch: 3)
        let encoded = try JSONDecoder().decode(JSONValue.self, from: WireCoding.encoder().encode(version))
        #expect(encoded == ["major": 1, "minor": 2, "patch": 3])
        #expect(try WireCoding.decoder().decode(ToolVersion.self, from: Data(#"{"major": 4, "minor": 0, "patch": 1}"#.utf8)) == ToolVersion(major: 4, minor: 0, patch: 1))
    }
}

@Suite struct VersionSpecifierTests {
    /// One row of the table checked against Python's `packaging.specifiers.SpecifierSet.contains`.
    struct Row: Sendable, CustomTestStringConvertible {
        var specifier: String
        var version: String
        var matches: Bool
        var testDescription: String { "'\(specifier)' \(matches ? "matches" : "excludes") \(version)" }
    }

    // Every expected value was checked with packaging 26.2 (`SpecifierSet(spec).contains(version)`).
    // Left out: `~=v1.4`, which packaging mis-handles (it matches nothing there, while PEP 440 and this
    // type read it as `~=1.4`).
    static let table: [Row] = rows.map { Row(specifier: $0.0, version: $0.1, matches: $0.2) }

    private static let rows: [(String, String, Bool)] = [
        (">=1.2,<2", "1.2.0", true),
        (">=1.2,<2", "1.1.9", false),
        (">=1.2,<2", "2.0.0", false),
        (">=1.2,<2", "1.9.9", true),
        ("~=1.4", "1.4.0", true),
        ("~=1.4", "1.9.3", true),
        ("~=1.4", "2.0.0", false),
        ("~=1.4", "1.3.9", false),
        ("~=1.4.2", "1.4.2", true),
        ("~=1.4.2", "1.4.9", true),
        ("~=1.4.2", "1.5.0", false),
        ("~=1.4.2", "1.4.1", false),
        ("~=0.0", "0.0.0", true),
        ("~=0.0", "0.9.0", true),
        ("~=0.0", "1.0.0", false),
        ("~=1.0.0.0", "1.0.0", true),
        ("~=1.0.0.0", "1.0.1", false),
        ("==1.0.*", "1.0.0", true),
        ("==1.0.*", "1.0.7", true),
        ("==1.0.*", "1.1.0", false),
        ("==1.0.*", "0.1.0", false),
        ("!=1.0.*", "1.0.0", false),
        ("!=1.0.*", "1.0.7", false),
        ("!=1.0.*", "1.1.0", true),
        ("!=1.0.*", "0.9.9", true),
        ("==1.*", "1.0.0", true),
        ("==1.*", "1.9.9", true),
        ("==1.*", "2.0.0", false),
        ("==1.0.0.0.*", "1.0.0", true),
        ("==1.0.0.0.*", "1.0.1", false),
        ("==1.0.0.1.*", "1.0.0", false),
        ("==1.*, !=1.3.*", "1.3.1", false),
        ("==1.*, !=1.3.*", "1.4.0", true),
        ("==1.*, !=1.3.*", "0.3.0", false),
        ("==1.0", "1.0.0", true),
        ("==1.0", "1.0.1", false),
        ("==1", "1.0.0", true),
        ("==1", "1.1.0", false),
        ("==1.0.0.0", "1.0.0", true),
        ("!=1.0", "1.0.0", false),
        ("!=1.0", "1.0.1", true),
        ("!=1.0.0.0", "1.0.0", false),
        ("===1.0.0", "1.0.0", true),
        ("===1.0.0", "1.0.1", false),
        ("===1.0", "1.0.0", false),
        ("===", "1.0.0", false),
        ("=== 1.2.3", "1.2.3", true),
        (">1", "1.0.0", false),
        (">1", "1.0.1", true),
        (">1", "2.0.0", true),
        (">1", "0.9.0", false),
        (">1.0", "1.0.0", false),
        (">1.0", "1.0.1", true),
        ("<2", "1.9.9", true),
        ("<2", "2.0.0", false),
        ("<2", "2.0.1", false),
        ("<=1.2", "1.2.0", true),
        ("<=1.2", "1.1.5", true),
        ("<=1.2", "1.2.1", false),
        (">=0", "0.0.0", true),
        (">=0", "3.1.4", true),
        ("==01.02", "1.2.0", true),
        (">= 1.0 , < 2", "1.0.0", true),
        (">= 1.0 , < 2", "2.0.0", false),
        (">=1.0,", "1.0.0", true),
        (">=1.0,", "0.9.0", false),
        (",,>=1", "1.0.0", true),
        (",,>=1", "0.9.0", false),
        ("", "0.0.0", true),
        ("", "9.9.9", true),
        ("   ", "1.0.0", true),
        (">=V1.0", "1.0.0", true),
        (">=V1.0", "0.9.0", false),
        ("==v1.*", "1.2.0", true),
        ("==v1.*", "2.0.0", false),
        ("==0!1.*", "1.5.0", true),
        (">=1!1.0", "1.0.0", false),
        (">=1!1.0", "99.0.0", false),
        ("<1!0", "5.0.0", true),
        (" ==1.0.* ", "1.0.3", true),
    ]

    /// Rejected by packaging too.
    static let invalid = [
        "~=1", "~=1.*", "~=1.4.*", "==1.*.0", ">=1.0.*", "<1.0.*", "1.0", "=1.0", ">=1.0 <2", "==1.0 .*",
        "==1.0.*.*", "<>1", "==-1", ">=1.", ">=", "garbage", "==1.0;", "===1.0)", ">=1.0,garbage", "==1..0",
    ]

    /// Valid for packaging, but they name version parts tool versions never have.
    static let unsupported = [">=1.0a1", "~=1.4rc1", "==1.0.post1", ">1.0-1", "<2.dev0", "==1.0+local", "!=1.0+abc.5"]

    @Test(arguments: table)
    func aSpecifierMatchesAsPythonPackagingDoes(_ row: Row) throws {
        let specifier = try VersionSpecifier(row.specifier)
        #expect(specifier.matches(try #require(ToolVersion(row.version))) == row.matches)
    }

    @Test(arguments: invalid)
    func anInvalidSpecifierIsAParseErrorNamingTheClause(_ text: String) {
        let error = #expect(throws: VersionSpecifier.ParseError.self) { try VersionSpecifier(text) }
        #expect(error?.description.hasPrefix("Invalid version specifier '") == true)
        #expect(error?.isUnsupportedVersionPart == false)
    }

    @Test(arguments: unsupported)
    func preReleasePostReleaseDevAndLocalPartsAreRejectedWithAClearError(_ text: String) {
        let error = #expect(throws: VersionSpecifier.ParseError.self) { try VersionSpecifier(text) }
        #expect(error?.isUnsupportedVersionPart == true)
        #expect(error?.description.contains("tool versions are always MAJOR.MINOR.PATCH") == true)
    }

    @Test func theErrorPointsAtTheBadClauseAndSaysWhatIsWrong() {
        let error = #expect(throws: VersionSpecifier.ParseError.self) { try VersionSpecifier(">=0.5, ~=1") }
        #expect(error?.clause == "~=1")
        #expect(error?.description == "Invalid version specifier '~=1': ~= needs a version with at least two numbers, such as '~=1.4'.")

        let wildcard = #expect(throws: VersionSpecifier.ParseError.self) { try VersionSpecifier(">=1.0.*") }
        #expect(wildcard?.description.contains("'.*' suffix is only allowed with == and !=") == true)

        let noOperator = #expect(throws: VersionSpecifier.ParseError.self) { try VersionSpecifier("1.0.0") }
        #expect(noOperator?.description.contains("must start with one of the operators") == true)

        let spaced = #expect(throws: VersionSpecifier.ParseError.self) { try VersionSpecifier(">=1.0 <2") }
        #expect(spaced?.description.contains("separate clauses with commas") == true)

        let preRelease = #expect(throws: VersionSpecifier.ParseError.self) { try VersionSpecifier(">=1.0rc1") }
        #expect(preRelease?.description.contains("pre-release") == true)
    }

    @Test func anEmptySpecifierMatchesEveryVersion() throws {
        #expect(try VersionSpecifier("").clauses.isEmpty)
        #expect(try VersionSpecifier(" , ").clauses.isEmpty)
        #expect(VersionSpecifier.any.matches(.zero))
        #expect(VersionSpecifier.any.description == "")
    }

    @Test func theBestVersionIsTheHighestThatMatches() throws {
        let published = ["1.0.0", "1.4.0", "2.0.0", "1.9.3", "1.3.9"].compactMap { ToolVersion($0) }
        #expect(try VersionSpecifier("~=1.4").best(in: published)?.description == "1.9.3")
        #expect(try VersionSpecifier(">=1.0.0").best(in: published)?.description == "2.0.0")
        #expect(try VersionSpecifier("==1.0.*").best(in: published)?.description == "1.0.0")
        #expect(try VersionSpecifier(">=3").best(in: published) == nil)
        #expect(try VersionSpecifier("").best(in: published)?.description == "2.0.0")
        #expect(try VersionSpecifier(">=1").best(in: []) == nil)
    }

    @Test func aSpecifierPrintsInNormalFormAndReadsBackTheSame() throws {
        let specifier = try VersionSpecifier(" >= 1.0 , < 2 ,, != 1.5.* ")
        #expect(specifier.description == ">=1.0,<2,!=1.5.*")
        #expect(try VersionSpecifier(specifier.description) == specifier)
        #expect(specifier.clauses.map(\.operator) == [.greaterThanOrEqual, .lessThan, .notEqual])
        #expect(specifier.clauses.map(\.version) == ["1.0", "2", "1.5.*"])
    }

    @Test func compatibleReleaseIsAtLeastTheVersionWithinItsPrefix() throws {
        let twoPart = try VersionSpecifier("~=1.4")
        let expanded = try VersionSpecifier(">=1.4,==1.*")
        let threePart = try VersionSpecifier("~=1.4.2")
        let threeExpanded = try VersionSpecifier(">=1.4.2,==1.4.*")
        for major in 0...2 {
            for minor in 0...6 {
                for patch in 0...3 {
                    let version = ToolVersion(major: major, minor: minor, patch: patch)
                    #expect(twoPart.matches(version) == expanded.matches(version), "\(version)")
                    #expect(threePart.matches(version) == threeExpanded.matches(version), "\(version)")
                }
            }
        }
    }

    @Test func aLeadingVIsIgnoredEvenForCompatibleRelease() throws {
        // packaging 26.2 matches nothing for `~=v1.4`; PEP 440 normalises the `v` away.
        #expect(try VersionSpecifier("~=v1.4").matches(ToolVersion("1.5.0")!))
    }
}
