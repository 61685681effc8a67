import AmigoWire
import Engine
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Storage
import Platform
import Tracing

/// Builds Compadre's HTTP application over an opened database.
public enum CompadreServer {
    /// The router with every route of the API, for in-process tests and for `serve`.
    public static func makeRouter(api: API) -> Router<AppContext> {
        let router = Router(context: AppContext.self)
        // A span per request only when a tracer is installed (OTLP configured): the middleware costs a few
        // percent of a cached request even with the no-op tracer.
        if !(InstrumentationSystem.tracer is NoOpTracer) { router.add(middleware: TracingMiddleware()) }
        let routes = RouteMethods()
        router.add(middleware: ErrorMiddleware(routes: routes))
        router.get("/healthz") { _, _ -> Response in
            guard await api.store.database.isReachable() else { throw PlatformError.unavailable("The database is unreachable.") }
            return try .json(["status": "ok"])
        }
        let metrics = api.metrics
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer()))
            )
        }
        let document = api.catalog.document
        router.get("/openapi.json") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(bytes: document)))
        }
        OrganizationController(api: api).addRoutes(to: router)
        UserController(api: api).addRoutes(to: router)
        VersionedResourceController<Agents>(api: api).addRoutes(to: router)
        VersionedResourceController<ContextGraphs>(api: api).addRoutes(to: router)
        ServiceController(api: api).addRoutes(to: router)
        RoleController(api: api).addRoutes(to: router)
        ConversationController(api: api).addRoutes(to: router)
        RealtimeController(api: api).addRoutes(to: router)
        ToolController(api: api).addRoutes(to: router)
        ToolRepositoryController(api: api).addRoutes(to: router)
        DynamicBehaviorController(api: api).addRoutes(to: router)
        MetricController(api: api).addRoutes(to: router)
        SimulationController(api: api).addRoutes(to: router)
        WebhookController(api: api).addRoutes(to: router)
        AdminController(api: api).addRoutes(to: router)
        MediaRoutes(api: api).addRoutes(to: router)
        routes.register(router.routes.map { (path: "\($0.path)", method: $0.method) })
        return router
    }

    /// The API over `store`, with the token secret from configuration or stored in the database.
    public static func makeAPI(
        store: Store, configuration: ServerConfiguration, models: LanguageModels, speech: SpeechEngines = .none,
        embedder: (any Embedder)? = nil, logger: Logger
    ) async throws -> API {
        let secret: String
        if let configured = configuration.tokenSecret, !configured.isEmpty {
            secret = configured
        } else {
            let generated = APIKeySecret.generate() + APIKeySecret.generate()
            secret = try await store.write { try await $0.settings.valueInsertingIfAbsent(generated, for: "token_signing_secret") }
        }
        var tools: Tools?
        if let toolConfiguration = configuration.tools {
            tools = try await Tools(store: store, configuration: toolConfiguration, logger: logger)
        }
        var conversations = Conversations(
            store: store, models: models, tools: tools, maxTransitions: configuration.maxTransitionsPerInteraction,
            leases: LeaseKeeper(store: store, duration: configuration.leaseDuration, inProcess: configuration.leasesInProcess), logger: logger
        )
        conversations.clockSkew = configuration.eventClockSkew
        conversations.speech = speech
        conversations.behaviors = DynamicBehaviors(store: store, embedder: embedder, logger: logger)
        conversations.analysis = ConversationAnalysis(store: store, models: conversations.models, embedder: embedder, logger: logger)
        conversations.analysis.webhooks = Webhooks(store: store, policy: configuration.webhookPolicy, logger: logger)
        if configuration.promptLogRetention > 0 {
            conversations.promptLogs = PromptLogRecorder(store: store, retention: configuration.promptLogRetention, logger: logger)
        }
        var api = API(
            store: store,
            tokens: await TokenIssuer(secret: secret, lifetime: configuration.tokenLifetime),
            rateLimiter: configuration.rateLimitsEnabled ? RateLimiter() : nil,
            catalog: try OperationCatalog.bundled(),
            conversations: conversations,
            cacheLifetime: configuration.cacheLifetime
        )
        api.tools = tools
        api.links = SignedLinks(secret: secret)
        api.emailSignIns = EmailSignIns(store: store, mailer: configuration.email.mailer(python: tools?.configuration.python ?? "python3", logger: logger))
        if configuration.rateLimitsEnabled { api.signIns = SignInGuard(configuration: configuration.signInLimits) }
        return api
    }

    /// Applies migrations to `database` (which must answer) and returns the services that serve it, in
    /// the order of the service group: the lease keeper, the HTTP server, the graceful drain (the last
    /// is shut down first).
    public static func makeServices(
        database: any Database, configuration: ServerConfiguration, models: LanguageModels, speech: SpeechEngines = .none,
        embedder: (any Embedder)? = nil, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
    ) async throws -> (services: [any ServiceLifecycle.Service], store: Store) {
        try await Migrations.apply(to: database, logger: logger)
        let store = Store(database: database)
        if database.kind == .sqlite {
            // One process owns an SQLite file: leases still there were left by a process that crashed,
            // and so were jobs still running (they run again now).
            try await store.write { repositories in
                try await repositories.leases.removeAll()
                try await repositories.jobs.releaseRunning(now: Date())
            }
        }
        // One process owns an SQLite file: its leases need not be written to it.
        var configuration = configuration
        configuration.leasesInProcess = database.kind == .sqlite
        var api = try await makeAPI(
            store: store, configuration: configuration, models: models, speech: speech, embedder: embedder, logger: logger
        )
        api.realtimeLimits = configuration.realtimeLimits
        api.metrics = metrics
        let router = makeRouter(api: api)
        let app = Application(
            router: router,
            server: .guardedHTTP1WebSocketUpgrade(
                webSocketRouter: router, maxFrameSize: configuration.realtimeLimits.maxMessageBytes * 2,
                deadlines: configuration.requestDeadlines
            ),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "compadre"),
            logger: logger
        )
        let drain = GracefulDrain(workload: api.conversations.workload, grace: configuration.shutdownGracePeriod, logger: logger)
        var jobConfiguration = JobRunner.Configuration()
        // A job's lease, like a conversation's, outlives a crashed replica by this long.
        jobConfiguration.lease = configuration.leaseDuration
        let jobs = JobRunner(
            store: store, handlers: api.conversations.analysis.handlers, configuration: jobConfiguration, logger: logger, promptLogs: api.promptLogs
        )
        api.conversations.analysis.doorbell.onRing { [jobs] in jobs.wake() }
        // Simulations on a runner of their own, so a long run neither waits behind analysis nor holds it up.
        var simulationConfiguration = jobConfiguration
        simulationConfiguration.concurrency = configuration.simulationConcurrency
        let simulations = JobRunner(
            store: store, handlers: api.simulations.handlers, configuration: simulationConfiguration, logger: logger, promptLogs: api.promptLogs
        )
        api.simulations.doorbell.onRing { [simulations] in simulations.wake() }
        // Deliveries on a runner of their own: a destination that hangs holds up only its own deliveries
        // (each attempt times out), retried after 5, 10, 20, 20 … s.
        var webhookConfiguration = jobConfiguration
        webhookConfiguration.concurrency = configuration.webhookConcurrency
        webhookConfiguration.backoff = .seconds(5)
        webhookConfiguration.maxBackoff = .seconds(20)
        let deliveries = JobRunner(store: store, handlers: api.webhooks.handlers, configuration: webhookConfiguration, logger: logger)
        api.webhooks.doorbell.onRing { [deliveries] in deliveries.wake() }
        let schedule = WebhookScheduler(webhooks: api.webhooks, store: store, logger: logger)
        var services: [any ServiceLifecycle.Service] = [api.conversations.leases, jobs, simulations, deliveries, schedule]
        if let promptLogs = api.promptLogs { services.append(promptLogs) }
        return (services + [app, drain], store)
    }
}
