import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// An embedded engine server — the language model (`python -m llama_cpp.server`) or the speech server
/// (`scripts/speech-server.py`) — as a supervised child process.
///
/// `run()` starts it on a free loopback port, waits until it answers `readinessPath`, restarts it
/// with backoff when it dies, and on graceful shutdown sends SIGTERM (SIGKILL after `stopTimeout`).
/// The child is started with a parent-death signal, so it does not outlive a killed `compadre`.
/// Its output is logged line by line under the `llm` label.
public final class LocalModelServer: Service, Sendable {
    public struct Configuration: Sendable {
        /// The program to run and its arguments; `{port}` in an argument is replaced by the port.
        public var executable: String
        public var arguments: [String]
        public var port: Int
        /// What answers 200 once the server is ready.
        public var readinessPath = "/v1/models"
        /// How long a start may take before the child is considered failed.
        public var readinessTimeout: Duration = .seconds(120)
        public var stopTimeout: Duration = .seconds(5)
        public var initialBackoff: Duration = .milliseconds(500)
        public var maximumBackoff: Duration = .seconds(30)

        public init(executable: String, arguments: [String], port: Int) {
            self.executable = executable
            self.arguments = arguments
            self.port = port
        }

        /// llama-cpp-python's OpenAI-compatible server for `modelPath`, run by `python`.
        public static func llamaCpp(python: String, modelPath: String, port: Int) -> Configuration {
            Configuration(
                executable: python,
                arguments: [
                    "-m", "llama_cpp.server", "--model", modelPath, "--host", "127.0.0.1", "--port", "{port}",
                    "--interrupt_requests", "False", "--n_threads", "1", "--n_threads_batch", "1",
                ],
                port: port
            )
        }

        /// Compadre's embedded speech server (`scripts/speech-server.py`: Whisper tiny.en and Piper's `joe`
        /// voice) with its models in `models`, run by `python`; it dies with its parent.
        public static func speechServer(python: String, script: String, models: String, engines: [String], port: Int) -> Configuration {
            var configuration = Configuration(
                executable: python,
                arguments: [
                    script, "--host", "127.0.0.1", "--port", "{port}", "--models", models, "--engines", engines.joined(separator: ","),
                    "--exit-with-parent",
                ],
                port: port
            )
            configuration.readinessPath = "/healthz"
            configuration.readinessTimeout = .seconds(60)
            return configuration
        }
    }

    public let configuration: Configuration
    private let httpClient: HTTPClient
    private let logger: Logger
    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    private let readiness = ReadinessSignal()
    private let child = ChildBox()

    enum Event: Sendable {
        case ready(generation: Int)
        case exited(generation: Int, status: Int32)
        case restartDue
        case shutdown
    }

    public init(configuration: Configuration, httpClient: HTTPClient, logger: Logger) {
        self.configuration = configuration
        self.httpClient = httpClient
        self.logger = logger
        (events, eventSink) = AsyncStream.makeStream()
    }

    /// The OpenAI-compatible API root of the child.
    public var baseURL: String { "http://127.0.0.1:\(configuration.port)/v1" }

    /// The process id of the running child, if any (for tests and diagnostics).
    public var childProcessID: Int32? { child.current?.processIdentifier }

    /// Returns once a child answers, or throws after `timeout`.
    public func waitUntilReady(timeout: Duration) async throws {
        try await readiness.wait(timeout: timeout)
    }

