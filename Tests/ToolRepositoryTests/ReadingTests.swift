import Foundation
import Testing
import ToolRepository

/// What the server reads from a repository to publish tool versions: branch tips, ancestry, and
/// the files of a project at a commit.
@Suite("Reading commits and projects")
struct ReadingTests {
    /// A repository with two commits on main and one on a side branch:
    /// `first` adds `tools/weather` (with a pyproject.toml) and `notes/` (without one), `second`
    /// changes the weather tool, `side` branches off `first`.
    struct History {
        var repositories: ToolRepositories
        var first: String
        var second: String
        var side: String
    }

    func withHistory(_ body: (History, URL) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let repositories = makeRepositories(in: directory)
            let repository = try await repositories.prepare(organization: "org-1")
            let git = GitClient(home: directory)
            let work = directory.appendingPathComponent("work")
            try await git.run(["clone", "-q", repository.path, work.path])

            try work.writeFile("tools/weather/pyproject.toml", "[project]\nname = \"weather\"\nversion = \"1\"\n")
            try work.writeFile("tools/weather/src/weather/__init__.py", "VERSION = 1\n")
            try work.writeFile("notes/todo.md", "nothing\n")
            try await git.run(["add", "."], in: work)
            try await git.run(["commit", "-q", "-m", "first"], in: work)
            let first = try await git.run(["rev-parse", "HEAD"], in: work).trimmed

            try work.writeFile("tools/weather/src/weather/__init__.py", "VERSION = 2\n")
            try await git.run(["commit", "-q", "-am", "second"], in: work)
            let second = try await git.run(["rev-parse", "HEAD"], in: work).trimmed

            try await git.run(["checkout", "-q", "-b", "side", first], in: work)
            try work.writeFile("side.txt", "side\n")
            try await git.run(["add", "."], in: work)
            try await git.run(["commit", "-q", "-m", "side"], in: work)
            let side = try await git.run(["rev-parse", "HEAD"], in: work).trimmed
            try await git.run(["push", "-q", "origin", "main", "side"], in: work)

            try await body(History(repositories: repositories, first: first, second: second, side: side), directory)
        }
    }

    @Test func theTipOfMainIsTheLastPushedCommit() async throws {
        try await withHistory { history, _ in
            let main = try await history.repositories.commit(organization: "org-1", branch: "main")
            let side = try await history.repositories.commit(organization: "org-1", branch: "side")
            #expect(main == history.second)
            #expect(side == history.side)
        }
    }

    @Test func aMissingBranchHasNoCommit() async throws {
        try await withHistory { history, _ in
            let release = try await history.repositories.commit(organization: "org-1", branch: "release")
            let nested = try await history.repositories.commit(organization: "org-1", branch: "main/sub")
            #expect(release == nil)
            #expect(nested == nil)
        }
    }

    @Test(arguments: ["-h", "--all", "a..b", "a b", "refs/../main", "main.lock", "@", ".hidden", "x:y", ""])
    func aBranchNameGitWouldRefuseIsInvalid(_ branch: String) async throws {
        try await withHistory { history, _ in
            await #expect(throws: ToolRepositoryError.invalidReference) {
                try await history.repositories.commit(organization: "org-1", branch: branch)
            }
        }
    }

    @Test func ancestryFollowsTheHistory() async throws {
        try await withHistory { history, _ in
            func isAncestor(_ ancestor: String, of descendant: String) async throws -> Bool {
                try await history.repositories.isAncestor(organization: "org-1", ancestor, of: descendant)
            }
            let olderOfNewer = try await isAncestor(history.first, of: history.second)
            let itself = try await isAncestor(history.second, of: history.second)
            let newerOfOlder = try await isAncestor(history.second, of: history.first)
            let sideOfMain = try await isAncestor(history.side, of: history.second)
            let olderOfBranch = try await isAncestor(history.first, of: "main")
            #expect(olderOfNewer)
            #expect(itself)
            #expect(!newerOfOlder)
            #expect(!sideOfMain)
            #expect(olderOfBranch)
        }
    }

    @Test(arguments: ["0123456789abcdef0123456789abcdef01234567", "nope", "--all"])
    func ancestryOfAnUnknownCommitIsAnError(_ commit: String) async throws {
        try await withHistory { history, _ in
            await #expect {
                try await history.repositories.isAncestor(organization: "org-1", commit, of: history.second)
            } throws: { error in
                let error = error as? ToolRepositoryError
                return error == .unknownCommit || error == .invalidReference
            }
        }
    }

    @Test func exportWritesTheProjectAsItWasAtTheCommit() async throws {
        try await withHistory { history, directory in
            let old = directory.appendingPathComponent("export-old")
            let new = directory.appendingPathComponent("export-new")

            let repositories = history.repositories
            try await repositories.export(organization: "org-1", commit: history.first, projectPath: "tools/weather", to: old)
            try await repositories.export(organization: "org-1", commit: history.second, projectPath: "/tools/weather/", to: new)

            #expect(try old.readFile("pyproject.toml").contains("name = \"weather\""))
            #expect(try old.readFile("src/weather/__init__.py") == "VERSION = 1\n")
            #expect(try new.readFile("src/weather/__init__.py") == "VERSION = 2\n")
            #expect(try FileManager.default.contentsOfDirectory(atPath: old.path).sorted() == ["pyproject.toml", "src"])
        }
    }

    @Test(arguments: ["tools/missing", "notes", "tools/weather/pyproject.toml", "tools"])
    func exportOfAPathWithoutAProjectIsProjectNotFound(_ path: String) async throws {
        try await withHistory { history, directory in
            let destination = directory.appendingPathComponent("export")
            await #expect(throws: ToolRepositoryError.projectNotFound) {
                try await history.repositories.export(
                    organization: "org-1", commit: history.second, projectPath: path, to: destination
                )
            }
            #expect(!FileManager.default.fileExists(atPath: destination.path))
        }
    }

    @Test func exportOfAProjectMissingAtAnOlderCommitIsProjectNotFound() async throws {
        try await withHistory { history, directory in
            await #expect(throws: ToolRepositoryError.projectNotFound) {
                try await history.repositories.export(
                    organization: "org-1", commit: "\(history.first)~1", projectPath: "tools/weather",
                    to: directory.appendingPathComponent("export")
                )
            }
        }
    }

    @Test(arguments: ["../org-2.git", "tools/../../x", "tools/./weather", "a\\b"])
    func exportOfAPathLeavingTheRepositoryIsRefused(_ path: String) async throws {
        try await withHistory { history, directory in
            await #expect(throws: ToolRepositoryError.invalidPath) {
                try await history.repositories.export(
                    organization: "org-1", commit: history.second, projectPath: path,
                    to: directory.appendingPathComponent("export")
                )
            }
        }
    }

    @Test func exportOfAnUnknownCommitIsUnknownCommit() async throws {
        try await withHistory { history, directory in
            await #expect(throws: ToolRepositoryError.unknownCommit) {
                try await history.repositories.export(
                    organization: "org-1", commit: "0123456789abcdef0123456789abcdef01234567", projectPath: "tools/weather",
                    to: directory.appendingPathComponent("export")
                )
            }
        }
    }

    @Test func exportRefusesAProjectWithASymbolicLink() async throws {
        try await withTemporaryDirectory { directory in
            let repositories = makeRepositories(in: directory)
            let repository = try await repositories.prepare(organization: "org-1")
            let git = GitClient(home: directory)
            let work = directory.appendingPathComponent("work")
            try await git.run(["clone", "-q", repository.path, work.path])
            try work.writeFile("leak/pyproject.toml", "[project]\nname = \"leak\"\n")
            try FileManager.default.createSymbolicLink(
                atPath: work.appendingPathComponent("leak/secrets").path, withDestinationPath: "/etc/passwd"
            )
            try await git.run(["add", "."], in: work)
            try await git.run(["commit", "-q", "-m", "leak"], in: work)
            try await git.run(["push", "-q", "origin", "main"], in: work)

            await #expect(throws: ToolRepositoryError.projectNotFound) {
                try await repositories.export(
                    organization: "org-1", commit: "main", projectPath: "leak", to: directory.appendingPathComponent("export")
                )
            }
        }
    }
}
