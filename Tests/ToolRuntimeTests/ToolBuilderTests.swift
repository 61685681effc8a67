import Foundation
import Testing
import ToolRuntime

@Suite struct ToolBuilderTests {
    @Test func aBuiltEnvironmentIsFoundAgainAfterARestart() async throws {
        let environment = try await TestTools.probe()
        let loaded = try #require(try ToolEnvironment.load(from: environment.directory))
        #expect(loaded == environment)
        #expect(loaded.manifest.requiredEnvvars == ["PROBE_GREETING"])
        #expect(loaded.manifest.requiredSecretEnvvars == ["PROBE_TOKEN"])
    }

    @Test func aFolderWithoutACompletedBuildHasNoEnvironment() throws {
        #expect(try ToolEnvironment.load(from: try TestTools.folder("empty")) == nil)
    }

    @Test func anEnvironmentBuiltByAnOlderCompadreRunsWithTheCurrentHarness() async throws {
        let built = try await TestTools.probe()
        let copy = try TestTools.folder("copied-environment")
        try FileManager.default.removeItem(at: copy)
        try FileManager.default.copyItem(at: built.directory, to: copy)
        try Data("raise SystemExit('an old harness')\n".utf8).write(to: copy.appending(path: "harness.py"))

        let environment = try #require(try ToolEnvironment.load(from: copy))
        let sandbox = try await TestTools.sandbox(.none)
        let result = await sandbox.run(environment, input: TestTools.request(["action": "dict"]), variables: [:])
        #expect(result.output == #"{"answer": 42}"#)
    }

    @Test func aProjectThatFailsToBuildReportsTheEndOfTheBuildOutput() async throws {
        let project = try TestTools.project([
            "pyproject.toml": TestTools.pyproject(compadre: #"entry = "probe.main:run""#),
            "input_schema.json": TestTools.objectSchema,
            "setup.py": "raise SystemExit('this project cannot be built: missing widget')\n",
        ])
        let error = await #expect(throws: ToolBuildError.self) {
            try await ToolBuilder(logger: TestTools.logger).build(project: project, into: try TestTools.folder("failed"))
        }
        #expect(error?.message == "pip could not install the project")
        #expect(error?.details.contains { $0.contains("missing widget") } == true, "\(error?.details ?? [])")
        #expect((error?.details.count ?? 0) <= 20)
    }

    @Test func aBuildThatTakesTooLongIsStopped() async throws {
        let project = try TestTools.project([
            "pyproject.toml": TestTools.pyproject(compadre: #"entry = "probe.main:run""#),
            "input_schema.json": TestTools.objectSchema,
            "setup.py": "import time\ntime.sleep(120)\n",
        ])
        let error = await #expect(throws: ToolBuildError.self) {
            try await ToolBuilder(timeout: .seconds(8), logger: TestTools.logger)
                .build(project: project, into: try TestTools.folder("slow"))
        }
        // The build sleeps 120 s: only the timeout ends it with this error.
        #expect(error?.message == "building the tool took longer than 8 s")
    }
}
