import AsyncHTTPClient
import ArgumentParser
import Configuration
import Foundation
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
        subcommands: [Serve.self, Initialize.self, Migrate.self, Chat.self, Replay.self, ShowConfiguration.self]
    )
}

/// Options shared by every command that opens the database.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: "sqlite:PATH or postgres://user:pass@host:port/db (env COMPADRE_DATABASE_URL; default sqlite:./compadre.sqlite)")
    var database: String?

    func url() async throws -> String {
        let reader = try await Settings.reader(flags: database.map { ["database.url": $0] } ?? [:], arguments: [], file: nil)
        return reader.text("database.url") ?? ServerConfiguration().databaseURL
    }
}

/// Every setting of `serve` (and `config`): the flags of the DESIGN contract, any other setting as
/// `--key value`, and an optional JSON configuration file.
struct SettingsOptions: ParsableArguments {
    @Option(help: "A JSON configuration file (env COMPADRE_CONFIG), e.g. {\"port\": 9000, \"realtime\": {\"timeoutSeconds\": 60}}.")
    var config: String?
    @Option(help: "Address to listen on (env COMPADRE_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (env COMPADRE_PORT; default 8080).") var port: Int?
    @Option(help: "sqlite:PATH or postgres://user:pass@host:port/db (env COMPADRE_DATABASE_URL; default sqlite:./compadre.sqlite)")
    var database: String?
    @Option(name: .customLong("llm-base-url"), help: "OpenAI-compatible model endpoint (env COMPADRE_LLM_BASE_URL).") var llmBaseURL: String?
    @Option(name: .customLong("llm-api-key"), help: "API key of the model endpoint (env COMPADRE_LLM_API_KEY).") var llmAPIKey: String?
    @Option(name: .customLong("llm-model"), help: "Model name (env COMPADRE_LLM_MODEL).") var llmModel: String?
    @Argument(parsing: .allUnrecognized, help: "Any other setting as --key value (listed below).")
    var settings: [String] = []

    /// The one reader of every setting: flags > environment > configuration file > defaults.
    func reader() async throws -> ConfigReader {
        var flags: [String: String] = [:]
        flags["host"] = host
        flags["port"] = port.map(String.init)
        flags["database.url"] = database
        flags["llm.baseUrl"] = llmBaseURL
        flags["llm.apiKey"] = llmAPIKey
        flags["llm.model"] = llmModel
        let known = Set(Settings.all.map(\.flag))
        for argument in settings where argument.hasPrefix("--") {
            let name = String(argument.split(separator: "=", maxSplits: 1)[0])
            guard known.contains(name) else { throw ValidationError("Unknown setting \(name); `compadre serve --help` lists them.") }
        }
        let file = config ?? ProcessInfo.processInfo.environment["COMPADRE_CONFIG"]
        return try await Settings.reader(flags: flags, arguments: settings, file: file)
    }
}

/// Logs go to standard error; the logging system is set up once per process.
/// Every line of a request carries its `request_id` (see `RequestScope`).
let loggingBootstrap: Void = LoggingSystem.bootstrap(
    { label, metadataProvider in StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider) },
    metadataProvider: RequestScope.metadataProvider
)

