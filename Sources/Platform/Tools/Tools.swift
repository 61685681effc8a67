import AmigoWire
import Engine
import Foundation
import Logging
import Storage
import ToolRepository
import ToolRuntime
import Tracing

/// Where tools live on disk and how they run. Defaults are documented per field.
public struct ToolConfiguration: Sendable {
    /// Root of the organizations' tool repositories (`repositories/`) and built versions (`environments/`).
    /// Default `./compadre-tools`. In a scale-out deployment every replica must see the same directory.
    public var directory: URL = URL(fileURLWithPath: "compadre-tools")
    /// Python that builds tool environments. Default `python3`.
    public var python: String = "python3"
    /// Limits of one tool run: 30 s wall clock, 512 MiB memory, 30 s CPU, 1 MiB output.
    public var limits = ToolLimits()
    /// `automatic` runs tools under bubblewrap when it works on the machine, else as plain processes.
    public var isolation: ToolSandbox.Isolation = .automatic
    /// Key of the secret environment variables; default: a key file in `directory`.
    public var secrets: ToolSecrets?

    public init() {}
}

/// The organization's tools: records, repository, builds and runs. Shared by the tool routes and the
/// conversations' ``PublishedTools``.
public struct Tools: Sendable {
    public let store: Store
    public let repositories: ToolRepositories
    public let builder: ToolBuilder
    public let sandbox: ToolSandbox
    public let secrets: ToolSecrets
    let environments: ToolEnvironments
    public let configuration: ToolConfiguration
    let logger: Logger

    public init(store: Store, configuration: ToolConfiguration, logger: Logger) async throws {
        let directory = configuration.directory.standardizedFileURL
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.store = store
        self.configuration = configuration
        self.logger = logger
        repositories = ToolRepositories(root: directory.appendingPathComponent("repositories"), logger: logger)
        builder = ToolBuilder(python: configuration.python, logger: logger)
        sandbox = try await ToolSandbox(configuration: .init(isolation: configuration.isolation, limits: configuration.limits), logger: logger)
        secrets = try configuration.secrets ?? ToolSecrets.loadOrCreate(file: directory.appendingPathComponent("secrets.key"))
        environments = ToolEnvironments(root: directory.appendingPathComponent("environments"))
        logger.info("tools ready", metadata: [
            "directory": "\(directory.path)", "isolation": "\(sandbox.isolationInEffect.rawValue)",
        ])
    }

    /// The Engine's view of the organization's tools for one conversation.
    /// The organization's published tools, for the interactions of a conversation (`simulation` for a
    /// simulated one: invocations in simulation mode, with the simulated user's variables).
    public func runner(orgID: String, simulation: SimulationTag? = nil) -> PublishedTools {
        PublishedTools(tools: self, orgID: orgID, simulation: simulation)
    }

    /// Removes the organization's tool repository and built environments from disk.
    func removeFiles(of orgID: String) throws {
        let files = FileManager.default
        for url in [repositories.root.appendingPathComponent("\(orgID).git"), environments.root.appendingPathComponent(orgID)]
        where files.fileExists(atPath: url.path) {
            try files.removeItem(at: url)
        }
    }

    // MARK: - Environments

