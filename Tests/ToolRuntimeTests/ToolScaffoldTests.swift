import Foundation
import Testing
import ToolRuntime

@Suite struct ToolScaffoldTests {
    @Test func theTarballUnpacksWithTarIntoTheScaffoldFolder() throws {
        let folder = try TestTools.folder("unpack")
        let archive = folder.appending(path: "scaffold.tar.gz")
        try ToolScaffold.tarball().write(to: archive)
        let tar = Process()
        tar.executableURL = URL(filePath: "/bin/tar")
        tar.arguments = ["-xzf", archive.path, "-C", folder.path]
        try tar.run()
        tar.waitUntilExit()
        #expect(tar.terminationStatus == 0)
        for (path, contents) in ToolScaffold.files {
            let file = folder.appending(path: "amigo_tool_scaffold/\(path)")
            #expect(FileManager.default.contents(atPath: file.path) == Data(contents.utf8), "\(path)")
        }
    }

    @Test func theTarballIsTheSameBytesEveryTime() throws {
        #expect(try ToolScaffold.tarball() == ToolScaffold.tarball())
    }

    @Test func theRevisionIsAShortStableHash() {
        #expect(ToolScaffold.revision.count == 16)
        #expect(ToolScaffold.revision.allSatisfy { $0.isHexDigit })
        #expect(ToolScaffold.revision == ToolScaffold.revision)
    }

    @Test func theScaffoldBuildsAndGreetsByName() async throws {
        let (environment, buildTime) = try await TestTools.scaffold()
        print("scaffold build time: \(buildTime)")
        let sandbox = try await TestTools.sandbox(.automatic)
        let result = await sandbox.run(environment, input: TestTools.request(["name": "Ada"]), variables: [:])
        #expect(result.output == "Hello, Ada!")
    }

    @Test func theScaffoldReportsAnEmptyNameAsValueError() async throws {
        let (environment, _) = try await TestTools.scaffold()
        let sandbox = try await TestTools.sandbox(.automatic)
        let result = await sandbox.run(environment, input: TestTools.request(["name": " "]), variables: [:])
        #expect(result.failure?.type == "ValueError")
        #expect(result.failure?.message == "name must not be empty")
    }
}
