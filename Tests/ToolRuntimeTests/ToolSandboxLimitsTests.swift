import Foundation
import Testing
import ToolRuntime

/// What happens when a tool passes a limit: time, memory, CPU, output.
@Suite struct ToolSandboxLimitsTests {
    static let isolations: [ToolSandbox.Isolation] = [.none, .bubblewrap]

    func run(_ parameters: [String: Any], isolation: ToolSandbox.Isolation, limits: ToolLimits) async throws -> ToolRunResult {
        let sandbox = try await TestTools.sandbox(isolation)
        return await sandbox.run(try await TestTools.probe(), input: TestTools.request(parameters), variables: [:], limits: limits)
    }

    @Test(arguments: isolations)
    func aToolThatRunsTooLongIsKilledWithTheProcessesItStarted(isolation: ToolSandbox.Isolation) async throws {
        let sandbox = try await TestTools.sandbox(isolation)
        let environment = try await TestTools.probe()
        let marker = "1234.\(Int.random(in: 100_000...999_999))"
        let result = await sandbox.run(
            environment, input: TestTools.request(["action": "sleep_with_child", "marker": marker]), variables: [:],
            limits: ToolLimits(timeout: .seconds(2))
        )
        #expect(result.failure == ToolFailure(type: "ToolTimeout", message: "the tool did not finish within 2 s"))
        #expect(result.duration >= .seconds(2))
        try await Task.sleep(for: .milliseconds(200))
        #expect(TestTools.processes(containing: marker).isEmpty, "the tool's child outlived it")
    }

    @Test func aToolWithinItsTimeLimitFinishes() async throws {
        let result = try await run(["action": "sleep", "seconds": 0.5], isolation: .none, limits: ToolLimits(timeout: .seconds(5)))
        #expect(result.output == "slept")
        #expect(result.duration >= .milliseconds(500))
    }

    @Test(arguments: isolations)
    func aToolThatNeedsTooMuchMemoryFailsWithMemoryError(isolation: ToolSandbox.Isolation) async throws {
        let limits = ToolLimits(memoryBytes: 256 << 20)
        let result = try await run(["action": "allocate", "bytes": 1 << 30], isolation: isolation, limits: limits)
        #expect(result.failure?.type == "MemoryError", "\(result)")
        #expect(result.failure?.message == "the tool needed more than 256 MiB of memory")
        let modest = try await run(["action": "allocate", "bytes": 64 << 20], isolation: isolation, limits: limits)
        #expect(modest.output == String(64 << 20))
    }

    @Test func aToolThatSpinsIsStoppedByTheCPULimit() async throws {
        let result = try await run(["action": "spin"], isolation: .none, limits: ToolLimits(timeout: .seconds(20), cpuSeconds: 1))
        #expect(result.failure?.type == "ToolCrashed", "\(result)")
        #expect(result.failure?.message == "the tool was killed by signal 24 (it used more than 1 s of CPU time)")
        #expect(result.duration < .seconds(10))
    }

    @Test(arguments: isolations)
    func aResultLargerThanTheOutputLimitIsToolOutputTooLarge(isolation: ToolSandbox.Isolation) async throws {
        let limits = ToolLimits(maxOutputBytes: 1000)
        let result = try await run(["action": "big_result", "size": 5000], isolation: isolation, limits: limits)
        #expect(result.failure == ToolFailure(type: "ToolOutputTooLarge", message: "the tool's output passed the limit of 1000 bytes"))
        let fitting = try await run(["action": "big_result", "size": 900], isolation: isolation, limits: limits)
        #expect(fitting.output?.count == 900)
    }

    @Test func anEndlessFloodOfOutputIsCutOffWithoutWaitingForTheTimeLimit() async throws {
        let result = try await run(["action": "flood"], isolation: .none, limits: ToolLimits(timeout: .seconds(20), maxOutputBytes: 1 << 20))
        #expect(result.failure?.type == "ToolOutputTooLarge")
        #expect(result.duration < .seconds(5))
    }

    @Test func aCancelledCallerGetsToolCancelledAndTheToolIsKilled() async throws {
        let sandbox = try await TestTools.sandbox(.none)
        let environment = try await TestTools.probe()
        let marker = "2345.\(Int.random(in: 100_000...999_999))"
        let task = Task {
            await sandbox.run(environment, input: TestTools.request(["action": "sleep_with_child", "marker": marker]), variables: [:])
        }
        try await Task.sleep(for: .milliseconds(800))
        task.cancel()
        let result = await task.value
        #expect(result.failure?.type == "ToolCancelled")
        try await Task.sleep(for: .milliseconds(200))
        #expect(TestTools.processes(containing: marker).isEmpty)
    }
}
