import Hummingbird
import Logging

/// Runs `router` on 127.0.0.1 at a free port, calls `body` with the port, and stops the server when
/// `body` returns or throws (requests still hanging are cancelled). The fake servers of the tests use it.
func withLoopbackServer<Context: RequestContext, Result: Sendable>(
    _ router: Router<Context>, logger: Logger, _ body: (Int) async throws -> Result
) async throws -> Result where Context.Source == ApplicationRequestContextSource {
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        },
        logger: logger
    )
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            defer { portContinuation.finish() }
            try await app.run()
        }
        defer { group.cancelAll() }
        guard let port = await ports.first(where: { _ in true }), port > 0 else {
            try await group.next()
            throw FakeServerError("the server did not start")
        }
        return try await body(port)
    }
}
