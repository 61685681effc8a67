import Foundation
import Subprocess

/// A script run as a child process (`ChildProcess`'s contract: its own session, drained streams, killed
/// with its whole group at `timeout`), for callers outside the tool runtime.
public enum ScriptRun {
    public struct Result: Sendable {
        /// The exit code; nil when it did not exit by itself (timed out, killed).
        public var exitCode: Int32?
        public var standardOutput: Data
        public var standardError: String
        public var timedOut: Bool
    }

    /// Runs `executable arguments` with `input` on standard input, no environment but `PATH` and
    /// `environment`, standard output kept up to `outputLimit` bytes.
    public static func run(
        _ executable: String, _ arguments: [String], input: Data, environment: [String: String] = [:], timeout: Duration, outputLimit: Int
    ) async throws -> Result {
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "LANG": "C.UTF-8"]
        env.merge(environment) { $1 }
        var process = ChildProcess(executable: executable, arguments: arguments, environment: env, timeout: timeout)
        process.input = input
        process.standardOutput = .head(outputLimit)
        let observed = try await process.run()
        var code: Int32?
        if let status = observed.status, case .exited(let value) = status { code = Int32(value) }
        return Result(
            exitCode: code, standardOutput: observed.standardOutput.kept,
            standardError: String(decoding: observed.standardError.kept, as: UTF8.self), timedOut: observed.timedOut
        )
    }
}