    /// The built environment of a version: from the cache, from disk, or rebuilt from the pinned commit
    /// (a replica or a restarted process that has not built it yet).
    func environment(of version: ToolVersionInstance) async throws -> ToolEnvironment {
        let directory = environments.directory(orgID: version.orgID, toolID: version.toolID, version: version.version)
        return try await environments.environment(at: directory) {
            let checkout = FileManager.default.temporaryDirectory.appendingPathComponent("compadre-checkout-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: checkout) }
            try await repositories.export(
                organization: version.orgID, commit: version.toolCommitHash,
                projectPath: version.projectDirectory.trimmingCharacters(in: CharacterSet(charactersIn: "/")), to: checkout
            )
            return try await builder.build(project: checkout, into: directory)
        }
    }

    /// The variables a version runs with: its required ones from the tool, secrets opened.
    func variables(for version: ToolVersionInstance) async throws -> [String: String] {
        let stored = try await store.read { try await $0.tools.envvars(toolID: version.toolID) }
        var variables: [String: String] = [:]
        for envvar in stored where envvar.deletedAt == nil {
            guard version.requiredEnvvars.contains(envvar.name) || version.requiredSecretEnvvars.contains(envvar.name) else { continue }
            variables[envvar.name] = envvar.isSecret ? try secrets.open(envvar.value) : envvar.value
        }
        return variables
    }

    /// Runs a version once with `input` (the harness's stdin document).
    public func run(_ version: ToolVersionInstance, input: ToolInvocationInput) async -> InvocationResult {
        await withSpan("tool.run") { span in
            span.attributes["compadre.tool_id"] = version.toolID
            span.attributes["compadre.tool_version"] = version.version.description
            let result = await runMeasured(version, input: input)
            let succeeded = if case .succeeded = result.status { true } else { false }
            if !succeeded { span.setStatus(SpanStatus(code: .error)) }
            Telemetry.toolRunFinished(succeeded: succeeded, duration: .milliseconds(result.durationMs))
            return result
        }
    }

    private func runMeasured(_ version: ToolVersionInstance, input: ToolInvocationInput) async -> InvocationResult {
        let started = ContinuousClock.now
        do {
            let environment = try await environment(of: version)
            let variables = try await variables(for: version)
            let document = try WireCoding.encoder().encode(input)
            let result = await sandbox.run(environment, input: document, variables: variables)
            return Self.invocationResult(result)
        } catch {
            let elapsed = ContinuousClock.now - started
            return InvocationResult(
                status: .failed(AmigoWire.ToolFailure(exceptionMessage: "\(error)", exceptionType: "ToolUnavailable")),
                durationMs: Self.milliseconds(elapsed)
            )
        }
    }

    static func invocationResult(_ result: ToolRunResult) -> InvocationResult {
        switch result {
        case .succeeded(let output, let duration):
            InvocationResult(status: .succeeded(output: output), durationMs: milliseconds(duration))
        case .failed(let failure, let duration):
            InvocationResult(
                status: .failed(AmigoWire.ToolFailure(
                    exceptionMessage: failure.message, exceptionType: failure.type, exceptionStackTrace: failure.stackTrace
                )),
                durationMs: milliseconds(duration)
            )
        }
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }
}

/// Built environments by directory, each built at most once at a time.
actor ToolEnvironments {
    let root: URL
    private var ready: [URL: ToolEnvironment] = [:]
    private var building: [URL: Task<ToolEnvironment, any Error>] = [:]

    init(root: URL) { self.root = root }

    nonisolated func directory(orgID: String, toolID: String, version: ToolVersion) -> URL {
        root.appendingPathComponent(orgID).appendingPathComponent(toolID).appendingPathComponent(version.description)
    }

    func environment(at directory: URL, build: @escaping @Sendable () async throws -> ToolEnvironment) async throws -> ToolEnvironment {
        if let environment = ready[directory] { return environment }
        if let environment = try? ToolEnvironment.load(from: directory) {
            ready[directory] = environment
            return environment
        }
        if let task = building[directory] { return try await task.value }
        let task = Task { try await build() }
        building[directory] = task
        defer { building[directory] = nil }
        let environment = try await task.value
        ready[directory] = environment
        return environment
    }

    /// Records an environment built elsewhere (publish).
    func remember(_ environment: ToolEnvironment) {
        ready[environment.directory] = environment
    }
}

/// One organization's published tools as the Engine sees them: versions resolved by constraint, runs
/// recorded as invocations (outside the interaction's transaction: a run happened even if the
/// interaction is later rolled back, as the API documents).
public struct PublishedTools: ToolRunner {
    let tools: Tools
    let orgID: String
    var simulation: SimulationTag?

    public func resolve(_ spec: ToolCallSpec) async throws -> ResolvedTool {
        let (tool, version) = try await find(spec)
        return ResolvedTool(
            id: tool.id, name: tool.name, description: tool.description, version: version.version.description,
            inputSchema: .object(version.inputSchema)
        )
    }

