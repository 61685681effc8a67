import AsyncHTTPClient
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Models
import ServiceLifecycle
import UnixSignals
import Engine
import Server
import ToolRuntime
import Storage
import Platform

@main
struct Compadre: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compadre",
        abstract: "A self-hostable conversational-agent platform that speaks the Amigo Classic API.",
        subcommands: [Serve.self, Initialize.self, Migrate.self, Chat.self]
    )
}

/// Options shared by every command that opens the database.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: "sqlite:PATH or postgres://user:pass@host:port/db (env COMPADRE_DATABASE_URL; default sqlite:./compadre.sqlite)")
    var database: String?

    var url: String {
        database ?? ProcessInfo.processInfo.environment["COMPADRE_DATABASE_URL"] ?? "sqlite:./compadre.sqlite"
    }
}

/// Logs go to standard error; the logging system is set up once per process.
let loggingBootstrap: Void = LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }

func makeLogger(_ label: String) -> Logger {
    _ = loggingBootstrap
    var logger = Logger(label: label)
    let level = ProcessInfo.processInfo.environment["COMPADRE_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
    logger.logLevel = level ?? .info
    return logger
}

struct Serve: AsyncParsableCommand {
    /// The tool subsystem from `COMPADRE_TOOLS_DIR`, `COMPADRE_TOOL_PYTHON`, `COMPADRE_TOOL_TIMEOUT_SECONDS`,
    /// `COMPADRE_TOOL_MEMORY_MB`, `COMPADRE_TOOL_CPU_SECONDS`, `COMPADRE_TOOL_ISOLATION` (automatic,
    /// bubblewrap, none) and `COMPADRE_SECRETS_KEY`; `COMPADRE_TOOLS=off` turns tools off.
    static func toolConfiguration(_ environment: [String: String]) throws -> ToolConfiguration? {
        if let flag = environment["COMPADRE_TOOLS"]?.lowercased(), ["off", "0", "false", "no"].contains(flag) { return nil }
        var tools = ToolConfiguration()
        if let directory = environment["COMPADRE_TOOLS_DIR"], !directory.isEmpty { tools.directory = URL(fileURLWithPath: directory) }
        if let python = environment["COMPADRE_TOOL_PYTHON"], !python.isEmpty { tools.python = python }
        if let seconds = environment["COMPADRE_TOOL_TIMEOUT_SECONDS"].flatMap(Double.init), seconds > 0 {
            tools.limits.timeout = .milliseconds(Int(seconds * 1000))
        }
        if let megabytes = environment["COMPADRE_TOOL_MEMORY_MB"].flatMap(Int.init), megabytes > 0 { tools.limits.memoryBytes = megabytes << 20 }
        if let seconds = environment["COMPADRE_TOOL_CPU_SECONDS"].flatMap(Int.init), seconds > 0 { tools.limits.cpuSeconds = seconds }
        if let isolation = environment["COMPADRE_TOOL_ISOLATION"] {
            guard let value = ToolSandbox.Isolation(rawValue: isolation) else {
                throw ValidationError("COMPADRE_TOOL_ISOLATION must be automatic, bubblewrap or none.")
            }
            tools.isolation = value
        }
        if let key = environment["COMPADRE_SECRETS_KEY"], !key.isEmpty {
            guard let secrets = ToolSecrets(base64: key) else {
                throw ValidationError("COMPADRE_SECRETS_KEY must be the base64 of 32 random bytes (openssl rand -base64 32).")
            }
            tools.secrets = secrets
        }
        return tools
    }

    static let configuration = CommandConfiguration(abstract: "Run the HTTP server (creates and migrates the database on first start).")

    @Option(help: "Address to listen on (env COMPADRE_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (env COMPADRE_PORT; default 8080).") var port: Int?
    @OptionGroup var database: DatabaseOptions
    @Option(name: .customLong("llm-base-url"), help: "OpenAI-compatible model endpoint (env COMPADRE_LLM_BASE_URL).") var llmBaseURL: String?
    @Option(name: .customLong("llm-api-key"), help: "API key of the model endpoint (env COMPADRE_LLM_API_KEY).") var llmAPIKey: String?
    @Option(name: .customLong("llm-model"), help: "Model name (env COMPADRE_LLM_MODEL).") var llmModel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var configuration = ServerConfiguration()
        configuration.host = host ?? environment["COMPADRE_HOST"] ?? configuration.host
        if let port = port ?? environment["COMPADRE_PORT"].flatMap(Int.init) { configuration.port = port }
        configuration.databaseURL = database.url
        configuration.tokenSecret = environment["COMPADRE_TOKEN_SECRET"]
        if let lifetime = environment["COMPADRE_TOKEN_LIFETIME"].flatMap(Double.init) { configuration.tokenLifetime = lifetime }
        if let limits = environment["COMPADRE_RATE_LIMITS"]?.lowercased() { configuration.rateLimitsEnabled = !["off", "0", "false", "no"].contains(limits) }
        if let seconds = environment["COMPADRE_LEASE_SECONDS"].flatMap(Double.init), seconds > 0 {
            configuration.leaseDuration = .milliseconds(Int(seconds * 1000))
        }
        if let value = environment["COMPADRE_REALTIME_MESSAGES_PER_MINUTE"].flatMap(Int.init) { configuration.realtimeLimits.messagesPerMinute = value }
        if let value = environment["COMPADRE_REALTIME_TIMEOUT_SECONDS"].flatMap(Double.init) {
            configuration.realtimeLimits.inactivityTimeout = .milliseconds(Int(value * 1000))
        }
        if let value = environment["COMPADRE_REALTIME_MAX_MESSAGE_BYTES"].flatMap(Int.init) { configuration.realtimeLimits.maxMessageBytes = value }
        if let seconds = environment["COMPADRE_SHUTDOWN_GRACE_SECONDS"].flatMap(Double.init), seconds >= 0 {
            configuration.shutdownGracePeriod = .milliseconds(Int(seconds * 1000))
        }
        configuration.tools = try Self.toolConfiguration(environment)
        let logger = makeLogger("compadre")
        let started = ContinuousClock.now
        let setup = try LanguageModelSetup(baseURL: llmBaseURL, apiKey: llmAPIKey, model: llmModel, environment: environment)
        let database = try await DatabaseURL.service(configuration.databaseURL, logger: logger)
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: setup.httpClientConfiguration)
        // Every long-lived thing is a service of one group: the database and the HTTP client first (shut
        // down last), then the model, the lease keeper, the HTTP server and the drain (shut down first).
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: database), .init(service: HTTPClientService(client: httpClient))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        )
        // A backstop past the drain's own grace period: whatever still runs then is cancelled.
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod + .seconds(15)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await database.waitUntilReachable()
                for service in try await startServices(
                    database: database, configuration: configuration, setup: setup, httpClient: httpClient,
                    environment: environment, started: started, logger: logger
                ) {
                    await group.addServiceUnlessShutdown(service)
                }
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
            try await tasks.waitForAll()
        }
    }

    /// The services that follow the database and the HTTP client: the embedded model (when no remote
    /// one is configured), then the server's own.
    private func startServices(
        database: any Database, configuration: ServerConfiguration, setup: LanguageModelSetup, httpClient: HTTPClient,
        environment: [String: String], started: ContinuousClock.Instant, logger: Logger
    ) async throws -> [any Service] {
        var services: [any Service] = []
        var embedded: (any LanguageModel)?
        if setup.baseURL == nil {
            let paths = LanguageModelSetup.embeddedPaths(environment: environment)
            if FileManager.default.isExecutableFile(atPath: paths.python), FileManager.default.fileExists(atPath: paths.model) {
                let server = LocalModelServer(
                    configuration: .llamaCpp(python: paths.python, modelPath: paths.model, port: try freeLoopbackPort()),
                    httpClient: httpClient, logger: makeLogger("compadre.llm")
                )
                services.append(server)
                embedded = LanguageModelSetup.embeddedModel(server: server, httpClient: httpClient, logger: logger)
            } else {
                logger.error("\(LanguageModelSetup.missingEmbeddedModel) (looked for \(paths.python) and \(paths.model))")
            }
        }
        let models = setup.makeModels(httpClient: httpClient, logger: logger, embedded: embedded)
        let (server, store) = try await CompadreServer.makeServices(
            database: database, configuration: configuration, models: models, logger: logger
        )
        logger.info("ready", metadata: [
            "address": "\(configuration.host):\(configuration.port)", "database": "\(store.database.kind.rawValue)",
            "startup": "\(ContinuousClock.now - started)", "rate_limits": "\(configuration.rateLimitsEnabled ? "on" : "off")",
            "model": "\(setup.baseURL ?? (embedded == nil ? "none" : "embedded"))",
        ])
        return services + server
    }
}

