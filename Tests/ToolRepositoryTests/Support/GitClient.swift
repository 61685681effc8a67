import Foundation
import Logging
import Subprocess
import ToolRepository

/// A scratch directory removed when the test ends.
func withTemporaryDirectory<Result>(_ body: (URL) async throws -> Result) async throws -> Result {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("toolrepo-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// Repositories under `directory/repos` with a logger that drops everything.
func makeRepositories(in directory: URL) -> ToolRepositories {
    ToolRepositories(
        root: directory.appendingPathComponent("repos", isDirectory: true),
        logger: Logger(label: "ToolRepositoryTests") { _ in SwiftLogNoOpLogHandler() }
    )
}

/// A user's git: the machine's git binary with no configuration but a name, run in `directory`.
struct GitClient {
    struct Output {
        var succeeded: Bool
        var standardOutput: String
        var standardError: String

        var trimmed: String { standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    let home: URL

    init(home: URL) {
        self.home = home
    }

    @discardableResult
    func run(
        _ arguments: [String],
        in directory: URL? = nil,
        environment extra: [Environment.Key: String] = [:],
        expectSuccess: Bool = true
    ) async throws -> Output {
        var environment: [Environment.Key: String] = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": home.path,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Test User",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test User",
            "GIT_COMMITTER_EMAIL": "test@example.com",
            "LC_ALL": "C",
        ]
        environment.merge(extra) { $1 }
        let prefix = directory.map { ["-C", $0.path] } ?? []
        let result = try await Subprocess.run(
            .name("git"),
            arguments: Arguments(prefix + arguments),
            environment: .custom(environment),
            output: .string(limit: 16 << 20),
            error: .string(limit: 16 << 20)
        )
        let output = Output(
            succeeded: result.terminationStatus.isSuccess,
            standardOutput: result.standardOutput,
            standardError: result.standardError
        )
        if expectSuccess, !output.succeeded {
            throw GitClientError(arguments: arguments, standardError: output.standardError)
        }
        return output
    }
}

struct GitClientError: Error, CustomStringConvertible {
    var arguments: [String]
    var standardError: String
    var description: String { "git \(arguments.joined(separator: " ")) failed: \(standardError)" }
}

extension URL {
    func writeFile(_ path: String, _ contents: String) throws {
        try writeFile(path, Data(contents.utf8))
    }

    func writeFile(_ path: String, _ data: Data) throws {
        let file = appendingPathComponent(path)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: file)
    }

    func readFile(_ path: String) throws -> String {
        try String(contentsOf: appendingPathComponent(path), encoding: .utf8)
    }
}
