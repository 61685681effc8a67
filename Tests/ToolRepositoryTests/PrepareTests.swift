import Foundation
import Testing
import ToolRepository

@Suite("Preparing an organization's repository")
struct PrepareTests {
    @Test func aNewRepositoryHasTheReadmeCommitOnMain() async throws {
        try await withTemporaryDirectory { directory in
            let repositories = makeRepositories(in: directory)
            let git = GitClient(home: directory)

            let repository = try await repositories.prepare(organization: "org-1")

            #expect(repository.lastPathComponent == "org-1.git")
            let log = try await git.run(["--git-dir=\(repository.path)", "log", "--format=%s", "main"])
            #expect(log.trimmed == "Start the tool repository")
            let readme = try await git.run(["--git-dir=\(repository.path)", "show", "main:README.md"])
            #expect(readme.standardOutput.contains("pyproject.toml"))
            let files = try await git.run(["--git-dir=\(repository.path)", "ls-tree", "--name-only", "main"])
            #expect(files.trimmed == "README.md")
            let head = try await git.run(["--git-dir=\(repository.path)", "symbolic-ref", "HEAD"])
            #expect(head.trimmed == "refs/heads/main")
        }
    }

    @Test func preparingTwiceKeepsTheRepository() async throws {
        try await withTemporaryDirectory { directory in
            let repositories = makeRepositories(in: directory)

            let first = try await repositories.prepare(organization: "org-1")
            let firstCommit = try await repositories.commit(organization: "org-1", branch: "main")
            let second = try await repositories.prepare(organization: "org-1")
            let secondCommit = try await repositories.commit(organization: "org-1", branch: "main")

            #expect(first == second)
            #expect(firstCommit != nil)
            #expect(firstCommit == secondCommit)
        }
    }

    @Test func concurrentFirstUsesCreateOneRepository() async throws {
        try await withTemporaryDirectory { directory in
            let repositories = makeRepositories(in: directory)

            let commits = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await repositories.prepare(organization: "org-1")
                        return try await repositories.commit(organization: "org-1", branch: "main")
                    }
                }
                return try await group.reduce(into: Set<String?>()) { $0.insert($1) }
            }

            #expect(commits.count == 1)
            #expect(commits.first! != nil)
            let staging = repositories.root.appendingPathComponent(".staging").path
            #expect(try FileManager.default.contentsOfDirectory(atPath: staging).isEmpty)
            let entries = try FileManager.default.contentsOfDirectory(atPath: repositories.root.path)
            #expect(Set(entries) == [".staging", "org-1.git"])
        }
    }

    @Test(arguments: ["", "..", "../org", "org/..", "a/b", "a.b", "a b", "org\n", "é", String(repeating: "a", count: 129)])
    func organizationIdsOutsideTheAlphabetAreRefused(_ organization: String) async throws {
        try await withTemporaryDirectory { directory in
            let repositories = makeRepositories(in: directory)

            await #expect(throws: ToolRepositoryError.invalidOrganization) {
                try await repositories.prepare(organization: organization)
            }
            await #expect(throws: ToolRepositoryError.invalidOrganization) {
                try await repositories.serve(
                    organization: organization,
                    request: GitHTTPRequest(method: "GET", path: "info/refs", query: "service=git-upload-pack"),
                    remoteUser: "user-1"
                )
            }
            #expect(!FileManager.default.fileExists(atPath: repositories.root.path))
        }
    }
}
