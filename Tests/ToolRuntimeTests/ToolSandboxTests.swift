import Foundation
import Testing
import ToolRuntime

#if canImport(Glibc)
import Glibc
#endif

/// What a tool call returns, under both isolations.
@Suite struct ToolSandboxTests {
    static let isolations: [ToolSandbox.Isolation] = [.none, .bubblewrap]

    func run(
        _ parameters: [String: Any], isolation: ToolSandbox.Isolation, variables: [String: String] = [:],
        limits: ToolLimits? = nil
    ) async throws -> ToolRunResult {
        let sandbox = try await TestTools.sandbox(isolation)
        return await sandbox.run(try await TestTools.probe(), input: TestTools.request(parameters), variables: variables, limits: limits)
    }

    @Test(arguments: isolations)
    func theToolGetsItsInputModeAndUserVariables(isolation: ToolSandbox.Isolation) async throws {
        let sandbox = try await TestTools.sandbox(isolation)
        let input = TestTools.request(
            ["action": "echo", "city": "Zürich", "days": 3],
            mode: "conversation-simulation",
            nonsensitive: ["plan": "gold"],
            sensitive: ["member_id": "M-1"]
        )
        let result = await sandbox.run(try await TestTools.probe(), input: input, variables: [:])
        let echoed = try #require(result.json, "\(result)")
        let parameters = try #require(echoed["input"] as? [String: Any])
        #expect(parameters["city"] as? String == "Zürich")
        #expect(parameters["days"] as? Int == 3)
        #expect(echoed["mode"] as? String == "conversation-simulation")
        #expect(echoed["nonsensitive"] as? [String: String] == ["plan": "gold"])
        #expect(echoed["sensitive"] as? [String: String] == ["member_id": "M-1"])
    }

    @Test func aResultThatIsNotAStringIsSentAsJSON() async throws {
        let result = try await run(["action": "dict"], isolation: .none)
        #expect(result.output == #"{"answer": 42}"#)
    }

    @Test func anAsyncToolIsAwaited() async throws {
        let result = try await run(["action": "async"], isolation: .none)
        #expect(result.output == "awaited")
    }

    @Test(arguments: isolations)
    func strayPrintsDoNotReachTheResult(isolation: ToolSandbox.Isolation) async throws {
        let result = try await run(["action": "stray_print"], isolation: isolation)
        #expect(result.output == "clean", "\(result)")
    }

