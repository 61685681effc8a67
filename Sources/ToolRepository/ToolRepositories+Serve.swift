import Foundation
import Logging
import Subprocess

extension ToolRepositories {
    /// Serves one request of git's smart HTTP protocol (v0 and v2, fetch and push) for the
    /// organization's repository through `git http-backend`, creating the repository on first use.
    /// The clone URL is `…/v1/{organization}/tool/git`; `request.path` is what git appends to it.
    ///
    /// Returns once http-backend has written its header block; the body streams from it afterwards
    /// (see ``GitHTTPResponse``), and the request body is read while the backend consumes it.
    /// The caller authenticates and authorizes first: every request reaching this function may read and
    /// push. `remoteUser` (the authenticated user's id) becomes `REMOTE_USER`, and so the committer of
    /// the reflog entries a push writes.
    ///
    /// Throws ``ToolRepositoryError/invalidOrganization`` or ``ToolRepositoryError/invalidPath`` (a
    /// path with `..`, say) before starting git, and ``ToolRepositoryError/gitFailed`` if the backend
    /// ends without answering. Unknown paths and methods are answered by http-backend (404, 405).
    public func serve(organization: String, request: GitHTTPRequest, remoteUser: String) async throws -> GitHTTPResponse {
        let organization = try Names.organization(organization)
        let gitPath = try Names.gitPath(request.path)
        try await prepare(organization: organization)
        let environment = cgiEnvironment(
            organization: organization, gitPath: gitPath, request: request, remoteUser: remoteUser
        )

        var logger = self.logger
        logger[metadataKey: "org_id"] = "\(organization)"
        logger[metadataKey: "git_path"] = "\(gitPath)"
        let git = self.git
        let start = ContinuousClock.now
        let (heads, head) = AsyncThrowingStream<CGIResponseHead, any Error>.makeStream()
        let body = ByteChunkChannel(limit: 256 * 1024)
        let producer = Task {
            do {
                let run = try await git.runHTTPBackend(
                    environment: environment,
                    requestBody: request.body,
                    logger: logger,
                    onHead: { head.yield($0) },
                    responseBody: body
                )
                guard run.answered else {
                    throw ToolRepositoryError.gitFailed("git http-backend ended without answering (\(run.status))")
                }
                logger.debug(
                    "Served git request",
                    metadata: [
                        "method": "\(request.method)", "exit": "\(run.status)",
                        "duration": "\(ContinuousClock.now - start)",
                        "request_bytes": "\(run.requestBytes)", "response_bytes": "\(run.responseBytes)",
                    ]
                )
                if case .signaled(let signal) = run.status {
                    throw ToolRepositoryError.gitFailed("git http-backend was killed by signal \(signal)")
                }
                head.finish()
                body.finish()
            } catch {
                if !(error is CancellationError) {
                    logger.warning("Git request failed", metadata: ["error": "\(error)"])
                }
                head.finish(throwing: error)
                body.finish(throwing: error)
            }
        }

        let answer: CGIResponseHead
        do {
            answer = try await withTaskCancellationHandler {
                var iterator = heads.makeAsyncIterator()
                guard let answer = try await iterator.next() else { throw CancellationError() }
                return answer
            } onCancel: {
                producer.cancel()
            }
        } catch {
            producer.cancel()
            throw error
        }
        let reader = ResponseBodyReader(channel: body, producer: producer)
        return GitHTTPResponse(
            status: answer.status,
            headers: answer.headers,
            body: AsyncThrowingStream(unfolding: { try await reader.next() })
        )
    }

    /// The CGI/1.1 variables http-backend reads (see `man git-http-backend`).
    func cgiEnvironment(
        organization: String, gitPath: String, request: GitHTTPRequest, remoteUser: String
    ) -> [Environment.Key: String] {
        var environment = git.environment
        environment["GATEWAY_INTERFACE"] = "CGI/1.1"
        environment["SERVER_PROTOCOL"] = "HTTP/1.1"
        environment["GIT_PROJECT_ROOT"] = root.path
        environment["GIT_HTTP_EXPORT_ALL"] = "1"
        environment["REQUEST_METHOD"] = request.method.uppercased()
        environment["PATH_INFO"] = "/\(organization).git/\(gitPath)"
        environment["QUERY_STRING"] = request.query
        let user = Self.printable(remoteUser)
        environment["REMOTE_USER"] = user.isEmpty ? "anonymous" : user
        if let address = request.remoteAddress { environment["REMOTE_ADDR"] = Self.printable(address) }
        if let type = request.header("Content-Type") { environment["CONTENT_TYPE"] = type }
        // A body sent chunked has no length; http-backend then reads to the end of its input.
        if let length = request.header("Content-Length"), let value = Int(length), value >= 0,
            request.header("Transfer-Encoding") == nil
        {
            environment["CONTENT_LENGTH"] = String(value)
        }
        if let encoding = request.header("Content-Encoding") { environment["HTTP_CONTENT_ENCODING"] = encoding }
        // Protocol v2 is negotiated through this header; http-backend copies HTTP_GIT_PROTOCOL into
        // GIT_PROTOCOL, which upload-pack reads. Setting both also works with older backends.
        if let protocolVersion = request.header("Git-Protocol") {
            environment["GIT_PROTOCOL"] = protocolVersion
            environment["HTTP_GIT_PROTOCOL"] = protocolVersion
        }
        return environment.mapValues { $0.filter { $0 != "\0" } }
    }

    private static func printable(_ value: String) -> String {
        String(value.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
    }
}

/// The consuming end of a response body: reading it pulls chunks from the channel; cancelling the
/// reading task, or dropping the body before its end, kills the backend.
private final class ResponseBodyReader: Sendable {
    let channel: ByteChunkChannel
    let producer: Task<Void, Never>

    init(channel: ByteChunkChannel, producer: Task<Void, Never>) {
        self.channel = channel
        self.producer = producer
    }

    func next() async throws -> [UInt8]? {
        do {
            return try await channel.next()
        } catch {
            producer.cancel()
            throw error
        }
    }

    deinit {
        channel.cancel()
        producer.cancel()
    }
}
