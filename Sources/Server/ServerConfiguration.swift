import Foundation
import Logging
import Platform

/// How a `compadre serve` process runs. Defaults are documented per field; the CLI fills it from
/// flags, then `COMPADRE_…` environment variables, then defaults.
public struct ServerConfiguration: Sendable {
    /// Address to listen on. Default `127.0.0.1`.
    public var host: String = "127.0.0.1"
    /// Port to listen on; 0 picks a free port. Default 8080.
    public var port: Int = 8080
    /// `sqlite:PATH` or `postgres://…`. Default `sqlite:./compadre.sqlite`.
    public var databaseURL: String = "sqlite:./compadre.sqlite"
    /// Secret that signs access tokens. Default: generated once and stored in the database.
    public var tokenSecret: String?
    /// Lifetime of issued access tokens in seconds. Default one hour.
    public var tokenLifetime: TimeInterval = 3600
    /// Whether the per-endpoint rate limits apply. Default on; turn off for benchmarks.
    public var rateLimitsEnabled: Bool = true
    /// The limits of sign-ins with an API key: failed ones back off, valid ones get a generous budget.
    public var signInLimits = SignInLimits.Configuration()
    /// How long a cached read (the caller of a token, the service listing) is used before it is read
    /// again: the longest a change made by another replica takes to show on this one. This replica's
    /// own changes show at once. Default 1 s; zero turns the caches off.
    public var cacheLifetime: Duration = .seconds(1)
    /// How long a client may take to send a request's head and body, and to keep an idle connection.
    public var requestDeadlines = RequestDeadlines()
    /// How far a client's external-event timestamps may be off the server's clock. Default 10 s.
    public var eventClockSkew: Duration = .seconds(10)
    /// The most state transitions one interaction may make before it is stopped as a runaway graph.
    /// Default 25.
    public var maxTransitionsPerInteraction: Int = 25
    /// How long a lease ("one operation at a time per conversation", "one realtime connection per user
    /// and service") outlives a process that stopped renewing it, e.g. one that crashed. Default 30 s.
    public var leaseDuration: Duration = .seconds(30)
    /// How many simulated conversations (unit test repetitions) run at once in this process. Default 2.
    public var simulationConcurrency = 2
    /// Which webhook destinations may be reached (HTTPS and public addresses by default) and how long
    /// an attempt may take (10 s).
    public var webhookPolicy = WebhookPolicy()
    /// How many webhook deliveries are attempted at once in this process. Default 8.
    public var webhookConcurrency = 8
    /// How long every model call's prompt and answer is kept (`get-prompt-logs`); 0 keeps none. Default 30 days.
    public var promptLogRetention: TimeInterval = 30 * 86_400
    /// How sign-in links are sent: SMTP, the log (development), or not at all (the default).
    public var email = EmailConfiguration()
    /// Whether leases live in this process only: `serve` sets it on SQLite, whose file one process owns.
    /// Default off (leases in the database, for replicas and for tests running two servers on one file).
    public var leasesInProcess = false
    /// How long a shutdown (SIGTERM) lets running interactions and realtime turns finish before it cuts
    /// them (a cut interaction stores nothing). Default 10 s.
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// Limits of the realtime socket: 60 messages a minute, 30 s inactivity, 1 MB messages.
    public var realtimeLimits = RealtimeLimits()
    /// The tool subsystem (repositories, builds, sandboxed runs); `nil` turns tools off (503).
    public var tools: ToolConfiguration? = ToolConfiguration()

    public init() {}
}

/// How sign-in links reach users.
public struct EmailConfiguration: Sendable {
    /// `smtp://user:password@host:port` (STARTTLS when offered) or `smtps://…` (TLS from the start).
    public var smtpURL: URL?
    public var from = "Compadre <no-reply@localhost>"
    /// Development only: write each link to the log at debug level instead of sending it.
    public var logLinks = false

    public init() {}

    func mailer(python: String, logger: Logger) -> (any Mailer)? {
        if let smtpURL { return SMTPMailer(url: smtpURL, from: from, python: python) }
        return logLinks ? LogMailer(logger: logger) : nil
    }
}