    @Test(arguments: isolations)
    func theToolSeesOnlyItsVariablesAndAPrivateFolderThatIsRemovedAfterwards(isolation: ToolSandbox.Isolation) async throws {
        let result = try await run(
            ["action": "environment"], isolation: isolation, variables: ["PROBE_GREETING": "hi", "PROBE_TOKEN": "s3cr3t"]
        )
        let seen = try #require(result.json, "\(result)")
        let environment = try #require(seen["environment"] as? [String: String])
        #expect(
            Set(environment.keys) == ["PROBE_GREETING", "PROBE_TOKEN", "PATH", "HOME", "TMPDIR", "PWD", "LANG", "PYTHONDONTWRITEBYTECODE"]
        )
        #expect(environment["PROBE_TOKEN"] == "s3cr3t")
        #expect(environment["LANG"] == "C.UTF-8")
        let work = try #require(seen["cwd"] as? String)
        #expect(environment["HOME"] == work)
        #expect(environment["TMPDIR"] == work)
        #expect(work.contains("compadre-tool-"))
        #expect(!FileManager.default.fileExists(atPath: work))
    }

    @Test(arguments: isolations)
    func aMissingEnvironmentVariableFailsWithKeyError(isolation: ToolSandbox.Isolation) async throws {
        let result = try await run(["action": "read_env", "name": "PROBE_TOKEN"], isolation: isolation)
        let failure = try #require(result.failure, "\(result)")
        #expect(failure.type == "KeyError")
        #expect(failure.message == "'PROBE_TOKEN'")
    }

    @Test func anExceptionIsReportedWithTypeMessageAndTheToolsStackTrace() async throws {
        let result = try await run(["action": "raise"], isolation: .none)
        let failure = try #require(result.failure, "\(result)")
        #expect(failure.type == "ValueError")
        #expect(failure.message == "the value is wrong")
        #expect(failure.stackTrace.first == "Traceback (most recent call last):")
        #expect(failure.stackTrace.contains { $0.contains("probe/main.py") && $0.contains("in run") })
        #expect(!failure.stackTrace.contains { $0.contains("harness.py") })
        #expect(failure.stackTrace.last == "ValueError: the value is wrong")
    }

    @Test(arguments: isolations)
    func aCrashReportsTheExitCodeAndTheLastLinesOfStandardError(isolation: ToolSandbox.Isolation) async throws {
        let result = try await run(["action": "crash"], isolation: isolation)
        let failure = try #require(result.failure, "\(result)")
        #expect(failure.type == "ToolCrashed")
        #expect(failure.message == "the tool exited with code 3 without a result")
        #expect(failure.stackTrace.last == "about to crash")
    }

    @Test(arguments: isolations)
    func aToolKilledByASignalIsReportedAsCrashed(isolation: ToolSandbox.Isolation) async throws {
        let killed = try await run(["action": "kill_self"], isolation: isolation)
        #expect(killed.failure == ToolFailure(type: "ToolCrashed", message: "the tool was killed by signal 9"))
        let segfault = try await run(["action": "segfault"], isolation: isolation)
        #expect(segfault.failure?.type == "ToolCrashed")
        #expect(segfault.failure?.message == "the tool was killed by signal 11")
    }

    @Test func garbageOnTheResultChannelIsInvalidToolOutput() async throws {
        let result = try await run(["action": "garbage"], isolation: .none)
        let failure = try #require(result.failure, "\(result)")
        #expect(failure.type == "InvalidToolOutput")
        #expect(failure.message == "the tool wrote something other than its result: this is not json\n")
    }

    @Test func aChattyStandardErrorDoesNotStallTheTool() async throws {
        let result = try await run(["action": "chatty_stderr", "kilobytes": 16 * 1024], isolation: .none)
        #expect(result.output == "done", "\(result)")
    }

    @Test func aRequestThatIsNotAnObjectIsRejectedByTheHarness() async throws {
        let sandbox = try await TestTools.sandbox(.none)
        let result = await sandbox.run(try await TestTools.probe(), input: Data("[1]".utf8), variables: [:])
        #expect(result.failure?.type == "InvalidToolInput")
    }

    @Test func toolsDoNotInheritCompadresIgnoredSignals() async throws {
        // The server ignores SIGTERM while it drains; a tool must still die of it.
        let previous = signal(SIGTERM, SIG_IGN)
        defer { signal(SIGTERM, previous) }
        let result = try await run(["action": "signals"], isolation: .none)
        let seen = try #require(result.json, "\(result)")
        #expect(seen["sigterm_is_default"] as? Bool == true)
        #expect(seen["blocked"] as? [Int] == [])
    }

    @Test func runsAtTheSameTimeKeepTheirOwnResults() async throws {
        let sandbox = try await TestTools.sandbox(.automatic)
        let environment = try await TestTools.probe()
        let outputs = await withTaskGroup(of: (Int, String?).self) { group in
            for index in 0..<6 {
                group.addTask {
                    let result = await sandbox.run(
                        environment, input: TestTools.request(["action": "read_env", "name": "PROBE_GREETING"]),
                        variables: ["PROBE_GREETING": "hello \(index)"]
                    )
                    return (index, result.output)
                }
            }
            var outputs: [Int: String?] = [:]
            for await (index, output) in group { outputs[index] = output }
            return outputs
        }
        #expect(outputs.count == 6)
        for (index, output) in outputs {
            #expect(output == "hello \(index)")
        }
    }
}
