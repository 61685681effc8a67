import Logging
import Subprocess

extension Git {
    /// What one run of http-backend did, for the request's log line.
    struct HTTPBackendRun: Sendable {
        var answered: Bool
        var requestBytes: Int
        var responseBytes: Int
        var status: TerminationStatus
    }

    /// Runs `git http-backend` in a process group of its own with the CGI `environment`: writes
    /// `requestBody` to its standard input while it reads, hands its header block to `onHead`, then
    /// sends the rest of its standard output through `responseBody`, and logs its standard error.
    ///
    /// Returns when the process group has exited. If the calling task is cancelled, the request body
    /// fails, or `responseBody`'s consumer goes away, the whole group (http-backend and the
    /// upload-pack or receive-pack it started) is killed and the error is thrown.
    func runHTTPBackend(
        environment: [Environment.Key: String],
        requestBody: any AsyncSequence<[UInt8], any Error> & Sendable,
        logger: Logger,
        onHead: (CGIResponseHead) -> Void,
        responseBody: ByteChunkChannel
    ) async throws -> HTTPBackendRun {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .seconds(1))]

        let result = try await Subprocess.run(
            .name(name),
            arguments: ["http-backend"],
            environment: .custom(environment),
            platformOptions: options,
            input: .inputWriter,
            output: .sequence,
            error: .sequence
        ) { execution in
            try await withThrowingTaskGroup(of: Void.self, returning: HTTPBackendRun.self) { logging in
                logging.addTask {
                    for try await line in execution.standardError.strings() where !line.isEmpty {
                        logger.warning("git http-backend: \(line)")
                    }
                }
                let writer = execution.standardInputWriter
                let run = try await withThrowingTaskGroup(of: Int.self, returning: HTTPBackendRun.self) { feeding in
                    feeding.addTask {
                        try await Self.feed(requestBody, to: writer)
                    }
                    var parser = CGIResponseHead.Parser()
                    var answered = false
                    var responseBytes = 0
                    for try await buffer in execution.standardOutput {
                        var bytes = buffer.withUnsafeBytes { Array($0) }
                        if !answered {
                            guard let (head, body) = try parser.consume(bytes) else { continue }
                            onHead(head)
                            answered = true
                            bytes = body
                        }
                        responseBytes += bytes.count
                        try await responseBody.send(bytes)
                    }
                    // Standard output is closed: the backend and its children are done with the request,
                    // whatever part of the body is still to come.
                    feeding.cancelAll()
                    var requestBytes = 0
                    while let count = try await feeding.next() { requestBytes += count }
                    return HTTPBackendRun(
                        answered: answered, requestBytes: requestBytes, responseBytes: responseBytes, status: .exited(0)
                    )
                }
                try await logging.waitForAll()
                return run
            }
        }
        var run = result.closureResult
        run.status = result.terminationStatus
        return run
    }

    /// Writes `body` to the backend's standard input and closes it; returns the number of bytes read.
    /// If the backend stops reading (it answered without needing the rest), the rest is read and
    /// dropped. A failing body is rethrown after closing standard input; cancellation (the backend has
    /// answered) ends the copy quietly.
    private static func feed(
        _ body: any AsyncSequence<[UInt8], any Error> & Sendable,
        to writer: StandardInputWriter
    ) async throws -> Int {
        var count = 0
        var backendReads = true
        do {
            for try await chunk in body {
                count += chunk.count
                guard backendReads, !chunk.isEmpty else { continue }
                do {
                    _ = try await writer.write(chunk)
                } catch {
                    backendReads = false
                    try? await writer.finish()
                }
            }
        } catch {
            try? await writer.finish()
            if Task.isCancelled { return count }
            throw error
        }
        try? await writer.finish()
        return count
    }
}
