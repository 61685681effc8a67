import Foundation
import InMemoryLogging
import Logging
import Subprocess
import Testing
import ToolRepository

/// ``ToolRepositories/serve(organization:request:remoteUser:)`` called directly, with requests as a
/// git client sends them.
@Suite("Serving git requests")
struct ServeTests {
    @Test func theAdvertisementOfProtocolV0ListsMain() async throws {
        try await withTemporaryDirectory { directory in
            let repositories = makeRepositories(in: directory)

            let response = try await repositories.serve(
                organization: "org-1",
                request: GitHTTPRequest(method: "GET", path: "info/refs", query: "service=git-upload-pack"),
                remoteUser: "user-1"
            )
            let body = try await String(decoding: response.collect(), as: UTF8.self)

            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/x-git-upload-pack-advertisement")
            #expect(response.header("Cache-Control")?.contains("no-cache") == true)
            #expect(body.hasPrefix("001e# service=git-upload-pack\n0000"))
            #expect(body.contains("refs/heads/main"))
        }
    }

    @Test func theGitProtocolHeaderSelectsProtocolV2() async throws {
        try await withTemporaryDirectory { directory in
            let repositories = makeRepositories(in: directory)

            let response = try await repositories.serve(
                organization: "org-1",
                request: GitHTTPRequest(
                    method: "GET", path: "/info/refs", query: "service=git-upload-pack",
                    headers: [GitHTTPHeader(name: "Git-Protocol", value: "version=2")]
                ),
                remoteUser: "user-1"
            )
            let body = try await String(decoding: response.collect(), as: UTF8.self)

            #expect(response.status == 200)
            #expect(body.contains("000eversion 2\n"))
            #expect(body.contains("ls-refs"))
        }
    }

    @Test func aGzippedFetchRequestIsInflatedByTheBackend() async throws {
        try await withTemporaryDirectory { directory in
            let repositories = makeRepositories(in: directory)
            let main = try #require(try await repositories.commit(organization: "org-1", branch: "main"))
            let request = Array("0032want \(main)\n00000009done\n".utf8)
            let gzipped = try await Subprocess.run(
                .name("gzip"), arguments: ["-c"], input: .array(request), output: .bytes(limit: 1 << 20)
            ).standardOutput

            let response = try await repositories.serve(
                organization: "org-1",
                request: GitHTTPRequest(
                    method: "POST", path: "git-upload-pack",
                    headers: [
                        GitHTTPHeader(name: "Content-Type", value: "application/x-git-upload-pack-request"),
                        GitHTTPHeader(name: "Content-Encoding", value: "gzip"),
                        GitHTTPHeader(name: "Content-Length", value: "\(gzipped.count)"),
                    ],
                    // As the server's route adapts its body: a map over a sequence of buffers.
                    body: chunks(of: gzipped, size: 7).map { Array($0) }
                ),
                remoteUser: "user-1"
            )
            let body = try await response.collect()

            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/x-git-upload-pack-result")
            #expect(body.starts(with: Array("0008NAK\nPACK".utf8)))
        }
    }

    @Test func anUnknownGitPathIsNotFoundAndHTTPBackendsComplaintIsLogged() async throws {
        try await withTemporaryDirectory { directory in
            let logs = InMemoryLogHandler()
            let repositories = ToolRepositories(
                root: directory.appendingPathComponent("repos"), logger: Logger(label: "test") { _ in logs }
            )

            let response = try await repositories.serve(
                organization: "org-1",
                request: GitHTTPRequest(method: "GET", path: "config"),
                remoteUser: "user-1"
            )
            _ = try await response.collect()

            #expect(response.status == 404)
            let warning = try #require(logs.entries.first { $0.level == .warning })
            #expect(warning.message.description.contains("Request not supported"))
            #expect(warning.metadata["org_id"] == "org-1")
        }
    }

    @Test(arguments: [
        "..", "../org-2.git/info/refs", "info/../../org-2.git/info/refs", "objects/../../../etc/passwd",
        "info/./refs", "info//refs", "info\\..\\refs", "info/refs\n", "",
    ])
    func aGitPathLeavingTheRepositoryIsRefused(_ path: String) async throws {
        try await withTemporaryDirectory { directory in
            let repositories = makeRepositories(in: directory)

            await #expect(throws: ToolRepositoryError.invalidPath) {
                try await repositories.serve(
                    organization: "org-1",
                    request: GitHTTPRequest(method: "GET", path: path, query: "service=git-upload-pack"),
                    remoteUser: "user-1"
                )
            }
        }
    }

    @Test(arguments: [ResponseAbandonment.cancelReading, .dropResponse])
    func anAbandonedPushKillsTheBackend(_ abandonment: ResponseAbandonment) async throws {
        try await withTemporaryDirectory { directory in
            let repositories = makeRepositories(in: directory)
            let repository = try await repositories.prepare(organization: "org-1")
            // A push whose body never ends: receive-pack waits for the rest of its commands.
            let (body, bodyWriter) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
            defer { bodyWriter.finish() }
            bodyWriter.yield(Array("00".utf8))

            var response: GitHTTPResponse? = try await repositories.serve(
                organization: "org-1",
                request: GitHTTPRequest(
                    method: "POST", path: "git-receive-pack",
                    headers: [GitHTTPHeader(name: "Content-Type", value: "application/x-git-receive-pack-request")],
                    body: body
                ),
                remoteUser: "user-1"
            )
            #expect(response?.status == 200)
            #expect(try await waitUntil { !processes(in: repository).isEmpty })

            switch abandonment {
            case .cancelReading:
                let reading = Task { [body = response!.body] in
                    for try await _ in body {}
                }
                response = nil
                try await Task.sleep(for: .milliseconds(100))
                reading.cancel()
                _ = await reading.result
            case .dropResponse:
                response = nil
            }

            #expect(try await waitUntil { processes(in: repository).isEmpty })
        }
    }

    enum ResponseAbandonment: Sendable, CustomTestStringConvertible {
        case cancelReading, dropResponse
        var testDescription: String { self == .cancelReading ? "cancel the reading task" : "drop the response" }
    }
}

extension GitHTTPResponse {
    /// The whole body (tests only: the server streams it).
    func collect() async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await chunk in body { bytes += chunk }
        return bytes
    }
}

/// `bytes` as a request body in chunks of `size`.
func chunks(of bytes: [UInt8], size: Int) -> AsyncThrowingStream<ArraySlice<UInt8>, any Error> {
    AsyncThrowingStream { continuation in
        for start in stride(from: 0, to: bytes.count, by: size) {
            continuation.yield(bytes[start..<min(start + size, bytes.count)])
        }
        continuation.finish()
    }
}

/// The processes whose working directory is `directory` (Linux: read from /proc).
func processes(in directory: URL) -> [Int32] {
    let target = directory.resolvingSymlinksInPath().path
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry in
        guard let pid = Int32(entry),
            let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/cwd"),
            cwd == target || cwd.hasPrefix(target + "/")
        else { return nil }
        return pid
    }
}

/// Polls `condition` every 20 ms for up to 5 s.
func waitUntil(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<250 {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
