import AsyncHTTPClient
import Foundation
import Logging
@testable import Models
import ServiceLifecycle
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct SupervisorStateMachineTests {
    @Test func aChildThatDiesIsRestartedWithGrowingBackoffThatResetsOnceReady() {
        var machine = SupervisorStateMachine(initialBackoff: .milliseconds(100), maximumBackoff: .milliseconds(300))
        #expect(machine.start() == .spawn)
        #expect(machine.childExited() == .restart(after: .milliseconds(100)))
        #expect(machine.restartDue() == .spawn)
        #expect(machine.childExited() == .restart(after: .milliseconds(200)))
        #expect(machine.restartDue() == .spawn)
        #expect(machine.childExited() == .restart(after: .milliseconds(300)))
        #expect(machine.restartDue() == .spawn)
        #expect(machine.childBecameReady() == .none)
        #expect(machine.isReady)
        #expect(machine.childExited() == .restart(after: .milliseconds(100)))
    }

    @Test func shutdownTerminatesTheChildAndNothingStartsAgain() {
        var machine = SupervisorStateMachine()
        _ = machine.start()
        _ = machine.childBecameReady()
        #expect(machine.shutdown() == .terminateChild)
        #expect(machine.childExited() == .finish)
        #expect(machine.isFinished)
        #expect(machine.restartDue() == .none)
    }

    @Test func shutdownWhileBackingOffFinishesAtOnce() {
        var machine = SupervisorStateMachine()
        _ = machine.start()
        _ = machine.childExited()
        #expect(machine.shutdown() == .finish)
        #expect(machine.restartDue() == .none)
    }
}

@Suite struct LocalModelServerTests {
    /// Stands in for llama-cpp-python's server: answers every GET with 200 on the given port.
    static let fakeModelServer = """
        import http.server, sys
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"data": []}')
            def log_message(self, *args):
                pass
        print("fake model server listening", flush=True)
        http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
        """

    static var python: String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/python3"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return "/usr/bin/python3"
    }

    static func isAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0
    }

    @Test func theChildIsRestartedAfterKill9AndGoneAfterShutdown() async throws {
        var configuration = LocalModelServer.Configuration(
            executable: Self.python, arguments: ["-c", Self.fakeModelServer, "{port}"], port: try freeLoopbackPort()
        )
        configuration.initialBackoff = .milliseconds(50)
        configuration.readinessTimeout = .seconds(20)
        let logger = Logger(label: "test")
        let server = LocalModelServer(configuration: configuration, httpClient: .shared, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await server.waitUntilReady(timeout: .seconds(20))
            let first = try #require(server.childProcessID)
            kill(first, SIGKILL)

            var second: Int32?
            for _ in 0..<400 {
                if let pid = server.childProcessID, pid != first, (try? await server.waitUntilReady(timeout: .zero)) != nil {
                    second = pid
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            let restarted = try #require(second, "a new child should be started and become ready")
            #expect(Self.isAlive(restarted))

            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            var gone = false
            for _ in 0..<100 where !gone {
                gone = !Self.isAlive(restarted)
                if !gone { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(gone, "no orphan model server after shutdown")
        }
    }
}
