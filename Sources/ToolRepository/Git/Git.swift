import Foundation
import Subprocess

/// How git (and tar, for exports) is started: by name through a `PATH` that finds the configured git
/// first, in an environment holding nothing of the server's own (no user or system git configuration,
/// no credentials, no locale), so every repository behaves the same on every machine.
struct Git: Sendable {
    /// The executable's name, looked up in ``environment``'s `PATH`.
    let name: String
    /// The environment of every git process; CGI variables are added for http-backend.
    let environment: [Environment.Key: String]

    /// The output of a command that ran to its end.
    struct Output: Sendable {
        var status: TerminationStatus
        var standardOutput: String
        var standardError: String

        var succeeded: Bool { status.isSuccess }
        var exitCode: CInt? {
            if case .exited(let code) = status { return code }
            return nil
        }
    }

    /// `git` is a name looked up in the server's `PATH`, or a path.
    init(executable: String, home: URL) {
        let directory: String?
        if executable.contains("/") {
            let url = URL(fileURLWithPath: executable)
            name = url.lastPathComponent
            directory = url.deletingLastPathComponent().path
        } else {
            name = executable
            let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? ""
            directory = searchPath.split(separator: ":").map(String.init).first(where: { directory in
                directory.hasPrefix("/") && FileManager.default.isExecutableFile(atPath: directory + "/" + executable)
            })
        }
        let standard = "/usr/local/bin:/usr/bin:/bin"
        environment = [
            "PATH": directory.map { "\($0):\(standard)" } ?? standard,
            "HOME": home.path,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_ATTR_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        ]
    }

    /// Runs `git <arguments>` to its end, feeding it `input`, and collects what it prints (at most
    /// `outputLimit` bytes of standard output).
    func run(
        _ arguments: [String],
        input: [UInt8] = [],
        environment extra: [Environment.Key: String] = [:],
        outputLimit: Int = 1 << 20
    ) async throws -> Output {
        do {
            let result = try await Subprocess.run(
                .name(name),
                arguments: Arguments(arguments),
                environment: .custom(environment.merging(extra) { $1 }),
                input: .array(input),
                output: .string(limit: outputLimit),
                error: .string(limit: 64 * 1024)
            )
            return Output(
                status: result.terminationStatus,
                standardOutput: result.standardOutput,
                standardError: result.standardError
            )
        } catch let error as CancellationError {
            throw error
        } catch {
            throw ToolRepositoryError.gitFailed("git \(arguments.first ?? "") could not run: \(error)")
        }
    }

    /// Runs `git <arguments>` and returns its standard output; any exit status but 0 is a
    /// ``ToolRepositoryError/gitFailed`` error.
    @discardableResult
    func succeed(
        _ arguments: [String],
        input: [UInt8] = [],
        environment extra: [Environment.Key: String] = [:],
        outputLimit: Int = 1 << 20
    ) async throws -> String {
        let output = try await run(arguments, input: input, environment: extra, outputLimit: outputLimit)
        guard output.succeeded else {
            let command = arguments.first(where: { !$0.hasPrefix("-") }) ?? "git"
            let message = output.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            throw ToolRepositoryError.gitFailed("git \(command) failed (\(output.status)): \(message)")
        }
        return output.standardOutput
    }
}