func makeLogger(_ label: String, level: Logger.Level? = nil) -> Logger {
    _ = loggingBootstrap
    var logger = Logger(label: label)
    logger.logLevel = level ?? ProcessInfo.processInfo.environment["COMPADRE_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
    return logger
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP server (creates and migrates the database on first start).",
        discussion: Settings.helpText
    )

    @OptionGroup var options: SettingsOptions

    func run() async throws {
        let reader = try await options.reader()
        let configuration = try ServerConfiguration(reader)
        let setup = try LanguageModelSetup(reader)
        let speechSetup = try SpeechSetup(reader)
        let level = try reader.text("log.level").map { raw in
            guard let level = Logger.Level(rawValue: raw) else { throw SettingError(key: "log.level", message: "is not a log level: `\(raw)`") }
            return level
        }
        let logger = makeLogger("compadre", level: level)
        let started = ContinuousClock.now
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
                    database: database, configuration: configuration, setup: setup, speechSetup: speechSetup,
                    httpClient: httpClient, started: started, logger: logger
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
        database: any Database, configuration: ServerConfiguration, setup: LanguageModelSetup, speechSetup: SpeechSetup,
        httpClient: HTTPClient, started: ContinuousClock.Instant, logger: Logger
    ) async throws -> [any Service] {
        var services: [any Service] = []
        var embedded: (any LanguageModel)?
        if setup.baseURL == nil {
            let paths = setup.embeddedPaths
            if FileManager.default.isExecutableFile(atPath: paths.python), FileManager.default.fileExists(atPath: paths.model) {
                let server = LocalModelServer(
                    configuration: .llamaCpp(python: paths.python, modelPath: paths.model, port: try freeLoopbackPort()),
                    httpClient: httpClient, logger: makeLogger("compadre.llm", level: logger.logLevel)
                )
                services.append(server)
                embedded = LanguageModelSetup.embeddedModel(server: server, httpClient: httpClient, logger: logger)
            } else {
                logger.error("\(LanguageModelSetup.missingEmbeddedModel) (looked for \(paths.python) and \(paths.model))")
            }
        }
        let models = setup.makeModels(httpClient: httpClient, logger: logger, embedded: embedded)
        _ = Observability.metrics
        if let tracing = try Observability.tracing(logger: logger) { services.append(tracing) }
        let speechServer = try speechSetup.embeddedServer(
            port: try freeLoopbackPort(), httpClient: httpClient, logger: makeLogger("compadre.voice", level: logger.logLevel)
        )
        if let speechServer { services.append(speechServer) }
        let speech = try speechSetup.makeEngines(httpClient: httpClient, logger: logger, embedded: speechServer)
        let speechUses = speechSetup.describe(embedded: speechServer)
        let embedder = speechSetup.makeEmbedder(httpClient: httpClient, logger: logger, embedded: speechServer)
        let (server, store) = try await CompadreServer.makeServices(
            database: database, configuration: configuration, models: models, speech: speech, embedder: embedder,
            metrics: Observability.registry, logger: logger
        )
        logger.info("ready", metadata: [
            "address": "\(configuration.host):\(configuration.port)", "database": "\(store.database.kind.rawValue)",
            "startup": "\(ContinuousClock.now - started)", "rate_limits": "\(configuration.rateLimitsEnabled ? "on" : "off")",
            "model": "\(setup.baseURL ?? (embedded == nil ? "none" : "embedded"))",
            "speech_to_text": "\(speechUses.speechToText)", "text_to_speech": "\(speechUses.textToSpeech)",
            "embeddings": "\(embedder?.model ?? "none")",
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
        let db = try await DatabaseURL.open(try await database.url(), logger: logger)
        do {
            try await Migrations.apply(to: db, logger: logger)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            if demo {
                let created = try await DemoOrganization.create(orgID: org ?? "demo", adminEmail: adminEmail, store: Store(database: db))
                print(String(decoding: try encoder.encode(created), as: UTF8.self))
                let reader = try await Settings.reader(flags: [:], arguments: [], file: ProcessInfo.processInfo.environment["COMPADRE_CONFIG"])
                let server = try ServerConfiguration(reader)
                let url = "http://\(server.host == "0.0.0.0" ? "127.0.0.1" : server.host):\(server.port)"
                FileHandle.standardError.write(Data(Self.demoInstructions(created, url: url).utf8))
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
    /// How to reach the demo: `url` is the address `serve` will listen on with the same settings.
    static func demoInstructions(_ created: DemoOrganization.Created, url: String) -> String {
        let c = created.credentials
        return """

            The demo clinic is ready: organization `\(c.organizationID)`, service `Clinic intake` (\(created.serviceID)).
            Start the server (if it is not running):   compadre serve
            Talk to the clinic from this terminal:
              compadre chat --url \(url) --org \(c.organizationID) --api-key-id \(c.apiKeyID) --api-key \(c.apiKey) --user-id \(c.userID) --service \(created.serviceID)
            Or with the official Python SDK:
              AmigoClient(api_key="\(c.apiKey)", api_key_id="\(c.apiKeyID)", user_id="\(c.userID)", organization_id="\(c.organizationID)", base_url="\(url)")

            """
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending schema migrations and exit.")
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = makeLogger("compadre")
        let db = try await DatabaseURL.open(try await database.url(), logger: logger)
        let applied = try await Migrations.apply(to: db, logger: logger)
        let versions = try await Migrations.appliedVersions(in: db)
        try await db.close()
        print(applied.isEmpty ? "schema is up to date (version \(versions.last ?? 0))" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
    }
}
