/// A failure of a ``ToolRepositories`` call that the caller can act on.
///
/// Two errors are equal when they are of the same kind, whatever their ``detail``, so callers and tests
/// match them with `==` (`error == .projectNotFound`). Suggested statuses: ``invalidOrganization`` and
/// ``invalidPath`` 404 (nothing is served there), ``invalidReference`` 422, ``unknownCommit`` and
/// ``projectNotFound`` 404 or 422 depending on whether the commit came from the URL or the body,
/// ``gitFailed`` 500.
public struct ToolRepositoryError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Hashable, Sendable {
        case invalidOrganization
        case invalidPath
        case invalidReference
        case unknownCommit
        case projectNotFound
        case gitFailed
    }

    private let kind: Kind
    /// What went wrong, for logs and error bodies; never contains file contents.
    public let detail: String

    private init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.kind == rhs.kind }
    public func hash(into hasher: inout Hasher) { hasher.combine(kind) }

    /// The organization id is not `^[A-Za-z0-9_-]{1,128}$`.
    public static var invalidOrganization: Self { Self(.invalidOrganization, "invalid organization id") }
    /// A git path or project path leaves its root (`..`, an absolute path) or holds forbidden characters.
    public static var invalidPath: Self { Self(.invalidPath, "invalid path") }
    /// A branch name or commit that git would not accept as one (or that could be read as an option).
    public static var invalidReference: Self { Self(.invalidReference, "invalid reference") }
    /// The commit (or ancestor/descendant) is not in the organization's repository.
    public static var unknownCommit: Self { Self(.unknownCommit, "unknown commit") }
    /// The project directory does not exist at the commit, or has no `pyproject.toml` there.
    public static var projectNotFound: Self { Self(.projectNotFound, "project not found") }
    /// git itself failed (could not start, or exited with an unexpected status).
    public static var gitFailed: Self { Self(.gitFailed, "git failed") }

    static func invalidOrganization(_ detail: String) -> Self { Self(.invalidOrganization, detail) }
    static func invalidPath(_ detail: String) -> Self { Self(.invalidPath, detail) }
    static func invalidReference(_ detail: String) -> Self { Self(.invalidReference, detail) }
    static func unknownCommit(_ detail: String) -> Self { Self(.unknownCommit, detail) }
    static func projectNotFound(_ detail: String) -> Self { Self(.projectNotFound, detail) }
    static func gitFailed(_ detail: String) -> Self { Self(.gitFailed, detail) }

    public var description: String { detail }
}
