import Foundation
import Logging

/// Builds a tool version's ``ToolEnvironment`` from its project at publish time: reads the
/// ``ToolManifest``, creates a virtual environment with `python -m venv`, installs the project into it
/// with pip, and writes the harness and the manifest.
///
/// pip builds the project as `pip install .` does anywhere: in an isolated build environment with the
/// backend its `[build-system]` names, fetched from the package index (or pip's cache) like its
/// dependencies. (Building without isolation would not work offline either: the setuptools a 3.11
/// virtual environment ships cannot build a wheel without the `wheel` package.)
///
/// Contract:
/// - the environment directory is replaced whole; `manifest.json` is written last, so an interrupted
///   build leaves nothing ``ToolEnvironment/load(from:)`` accepts;
/// - the build runs the project's build backend (its code) outside the sandbox, as Compadre's user: it
///   gets a reduced environment (`PATH`, `HOME`, `LANG`, `TMPDIR`, pip's and proxy/certificate settings),
///   so Compadre's secrets in environment variables do not reach it, but it can read what that user can.
///   pip may write `build/` and `*.egg-info` into the project;
/// - the whole build is bounded by `timeout`.
public struct ToolBuilder: Sendable {
    /// The interpreter environments are made from (3.11 or later): a name looked up in `PATH`, or a path.
    public var python: String
    public var timeout: Duration
    private let logger: Logger

    public init(python: String = "python3", timeout: Duration = .seconds(300), logger: Logger) {
        self.python = python
        self.timeout = timeout
        self.logger = logger
    }

    /// - Throws: ``ToolBuildError`` saying what failed.
    public func build(project: URL, into directory: URL) async throws -> ToolEnvironment {
        let start = ContinuousClock.now
        let deadline = start.advanced(by: timeout)
        let manifest = try await ToolManifest.read(project: project, python: python, timeout: timeout)
        let environment = ToolEnvironment(directory: directory, manifest: manifest)

        let files = FileManager.default
        if files.fileExists(atPath: directory.path) {
            try files.removeItem(at: directory)
        }
        try files.createDirectory(at: directory, withIntermediateDirectories: true)

        try await step(
            "could not create the virtual environment with \(python)",
            executable: python,
            arguments: ["-m", "venv", environment.venv.path],
            workingDirectory: directory,
            deadline: deadline
        )
        try await step(
            "pip could not install the project",
            executable: environment.python.path,
            arguments: [
                "-m", "pip", "install", "--disable-pip-version-check", "--no-input", project.standardizedFileURL.path,
            ],
            workingDirectory: directory,
            deadline: deadline
        )
        try environment.writeHarness()
        try environment.writeManifest()
        logger.info(
            "built tool environment",
            metadata: ["tool_name": "\(manifest.name)", "duration": "\((ContinuousClock.now - start).secondsText)"]
        )
        return environment
    }

    private func step(
        _ failure: String, executable: String, arguments: [String], workingDirectory: URL, deadline: ContinuousClock.Instant
    ) async throws {
        let process = ChildProcess(
            executable: executable,
            arguments: arguments,
            environment: Self.buildEnvironment(),
            workingDirectory: workingDirectory,
            timeout: max(.zero, deadline - .now)
        )
        let observation: ChildProcess.Observation
        do {
            observation = try await process.run()
        } catch {
            throw ToolBuildError.buildFailed("\(failure): \(error)", details: [])
        }
        if observation.timedOut || observation.cancelled {
            throw ToolBuildError.timedOut("building the tool took longer than \(timeout.secondsText)")
        }
        guard observation.succeeded else {
            let lines = observation.standardOutput.lastLines(20) + observation.standardError.lastLines(20)
            logger.debug("tool build step failed", metadata: ["step": "\(arguments.prefix(3).joined(separator: " "))"])
            throw ToolBuildError.buildFailed(failure, details: Array(lines.suffix(20)))
        }
    }

    /// The environment of build steps: what finding Python and reaching the package index needs, and
    /// nothing else of Compadre's.
    static func buildEnvironment(_ current: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        let names: Set = [
            "PATH", "HOME", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
            "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
        ]
        var environment = current.filter { name, _ in
            names.contains(name) || name.hasPrefix("PIP_") || name.hasPrefix("PYENV_")
        }
        if environment["PATH"] == nil {
            environment["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        }
        environment["LANG"] = "C.UTF-8"
        return environment
    }
}
