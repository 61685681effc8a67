import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The tool code repositories of all organizations: one bare git repository per organization at
/// `<root>/<organization>.git`, served over git's smart HTTP protocol by `git http-backend`, and read
/// by the server to build published tool versions.
///
/// Every call validates the organization id (`^[A-Za-z0-9_-]{1,128}$`) and creates the repository on
/// first use (``prepare(organization:)``), so a fresh organization can clone at once. The value is
/// immutable and `Sendable`; concurrent calls, also from several processes sharing `root`, are safe:
/// git locks what it changes, and a repository appears in `root` only once fully initialized.
///
/// Creating a value ignores `SIGPIPE` in the whole process: git may exit before reading a request
/// body to its end, and writing the rest to its closed pipe must fail with `EPIPE`, not kill the server.
public struct ToolRepositories: Sendable {
    /// The directory holding `<organization>.git` repositories.
    public let root: URL
    let git: Git
    let logger: Logger

    /// - Parameters:
    ///   - root: Where the repositories live; created when missing.
    ///   - git: The git executable: a name looked up in `PATH`, or a path. Its `http-backend` serves
    ///     requests. Git 2.34 or newer (protocol v2 over HTTP through `HTTP_GIT_PROTOCOL`).
    ///   - logger: Receives repository creation, http-backend's error output and per-request lines.
    public init(root: URL, git: String = "git", logger: Logger) {
        self.root = root.standardizedFileURL
        self.git = Git(executable: git, home: self.root)
        self.logger = logger
        signal(SIGPIPE, SIG_IGN)
    }

    /// The organization's bare repository, created if it does not exist yet: `main` holds one commit
    /// with a README explaining the layout (one directory per tool project, each with a
    /// `pyproject.toml`), pushes are accepted, and `main` and tags are protected by an `update` hook
    /// (see ``RepositoryTemplate``). Idempotent and safe under concurrent calls: the repository is built
    /// in `<root>/.staging` and renamed into place, and a loser of the race discards its copy.
    @discardableResult
    public func prepare(organization: String) async throws -> URL {
        let organization = try Names.organization(organization)
        let repository = repositoryURL(organization)
        if FileManager.default.fileExists(atPath: repository.appendingPathComponent("HEAD").path) {
            return repository
        }
        let staging = root.appendingPathComponent(".staging", isDirectory: true)
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        let building = staging.appendingPathComponent("\(organization)-\(UUID().uuidString).git", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: building) }