/// The HTTP client of the model calls, shut down with the group.
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

struct Initialize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create an organization with its default roles, an administrator and an API key; prints them as JSON."
    )

    @Option(help: "Organization id (lowercase letters, digits, '-', '_'); default `demo` with --demo.") var org: String?
    @Flag(help: "Also create the demo clinic-intake service and print how to talk to it.") var demo = false
    @OptionGroup var database: DatabaseOptions
    @Option(name: .customLong("admin-email"), help: "E-mail of the administrator user (default admin@amigo.ai).") var adminEmail: String = "admin@amigo.ai"

    func run() async throws {
        let logger = makeLogger("compadre")
        let db = try await DatabaseURL.open(database.url, logger: logger)
        do {
            try await Migrations.apply(to: db, logger: logger)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            if demo {
                let created = try await DemoOrganization.create(orgID: org ?? "demo", adminEmail: adminEmail, store: Store(database: db))
                print(String(decoding: try encoder.encode(created), as: UTF8.self))
                FileHandle.standardError.write(Data(Self.demoInstructions(created).utf8))
            } else {
                guard let org else { throw ValidationError("--org is required (or use --demo)") }
                let credentials = try await OrganizationBootstrap.create(orgID: org, adminEmail: adminEmail, store: Store(database: db))
                print(String(decoding: try encoder.encode(credentials), as: UTF8.self))
            }
            try await db.close()
        } catch {
            try? await db.close()
            FileHandle.standardError.write(Data("compadre init: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

extension Initialize {
    static func demoInstructions(_ created: DemoOrganization.Created) -> String {
        let c = created.credentials
        return """

            The demo clinic is ready: organization `\(c.organizationID)`, service `Clinic intake` (\(created.serviceID)).
            Start the server (if it is not running):   compadre serve
            Talk to the clinic from this terminal:
              compadre chat --url http://127.0.0.1:8080 --org \(c.organizationID) --api-key-id \(c.apiKeyID) --api-key \(c.apiKey) --user-id \(c.userID) --service \(created.serviceID)
            Or with the official Python SDK:
              AmigoClient(api_key="\(c.apiKey)", api_key_id="\(c.apiKeyID)", user_id="\(c.userID)", organization_id="\(c.organizationID)", base_url="http://127.0.0.1:8080")

            """
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending schema migrations and exit.")
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = makeLogger("compadre")
        let db = try await DatabaseURL.open(database.url, logger: logger)
        let applied = try await Migrations.apply(to: db, logger: logger)
        let versions = try await Migrations.appliedVersions(in: db)
        try await db.close()
        print(applied.isEmpty ? "schema is up to date (version \(versions.last ?? 0))" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
    }
}
