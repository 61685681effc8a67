import Foundation
import Subprocess
import Testing
import ToolRepository

/// A real `git` client against ``ToolRepositories/serve(organization:request:remoteUser:)`` behind the
/// loopback HTTP server, as users will clone and push.
@Suite("Cloning and pushing over smart HTTP")
struct SmartHTTPTests {
    /// The repository, its server, a user's git and a scratch directory.
    struct Fixture {
        var directory: URL
        var repositories: ToolRepositories
        var server: LoopbackGitServer
        var git: GitClient

        func url(_ path: String) -> URL { directory.appendingPathComponent(path, isDirectory: true) }
    }

    func withServer(_ body: (Fixture) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let repositories = makeRepositories(in: directory)
            let server = try LoopbackGitServer(repositories: repositories)
            defer { server.shutdown() }
            let git = GitClient(home: directory)
            try await body(Fixture(directory: directory, repositories: repositories, server: server, git: git))
        }
    }

    @Test(arguments: [0, 2])
    func aPushedProjectIsInTheNextClone(protocolVersion: Int) async throws {
        try await withServer { fixture in
            let git = fixture.git
            let version = ["-c", "protocol.version=\(protocolVersion)"]
            let started = ContinuousClock.now

            let clone = try await git.run(
                version + ["clone", fixture.server.cloneURL("org-1"), fixture.url("first").path],
                environment: ["GIT_TRACE_PACKET": "1"]
            )
            let work = fixture.url("first")
            #expect(try work.readFile("README.md").contains("pyproject.toml"))
            if protocolVersion == 2 {
                #expect(clone.standardError.contains("git< version 2"))
            } else {
                #expect(!clone.standardError.contains("git< version 2"))
                #expect(clone.standardError.contains("git< # service=git-upload-pack"))
            }

            try work.writeFile("weather/pyproject.toml", "[project]\nname = \"weather\"\nversion = \"0.1.0\"\n")
            try work.writeFile("weather/weather.py", "def forecast(city):\n    return 'sunny'\n")
            try await git.run(["add", "."], in: work)
            try await git.run(["commit", "-q", "-m", "Add the weather tool"], in: work)
            try await git.run(version + ["push", "-q", "origin", "main"], in: work)
            let pushed = try await git.run(["rev-parse", "HEAD"], in: work).trimmed

            try await git.run(version + ["clone", "-q", fixture.server.cloneURL("org-1"), fixture.url("second").path])
            let elapsed = ContinuousClock.now - started

            #expect(try fixture.url("second").readFile("weather/weather.py").contains("sunny"))
            #expect(try await fixture.repositories.commit(organization: "org-1", branch: "main") == pushed)
            let exchanges = fixture.server.exchanges
            #expect(exchanges.allSatisfy { $0.status == 200 })
            #expect(exchanges.contains { $0.target.hasSuffix("/git-receive-pack") })
            if protocolVersion == 2 {
                #expect(exchanges.filter { $0.target.contains("upload-pack") }.allSatisfy { $0.gitProtocol == "version=2" })
            }
            print("protocol v\(protocolVersion): clone + commit + push + clone took \(elapsed)")
        }
    }

    @Test func aPushIsLoggedWithTheUserInTheReflog() async throws {
        try await withServer { fixture in
            let git = fixture.git
            let work = fixture.url("work")
            try await git.run(["clone", "-q", fixture.server.cloneURL("org-1"), work.path])
            try work.writeFile("crm/pyproject.toml", "[project]\nname = \"crm\"\n")
            try await git.run(["add", "."], in: work)
            try await git.run(["commit", "-q", "-m", "Add crm"], in: work)
            try await git.run(["push", "-q", "origin", "main"], in: work)

            let repository = fixture.repositories.root.appendingPathComponent("org-1.git")
            let reflog = try await git.run(["--git-dir=\(repository.path)", "log", "-g", "--format=%gn <%ge>", "main"])
            #expect(reflog.standardOutput.split(separator: "\n").first == "user-1 <user-1@http.127.0.0.1>")
        }
    }

    @Test func fiveMegabytesOfRandomDataArriveIntact() async throws {
        try await pushAndClone(megabytes: 5)
    }

    /// `TOOL_REPOSITORY_LARGE_PUSH=1 swift test --filter fiftyMegabytes`: the size a push must handle.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TOOL_REPOSITORY_LARGE_PUSH"] != nil))
    func fiftyMegabytesOfRandomDataArriveIntact() async throws {
        try await pushAndClone(megabytes: 50)
    }

    /// Pushes a project with `megabytes` of incompressible data, clones it and compares.
    func pushAndClone(megabytes: Int) async throws {
        try await withServer { fixture in
            let git = fixture.git
            let work = fixture.url("work")
            try await git.run(["clone", "-q", fixture.server.cloneURL("org-1"), work.path])
            var generator = SystemRandomNumberGenerator()
            let words = (0..<megabytes * 1024 * 1024 / 8).map { _ in generator.next() as UInt64 }
            let data = words.withUnsafeBytes { Data($0) }
            try work.writeFile("model/pyproject.toml", "[project]\nname = \"model\"\n")
            try work.writeFile("model/weights.bin", data)
            try await git.run(["add", "."], in: work)
            try await git.run(["commit", "-q", "-m", "Add weights"], in: work)

            let started = ContinuousClock.now
            try await git.run(["push", "-q", "origin", "main"], in: work)
            let pushed = ContinuousClock.now - started
            try await git.run(["clone", "-q", fixture.server.cloneURL("org-1"), fixture.url("again").path])
            let total = ContinuousClock.now - started

            let cloned = try Data(contentsOf: fixture.url("again").appendingPathComponent("model/weights.bin"))
            #expect(cloned == data)
            // A pack over git's 1 MiB post buffer goes out with chunked transfer encoding.
            #expect(fixture.server.exchanges.contains { $0.target.hasSuffix("/git-receive-pack") && $0.chunked })
            print("\(megabytes) MiB: push \(pushed), push + clone \(total)")
        }
    }

    @Test func mainOnlyMovesForwardWhileOtherBranchesAreFree() async throws {
        try await withServer { fixture in
            let git = fixture.git
            let work = fixture.url("work")
            try await git.run(["clone", "-q", fixture.server.cloneURL("org-1"), work.path])
            try work.writeFile("a/pyproject.toml", "[project]\nname = \"a\"\n")
            try await git.run(["add", "."], in: work)
            try await git.run(["commit", "-q", "-m", "Add a"], in: work)
            try await git.run(["push", "-q", "origin", "main", "main:feature"], in: work)
            let published = try await git.run(["rev-parse", "HEAD"], in: work).trimmed

            try await git.run(["commit", "-q", "--amend", "-m", "Rewritten"], in: work)
            let forced = try await git.run(["push", "--force", "origin", "main"], in: work, expectSuccess: false)
            #expect(!forced.succeeded)
            #expect(forced.standardError.contains("main cannot be rewritten"))
            let deleted = try await git.run(["push", "origin", ":main"], in: work, expectSuccess: false)
            #expect(!deleted.succeeded)
            #expect(try await fixture.repositories.commit(organization: "org-1", branch: "main") == published)

            try await git.run(["push", "-q", "--force", "origin", "main:feature"], in: work)
            #expect(try await fixture.repositories.commit(organization: "org-1", branch: "feature") != published)
            try await git.run(["push", "-q", "origin", ":feature"], in: work)
            #expect(try await fixture.repositories.commit(organization: "org-1", branch: "feature") == nil)

            try await git.run(["tag", "v1", published], in: work)
            try await git.run(["push", "-q", "origin", "v1"], in: work)
            let movedTag = try await git.run(["push", "--force", "origin", "HEAD:refs/tags/v1"], in: work, expectSuccess: false)
            #expect(!movedTag.succeeded)
        }
    }

    @Test func aRepositoryOfAnotherOrganizationIsSeparate() async throws {
        try await withServer { fixture in
            let git = fixture.git
            let work = fixture.url("work")
            try await git.run(["clone", "-q", fixture.server.cloneURL("org-1"), work.path])
            try work.writeFile("a/pyproject.toml", "[project]\nname = \"a\"\n")
            try await git.run(["add", "."], in: work)
            try await git.run(["commit", "-q", "-m", "Add a"], in: work)
            try await git.run(["push", "-q", "origin", "main"], in: work)

            try await git.run(["clone", "-q", fixture.server.cloneURL("org-2"), fixture.url("other").path])
            #expect(!FileManager.default.fileExists(atPath: fixture.url("other").appendingPathComponent("a").path))
        }
    }

    @Test func aCloneURLThatLeavesTheRepositoryIsNotFound() async throws {
        try await withServer { fixture in
            let clone = try await fixture.git.run(
                ["clone", "-q", fixture.server.cloneURL("org-1") + "/../../org-2/tool/git", fixture.url("x").path],
                expectSuccess: false
            )
            #expect(!clone.succeeded)
            let traversal = try await fixture.git.run(
                ["ls-remote", "http://127.0.0.1:\(fixture.server.port)/v1/org-1/tool/git/..%2F..%2Forg-2.git"],
                expectSuccess: false
            )
            #expect(!traversal.succeeded)
        }
    }
}