        try await git.succeed(["init", "--quiet", "--bare", "--template=", "--initial-branch=main", building.path])
        let config = building.appendingPathComponent("config")
        let handle = try FileHandle(forWritingTo: config)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(RepositoryTemplate.configuration.utf8))
        try handle.close()
        let hooks = building.appendingPathComponent("hooks", isDirectory: true)
        try FileManager.default.createDirectory(at: hooks, withIntermediateDirectories: true)
        let hook = hooks.appendingPathComponent("update")
        try Data(RepositoryTemplate.updateHook.utf8).write(to: hook)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
        try await git.succeed(
            ["--git-dir=\(building.path)", "fast-import", "--quiet", "--date-format=now"],
            input: RepositoryTemplate.initialCommit
        )

        if rename(building.path, repository.path) == 0 {
            logger.info("Created tool repository", metadata: ["org_id": "\(organization)"])
            return repository
        }
        let error = errno
        // Another caller finished first: its repository is as good as ours.
        guard FileManager.default.fileExists(atPath: repository.appendingPathComponent("HEAD").path) else {
            throw ToolRepositoryError.gitFailed(
                "cannot move the new repository into place: \(String(cString: strerror(error)))"
            )
        }
        return repository
    }

    /// The commit hash at the tip of `branch` (e.g. `"main"`); nil if there is no such branch.
    /// Throws ``ToolRepositoryError/invalidReference`` for a name git would refuse as a branch.
    public func commit(organization: String, branch: String) async throws -> String? {
        let repository = try await prepare(organization: organization)
        let branch = try Names.branch(branch)
        let output = try await git.run([
            "--git-dir=\(repository.path)", "rev-parse", "--verify", "--quiet", "refs/heads/\(branch)^{commit}",
        ])
        guard output.succeeded else {
            guard output.exitCode == 1 else {
                throw ToolRepositoryError.gitFailed("git rev-parse failed: \(output.standardError)")
            }
            return nil
        }
        return output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether `ancestor` is an ancestor of `descendant` or the same commit (both commit hashes or
    /// other revisions). Throws ``ToolRepositoryError/unknownCommit`` if either is not a commit of
    /// the repository.
    public func isAncestor(organization: String, _ ancestor: String, of descendant: String) async throws -> Bool {
        let repository = try await prepare(organization: organization)
        let ancestor = try await resolveCommit(ancestor, in: repository)
        let descendant = try await resolveCommit(descendant, in: repository)
        let output = try await git.run(
            ["--git-dir=\(repository.path)", "merge-base", "--is-ancestor", ancestor, descendant]
        )
        switch output.exitCode {
        case 0: return true
        case 1: return false
        default: throw ToolRepositoryError.gitFailed("git merge-base failed: \(output.standardError)")
        }
    }

    /// Writes the files of the directory `projectPath` as it is at `commit` into `destination`
    /// (created if missing): `destination/pyproject.toml` and so on, without the `projectPath`
    /// prefix. `""` or `"."` is the repository root.
    ///
    /// Throws ``ToolRepositoryError/unknownCommit`` for a commit the repository doesn't have,
    /// ``ToolRepositoryError/projectNotFound`` if the directory doesn't exist at that commit, has no
    /// `pyproject.toml`, or holds a symbolic link (which could make a build read files outside the
    /// project), and ``ToolRepositoryError/invalidPath`` for a path that leaves the repository.
    public func export(organization: String, commit: String, projectPath: String, to destination: URL) async throws {
        let repository = try await prepare(organization: organization)
        let projectPath = try Names.projectPath(projectPath)
        let commit = try await resolveCommit(commit, in: repository)
        let tree = "\(commit):\(projectPath)"

        let listing = try await git.run(
            ["--git-dir=\(repository.path)", "ls-tree", "-r", "-z", "--full-tree", tree], outputLimit: 64 << 20
        )
        guard listing.succeeded else {
            throw ToolRepositoryError.projectNotFound("no directory '\(projectPath)' at commit \(commit)")
        }
        var hasProjectFile = false
        for entry in listing.standardOutput.split(separator: "\0") {
            // "<mode> <type> <object>\t<path>"
            guard let tab = entry.firstIndex(of: "\t") else { continue }
            let fields = entry[..<tab].split(separator: " ")
            let path = entry[entry.index(after: tab)...]
            if fields.first == "120000" {
                throw ToolRepositoryError.projectNotFound("'\(projectPath)/\(path)' is a symbolic link at commit \(commit)")
            }
            if path == "pyproject.toml", fields.dropFirst().first == "blob" { hasProjectFile = true }
        }
        guard hasProjectFile else {
            throw ToolRepositoryError.projectNotFound("no pyproject.toml in '\(projectPath)' at commit \(commit)")
        }
        try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: true)
        try await git.archive(tree, of: repository, into: destination)
    }

    /// The full hash of the commit `revision` names; ``ToolRepositoryError/unknownCommit`` if none.
    func resolveCommit(_ revision: String, in repository: URL) async throws -> String {
        let revision = try Names.revision(revision)
        let output = try await git.run(
            ["--git-dir=\(repository.path)", "rev-parse", "--verify", "--quiet", "\(revision)^{commit}"]
        )
        guard output.succeeded else { throw ToolRepositoryError.unknownCommit("unknown commit '\(revision)'") }
        return output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func repositoryURL(_ organization: String) -> URL {
        root.appendingPathComponent("\(organization).git", isDirectory: true)
    }
}
