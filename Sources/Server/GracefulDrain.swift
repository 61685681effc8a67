import Logging
import Platform
import ServiceLifecycle

/// Lets running work finish when the server is asked to stop (the rules are ``Workload``'s).
///
/// It is the last service of the group, so it is the first to be shut down: while it drains, the HTTP
/// server still serves the streams being drained; it stops accepting connections only once the drain
/// has ended, and the services before it (the lease keeper, the model, the database) after that.
public struct GracefulDrain: Service {
    let workload: Workload
    let grace: Duration
    let logger: Logger

    public init(workload: Workload, grace: Duration, logger: Logger) {
        self.workload = workload
        self.grace = grace
        self.logger = logger
    }

    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            return  // cancelled: nothing is drained
        }
        logger.info("shutting down", metadata: ["running": "\(workload.count)", "grace_period": "\(grace)"])
        await workload.drain(grace: grace, clock: ContinuousClock())
        logger.info("drained")
    }
}
