import Foundation
import Testing

@testable import ToolRuntime

/// Timings to read, not to assert: `TOOLRUNTIME_MEASURE=1 swift test --filter ToolRuntimeMeasurements`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["TOOLRUNTIME_MEASURE"] != nil), .serialized)
struct ToolRuntimeMeasurements {
    @Test func scaffoldBuildTime() async throws {
        let project = try TestTools.folder("measure-scaffold")
        try ToolScaffold.write(to: project)
        let start = ContinuousClock.now
        do {
            _ = try await ToolBuilder(logger: TestTools.logger).build(project: project, into: try TestTools.folder("measure-environment"))
        } catch {
            Issue.record("\(error)")
        }
        print("MEASURE scaffold build: \(ContinuousClock.now - start)")
    }

    @Test func invocationOverhead() async throws {
        let (environment, _) = try await TestTools.scaffold()
        let runs = 30
        func median(_ samples: [Duration]) -> Duration { samples.sorted()[samples.count / 2] }

        var baseline: [Duration] = []
        for _ in 0..<runs {
            let start = ContinuousClock.now
            let observation = try await ChildProcess(
                executable: environment.python.path, arguments: ["-I", "-B", "-c", "pass"], environment: ["PATH": "/usr/bin:/bin"],
                workingDirectory: nil, timeout: .seconds(10)
            ).run()
            #expect(observation.succeeded)
            baseline.append(ContinuousClock.now - start)
        }
        print("MEASURE python -c pass: median \(median(baseline))")

        for isolation in [ToolSandbox.Isolation.bubblewrap, .none, .bubblewrap, .none] {
            let sandbox = try await TestTools.sandbox(isolation)
            var walls: [Duration] = []
            for _ in 0..<runs {
                let start = ContinuousClock.now
                let result = await sandbox.run(environment, input: TestTools.request(["name": "Ada"]), variables: ["A": "1"])
                #expect(result.output == "Hello, Ada!")
                walls.append(ContinuousClock.now - start)
            }
            print("MEASURE scaffold tool, \(isolation): median \(median(walls)), overhead over python -c pass \(median(walls) - median(baseline))")
        }
    }
}
