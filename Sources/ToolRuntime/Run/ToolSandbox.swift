import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs one call of a built tool as a separate process, in a sandbox.
///
/// Contract of ``run(_:input:variables:limits:)``:
/// - the tool runs with Compadre's ``Harness`` under the environment's interpreter; the input goes in on
///   standard input, the result comes back on standard output;
/// - its environment is `variables` plus `PATH`, `HOME`, `TMPDIR` and `PWD` (its private working
///   directory, created for the run and removed after it), `LANG=C.UTF-8` and
///   `PYTHONDONTWRITEBYTECODE=1`, nothing inherited from Compadre;
/// - it runs in a process group of its own; at the time limit, or when its output passes the limit, the
///   whole group is killed; memory and CPU time are bounded by `RLIMIT_AS` and `RLIMIT_CPU`;
/// - it dies with Compadre: the harness kills its group when its standard input, held open by Compadre,
///   ends. (Not `PR_SET_PDEATHSIG`: that follows the spawning *thread*, and Swift's idle pool threads exit.)
/// - with bubblewrap it sees none of the host's files beyond the system's and its own (see ``Bubblewrap``);
/// - it never throws and always returns within the time limit plus the time the kernel takes to kill.
public struct ToolSandbox: Sendable {
    /// How tools are kept from Compadre's files and secrets.
    public enum Isolation: String, Sendable, Hashable {
        /// Bubblewrap when it works on this machine; else every run is refused (with an error at start).
        case automatic
        /// Bubblewrap, required: the sandbox fails to start without it.
        case bubblewrap
        /// A plain child process: the tool can read whatever Compadre's user can.
        case none
    }

    public struct Configuration: Sendable {
        public var isolation: Isolation
        /// Limits of every run that names none.
        public var limits: ToolLimits
        /// Where the private working directories of runs are made.
        public var workRoot: URL
        /// The bubblewrap executable: a name looked up in `PATH`, or a path.
        public var bubblewrap: String

        public init(
            isolation: Isolation = .automatic,
            limits: ToolLimits = ToolLimits(),
            workRoot: URL = FileManager.default.temporaryDirectory,
            bubblewrap: String = "bwrap"
        ) {
            self.isolation = isolation
            self.limits = limits
            self.workRoot = workRoot
            self.bubblewrap = bubblewrap
        }
    }

    public let configuration: Configuration
    /// `.bubblewrap` or `.none`: what ``Configuration/isolation`` came to on this machine.
    public let isolationInEffect: Isolation
    private let bubblewrap: Bubblewrap?
    /// Why every run is refused: `.automatic` found no working bubblewrap, and running organizations'
    /// code without isolation must be chosen explicitly (`.none`).
    public let refusal: String?
    private let logger: Logger

    /// Settles `.automatic` by running bubblewrap once.
    ///
    /// - Throws: ``ToolSandboxError`` when `.bubblewrap` is asked for and does not work here.
    public init(configuration: Configuration = Configuration(), logger: Logger) async throws {
        self.configuration = configuration
        self.logger = logger
        switch configuration.isolation {
        case .none:
            bubblewrap = nil
        case .bubblewrap, .automatic:
            switch await Self.probe(configuration.bubblewrap) {
            case .success(let path):
                bubblewrap = Bubblewrap(path: path)
            case .failure(let problem):
                guard configuration.isolation == .automatic else { throw problem }
                logger.error(
                    "tools are refused: bubblewrap does not work here (install it, or set COMPADRE_TOOL_ISOLATION=none to run tools without isolation, able to read this server's files)",
                    metadata: ["reason": "\(problem.message)"]
                )
                bubblewrap = nil
                refusal = "Tools cannot run on this server: it has no working sandbox (bubblewrap). \(problem.message)"
                isolationInEffect = .none
                return
            }
        }
        refusal = nil
        isolationInEffect = bubblewrap == nil ? .none : .bubblewrap
    }