    func find(_ spec: ToolCallSpec) async throws -> (ToolInstance, ToolVersionInstance) {
        let orgID = orgID
        let (tool, versions) = try await tools.store.read { repositories in
            (try await repositories.tools.get(id: spec.toolID, orgID: orgID),
             try await repositories.tools.versions(toolID: spec.toolID, orgID: orgID))
        }
        guard let tool, !tool.deprecated else {
            throw ToolResolutionError(toolID: spec.toolID, message: "Tool \(spec.toolID) does not exist or is deprecated.")
        }
        let specifier: VersionSpecifier
        do {
            specifier = try VersionSpecifier(spec.versionConstraint)
        } catch {
            throw ToolResolutionError(toolID: spec.toolID, message: "Tool `\(tool.name)`: \(error)")
        }
        let usable = versions.filter { !$0.deprecated }
        guard let best = specifier.best(in: usable.map(\.version)), let version = usable.first(where: { $0.version == best }) else {
            throw ToolResolutionError(
                toolID: spec.toolID,
                message: "No published, non-deprecated version of tool `\(tool.name)` matches `\(spec.versionConstraint)`."
            )
        }
        return (tool, version)
    }

    public func invoke(_ tool: ResolvedTool, input: [String: JSONValue], call: ToolCallContext) async throws -> ToolResult {
        let orgID = orgID
        guard let parsed = ToolVersion(tool.version) else {
            return ToolResult(output: "Error: unknown version \(tool.version)", succeeded: false, duration: 0)
        }
        let found = try await tools.store.read { repositories in
            (try await repositories.tools.versions(toolID: tool.id, orgID: orgID).first { $0.version == parsed },
             try await repositories.users.get(id: call.userID, orgID: orgID))
        }
        guard let version = found.0 else {
            return ToolResult(output: "Error: tool version \(tool.version) is gone.", succeeded: false, duration: 0)
        }
        let user = found.1
        let document = ToolInvocationInput(
            inputParameters: input, invocationMode: simulation == nil ? .regular : .conversationSimulation,
            nonsensitiveUserVariables: simulation?.nonsensitiveVariables ?? user?.nonsensitiveVariables ?? [:],
            sensitiveUserVariables: simulation?.sensitiveVariables ?? user?.sensitiveVariables ?? [:]
        )
        try Task.checkCancellation()
        let result = await tools.run(version, input: document)
        let record = ToolInvocationInstance(
            id: ObjectID.generate(), orgID: orgID, createdAt: Date(), invocationStatus: result.status,
            invocationSource: simulation.map { simulation in
                .simulationConversation(
                    simulationUnitTestSetRunID: simulation.runID, unitTestID: simulation.unitTestID, runIndex: simulation.runIndex,
                    metadata: Self.metadata(call.site)
                )
            } ?? .regularConversation(
                userID: call.userID, conversationID: call.conversationID, interactionID: call.interactionID,
                metadata: Self.metadata(call.site)
            ),
            durationMs: result.durationMs, toolID: tool.id, toolVersion: parsed, inputs: input
        )
        do {
            try await tools.store.write { try await $0.tools.insert(record) }
        } catch {
            tools.logger.error("could not record a tool invocation", metadata: ["tool_id": "\(tool.id)", "error": "\(error)"])
        }
        let seconds = Double(result.durationMs) / 1000
        switch result.status {
        case .succeeded(let output):
            return ToolResult(output: output, succeeded: true, duration: seconds)
        case .failed(let failure):
            return ToolResult(
                output: "Error (\(failure.exceptionType)): \(failure.exceptionMessage)", succeeded: false, duration: seconds
            )
        }
    }

    static func metadata(_ site: ToolCallSite) -> InvocationMetadata {
        switch site {
        case .stateTransition(let graph, let state, let index, let round):
            .stateTransition(contextGraph: graph, stateName: state, stateTransitionIndex: index, toolCallRoundIndex: round)
        case .engageUser(let graph, let round):
            .engageUser(contextGraph: graph, toolCallRoundIndex: round)
        case .toolCallState(let graph, let state):
            .toolCallState(contextGraph: graph, stateName: state)
        }
    }
}