    public func run() async throws {
        var machine = SupervisorStateMachine(
            initialBackoff: configuration.initialBackoff, maximumBackoff: configuration.maximumBackoff
        )
        var generation = 0
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var action = machine.start()
                var iterator = events.makeAsyncIterator()
                while true {
                    switch action {
                    case .spawn:
                        generation += 1
                        do {
                            try spawn(generation: generation, group: &group)
                        } catch {
                            logger.error("could not start the local model server", metadata: ["error": "\(error)"])
                            eventSink.yield(.exited(generation: generation, status: -1))
                        }
                    case .restart(let delay):
                        logger.warning("local model server stopped; restarting", metadata: ["after": "\(delay)"])
                        readiness.reset()
                        group.addTask { [eventSink] in
                            try? await Task.sleep(for: delay)
                            eventSink.yield(.restartDue)
                        }
                    case .terminateChild:
                        terminateChild(group: &group)
                    case .finish:
                        group.cancelAll()
                        return
                    case .none:
                        break
                    }
                    guard let event = await iterator.next() else { return }
                    switch event {
                    case .ready(let from) where from == generation:
                        action = machine.childBecameReady()
                        if machine.isReady {
                            logger.info("local model server ready", metadata: ["url": "\(baseURL)"])
                            readiness.signal()
                        }
                    case .exited(let from, let status) where from == generation:
                        logger.info("local model server exited", metadata: ["status": "\(status)"])
                        child.current = nil
                        action = machine.childExited()
                    case .restartDue:
                        action = machine.restartDue()
                    case .shutdown:
                        action = machine.shutdown()
                    default:
                        action = .none
                    }
                }
            }
        } onGracefulShutdown: { [eventSink] in
            eventSink.yield(.shutdown)
        }
        readiness.reset()
        // Cancelled instead of shut down gracefully: the child must not outlive us either way.
        if let process = child.current, process.isRunning {
            process.terminate()
            let deadline = ContinuousClock.now + configuration.stopTimeout
            // This task is cancelled, so it cannot sleep; a task of its own waits for the child instead.
            await Task {
                while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            }.value
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }

    // MARK: - Child process

    private func spawn(generation: Int, group: inout ThrowingTaskGroup<Void, any Error>) throws {
        let process = Process()
        // The prelude asks the kernel to SIGTERM the child when its parent dies, then execs the
        // real program, so even `kill -9` of compadre leaves no orphan behind.
        let arguments = configuration.arguments.map { $0.replacingOccurrences(of: "{port}", with: "\(configuration.port)") }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.parentDeathPrelude, configuration.executable] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let sink = eventSink
        process.terminationHandler = { finished in
            sink.yield(.exited(generation: generation, status: finished.terminationStatus))
        }
        let lines = LineLogger(logger: logger)
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { lines.append(data) }
        }
        try process.run()
        child.current = process
        logger.info("started local model server", metadata: ["pid": "\(process.processIdentifier)", "port": "\(configuration.port)"])
        let url = "http://127.0.0.1:\(configuration.port)" + configuration.readinessPath
        let client = httpClient
        let timeout = configuration.readinessTimeout
        group.addTask { [eventSink] in
            let clock = ContinuousClock()
            let deadline = clock.now + timeout
            while clock.now < deadline, process.isRunning {
                if await Self.answers(url, client: client) {
                    eventSink.yield(.ready(generation: generation))
                    return
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
            if process.isRunning { process.terminate() }
        }
    }

    private func terminateChild(group: inout ThrowingTaskGroup<Void, any Error>) {
        guard let process = child.current, process.isRunning else {
            eventSink.yield(.exited(generation: -1, status: 0))
            eventSink.yield(.shutdown)
            return
        }
        process.terminate()
        let pid = process.processIdentifier
        let grace = configuration.stopTimeout
        group.addTask {
            try? await Task.sleep(for: grace)
            if process.isRunning { kill(pid, SIGKILL) }
        }
    }

    private static func answers(_ url: String, client: HTTPClient) async -> Bool {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        guard let response = try? await client.execute(request, timeout: .seconds(2)) else { return false }
        _ = try? await response.body.collect(upTo: 1 << 20)
        return response.status == .ok
    }

    /// `python3 -c PRELUDE PROGRAM ARGS…`: default signal handling, PR_SET_PDEATHSIG, then exec PROGRAM.
    static let parentDeathPrelude = """
        import ctypes, os, signal, sys
        # The server process ignores or blocks SIGTERM/SIGINT to handle them itself; a child would
        # inherit that and never stop. Restore the defaults before exec.
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
        except Exception:
            pass
        os.execv(sys.argv[1], sys.argv[1:])
        """
}

/// The current child, shared between the supervising task and accessors.
private final class ChildBox: @unchecked Sendable {
    private let lock = NSLock()
    private var process: Process?

    var current: Process? {
        get { lock.withLock { process } }
        set { lock.withLock { process = newValue } }
    }
}

/// Readiness of the current child, for callers that wait for it.
private final class ReadinessSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var isReady = false

    func signal() { lock.withLock { isReady = true } }
    func reset() { lock.withLock { isReady = false } }

    func wait(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !lock.withLock({ isReady }) {
            guard clock.now < deadline else { throw LocalModelServerError("the local model server was not ready within \(timeout)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// Splits the child's output into lines and logs each under the `llm` prefix.
private final class LineLogger: @unchecked Sendable {
    private let lock = NSLock()
    private var pending = Data()
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func append(_ data: Data) {
        let lines: [String] = lock.withLock {
            pending.append(data)
            var lines: [String] = []
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                pending.removeSubrange(pending.startIndex...newline)
            }
            return lines
        }
        // The runtime's own chatter (tensor lists, graph statistics) is for debugging; its errors are not.
        for line in lines where !line.isEmpty {
            let lowered = line.lowercased()
            if lowered.contains("error") || lowered.contains("traceback") || lowered.contains("exception") {
                logger.error("llm | \(line)")
            } else {
                logger.debug("llm | \(line)")
            }
        }
    }
}

public struct LocalModelServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A free TCP port on 127.0.0.1, found by binding port 0.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw LocalModelServerError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else { throw LocalModelServerError("bind() failed") }
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw LocalModelServerError("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