    /// Runs the tool once. `input` is the harness request, a JSON object
    /// `{"input_parameters", "invocation_mode", "nonsensitive_user_variables", "sensitive_user_variables"}`;
    /// `variables` are the tool's environment variables, secret ones included (never logged).
    public func run(
        _ environment: ToolEnvironment, input: Data, variables: [String: String], limits: ToolLimits? = nil
    ) async -> ToolRunResult {
        if let refusal { return .failed(ToolFailure(type: "ToolIsolationUnavailable", message: refusal), duration: .zero) }
        let limits = limits ?? configuration.limits
        let work: URL
        do {
            work = try makeWorkDirectory()
        } catch {
            return .failed(ToolFailure(type: "ToolNotStarted", message: "could not create the tool's working directory: \(error)"), duration: .zero)
        }
        defer { removeWorkDirectory(work) }

        let child = process(environment, input: input, variables: variables, limits: limits, work: work)
        let result: ToolRunResult
        do {
            result = ToolRunResult(try await child.run(), limits: limits, exitCodesReportSignals: bubblewrap != nil)
        } catch {
            result = .failed(ToolFailure(type: "ToolNotStarted", message: "the tool could not be started: \(error)"), duration: .zero)
        }
        if case .failed(let failure, _) = result {
            logger.debug("tool run failed", metadata: ["tool_name": "\(environment.manifest.name)", "failure_type": "\(failure.type)"])
        }
        return result
    }

    /// The child process of one run: the harness under the environment's interpreter, inside bubblewrap
    /// when that is in effect.
    func process(
        _ environment: ToolEnvironment, input: Data, variables: [String: String], limits: ToolLimits, work: URL
    ) -> ChildProcess {
        let command = [environment.python.path, "-I", "-B", environment.harness.path]
            + Harness.arguments(entry: environment.manifest.entry, limits: limits)
        return ChildProcess(
            executable: bubblewrap?.path ?? command[0],
            arguments: bubblewrap.map { $0.arguments(environment: environment, workDirectory: work, command: command) }
                ?? Array(command.dropFirst()),
            environment: Self.toolEnvironment(variables: variables, environment: environment, work: work),
            workingDirectory: work,
            input: Data("\(input.count)\n".utf8) + input,
            holdsStandardInputOpen: true,
            standardOutput: .head(limits.maxOutputBytes),
            standardError: .tail(64 << 10),
            timeout: limits.timeout
        )
    }

    /// `variables` (names and values without `=` or NUL) plus the sandbox's own, which win.
    static func toolEnvironment(variables: [String: String], environment: ToolEnvironment, work: URL) -> [String: String] {
        var result = variables.filter { name, value in
            !name.isEmpty && !name.contains("=") && !name.contains("\0") && !value.contains("\0")
        }
        result["PATH"] = environment.venv.appending(path: "bin").path + ":/usr/local/bin:/usr/bin:/bin"
        result["HOME"] = work.path
        result["TMPDIR"] = work.path
        result["PWD"] = work.path
        result["LANG"] = "C.UTF-8"
        result["PYTHONDONTWRITEBYTECODE"] = "1"
        return result
    }

    private func makeWorkDirectory() throws -> URL {
        try FileManager.default.createDirectory(at: configuration.workRoot, withIntermediateDirectories: true)
        var template = Array(configuration.workRoot.appending(path: "compadre-tool-XXXXXX").path.utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ToolSandboxError(message: "mkdtemp failed with errno \(errno)")
        }
        return URL(filePath: String(cString: made), directoryHint: .isDirectory)
    }

    /// Removes the working directory, even where the tool took away its own write permission.
    private func removeWorkDirectory(_ work: URL) {
        let files = FileManager.default
        if (try? files.removeItem(at: work)) != nil { return }
        if let paths = files.enumerator(atPath: work.path) {
            for case let path as String in paths {
                _ = chmod(work.appending(path: path).path, 0o700)
            }
        }
        do {
            try files.removeItem(at: work)
        } catch {
            logger.warning("could not remove a tool's working directory", metadata: ["path": "\(work.path)", "error": "\(error)"])
        }
    }

    private static func probe(_ name: String) async -> Result<String, ToolSandboxError> {
        guard let path = Bubblewrap.find(name) else {
            return .failure(ToolSandboxError(message: "\(name) is not installed (apt-get install bubblewrap)"))
        }
        let process = ChildProcess(
            executable: path,
            arguments: Bubblewrap.probeArguments,
            environment: ["PATH": "/usr/bin:/bin"],
            workingDirectory: nil,
            timeout: .seconds(10)
        )
        let observation = try? await process.run()
        guard let observation, observation.succeeded else {
            let reason = observation?.standardError.lastLines(1).first ?? "it could not be started"
            return .failure(ToolSandboxError(message: "\(path) does not work here (user namespaces allowed?): \(reason)"))
        }
        return .success(path)
    }
}

/// The sandbox cannot provide the isolation it was configured with.
public struct ToolSandboxError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String

    public var description: String { message }
}
