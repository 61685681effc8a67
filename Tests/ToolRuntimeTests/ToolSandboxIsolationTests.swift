import Foundation
import Testing

@testable import ToolRuntime

#if canImport(Glibc)
import Glibc
#endif

/// What a tool can reach of the host, and what becomes of it when Compadre goes away.
@Suite struct ToolSandboxIsolationTests {
    @Test func withBubblewrapTheToolCannotReadCompadresFiles() async throws {
        let home = try TestTools.folder("compadre-home")
        let secret = home.appending(path: "secrets.env")
        try Data("DATABASE_PASSWORD=hunter2".utf8).write(to: secret)
        let environment = try await TestTools.probe()

        let isolated = try await TestTools.sandbox(.bubblewrap)
        for path in [secret.path, "/etc/shadow"] {
            let result = await isolated.run(environment, input: TestTools.request(["action": "read_file", "path": path]), variables: [:])
            #expect(["FileNotFoundError", "PermissionError"].contains(result.failure?.type), "\(path): \(result)")
        }

        let exposed = try await TestTools.sandbox(.none)
        let result = await exposed.run(environment, input: TestTools.request(["action": "read_file", "path": secret.path]), variables: [:])
        #expect(result.output == "DATABASE_PASSWORD=hunter2")
    }

    @Test func withBubblewrapTheToolCannotChangeItsEnvironment() async throws {
        let environment = try await TestTools.probe()
        let sandbox = try await TestTools.sandbox(.bubblewrap)
        let target = environment.directory.appending(path: "venv/tampered.txt").path
        let result = await sandbox.run(environment, input: TestTools.request(["action": "write_file", "path": target]), variables: [:])
        #expect(result.failure?.type == "OSError", "\(result)")
        #expect(result.failure?.message.contains("Read-only file system") == true)
        #expect(!FileManager.default.fileExists(atPath: target))
    }

    @Test func automaticIsolationUsesBubblewrapWhenItWorks() async throws {
        let sandbox = try await TestTools.sandbox(.automatic)
        #expect(sandbox.isolationInEffect == .bubblewrap, "install bubblewrap: apt-get install -y bubblewrap")
    }

    @Test func withoutBubblewrapAutomaticIsolationRefusesToolsUntilNoneIsChosen() async throws {
        let sandbox = try await ToolSandbox(
            configuration: .init(isolation: .automatic, bubblewrap: "/nonexistent/bwrap"), logger: TestTools.logger
        )
        let result = await sandbox.run(try await TestTools.probe(), input: TestTools.request(["action": "dict"]), variables: [:])
        #expect(result.failure?.type == "ToolIsolationUnavailable")
        // Chosen explicitly, a plain process runs it.
        let plain = try await ToolSandbox(
            configuration: .init(isolation: .none, bubblewrap: "/nonexistent/bwrap"), logger: TestTools.logger
        )
        let ran = await plain.run(try await TestTools.probe(), input: TestTools.request(["action": "dict"]), variables: [:])
        #expect(ran.output == #"{"answer": 42}"#)
    }

    @Test func requiredBubblewrapThatDoesNotWorkStopsTheSandboxFromStarting() async throws {
        await #expect(throws: ToolSandboxError.self) {
            try await ToolSandbox(configuration: .init(isolation: .bubblewrap, bubblewrap: "/nonexistent/bwrap"), logger: TestTools.logger)
        }
    }

    /// A stand-in for Compadre: starts the run's exact command, hands it the request, then is killed.
    static let fakeCompadre = """
        import json, subprocess, sys, time
        spec = json.load(sys.stdin)
        child = subprocess.Popen(
            [spec["executable"]] + spec["arguments"], env=spec["environment"], cwd=spec["cwd"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True,
        )
        child.stdin.write(spec["input"].encode())
        child.stdin.flush()
        time.sleep(120)
        """

    @Test(arguments: [ToolSandbox.Isolation.none, .bubblewrap])
    func aToolDiesWhenCompadreDies(isolation: ToolSandbox.Isolation) async throws {
        let sandbox = try await TestTools.sandbox(isolation)
        let environment = try await TestTools.probe()
        let work = try TestTools.folder("orphan")
        let marker = "3456.\(Int.random(in: 100_000...999_999))"
        let child = sandbox.process(
            environment, input: TestTools.request(["action": "sleep_with_child", "marker": marker]), variables: [:],
            limits: ToolLimits(timeout: .seconds(60)), work: work
        )
        let spec: [String: Any] = [
            "executable": child.executable, "arguments": child.arguments, "environment": child.environment,
            "cwd": work.path, "input": String(decoding: child.input, as: UTF8.self),
        ]

        let compadre = Process()
        compadre.executableURL = URL(filePath: "/usr/bin/env")
        compadre.arguments = ["python3", "-c", Self.fakeCompadre]
        let stdin = Pipe()
        compadre.standardInput = stdin
        compadre.standardOutput = FileHandle.nullDevice
        compadre.standardError = FileHandle.nullDevice
        try compadre.run()
        stdin.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: spec))
        try stdin.fileHandleForWriting.close()

        #expect(try await Self.eventually { !TestTools.processes(containing: marker).isEmpty }, "the tool never started")
        kill(compadre.processIdentifier, SIGKILL)
        #expect(try await Self.eventually { TestTools.processes(containing: marker).isEmpty }, "the tool outlived Compadre")
    }

    static func eventually(within limit: Duration = .seconds(10), _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }
}
