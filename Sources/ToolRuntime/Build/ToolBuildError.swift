/// Why a tool project could not be read or built, in words its author can act on
/// (`pyproject.toml has no [tool.compadre] entry`). `details` holds the tail of the build's output.
public struct ToolBuildError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Sendable, Hashable {
        case invalidProject
        case buildFailed
        case timedOut
    }

    private let kind: Kind
    public let message: String
    /// The last lines of the failing step's output, when there was one.
    public let details: [String]

    private init(_ kind: Kind, _ message: String, details: [String] = []) {
        self.kind = kind
        self.message = message
        self.details = details
    }

    /// The project does not follow the contract (files, `[tool.compadre]`, input schema).
    static func invalidProject(_ message: String) -> Self { .init(.invalidProject, message) }
    /// A build step (venv, pip) failed.
    static func buildFailed(_ message: String, details: [String]) -> Self { .init(.buildFailed, message, details: details) }
    static func timedOut(_ message: String) -> Self { .init(.timedOut, message) }

    public var description: String {
        details.isEmpty ? message : message + "\n" + details.joined(separator: "\n")
    }
}
