import Foundation
import Synchronization
import ToolRepository

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Just enough HTTP/1.1 on 127.0.0.1 for a real `git` client to clone from and push to
/// ``ToolRepositories/serve(organization:request:remoteUser:)`` the way the server's route will:
/// `/v1/{org}/tool/git/{git_path}`, request bodies with `Content-Length` or chunked, streamed into
/// `serve` while they arrive, responses streamed back without a length and `Connection: close`.
/// A thread per connection; nothing else (no keep-alive, no TLS, no authentication).
final class LoopbackGitServer: Sendable {
    struct Exchange: Sendable {
        var method: String
        var target: String
        var gitProtocol: String?
        var contentEncoding: String?
        var chunked: Bool
        var status: Int
    }

    let port: Int
    private let listener: Int32
    private let repositories: ToolRepositories
    private let remoteUser: String
    private let log = Mutex<[Exchange]>([])

    init(repositories: ToolRepositories, remoteUser: String = "user-1") throws {
        self.repositories = repositories
        self.remoteUser = remoteUser
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, length) == 0 && listen(fd, 64) == 0
                    && getsockname(fd, socketAddress, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// What git clones: `http://127.0.0.1:PORT/v1/{organization}/tool/git`.
    func cloneURL(_ organization: String) -> String {
        "http://127.0.0.1:\(port)/v1/\(organization)/tool/git"
    }

    /// The requests served so far.
    var exchanges: [Exchange] { log.withLock { $0 } }

    /// Stops accepting connections; connections in progress finish.
    func shutdown() {
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else {
                if errno == EINTR { continue }
                return
            }
            let thread = Thread { [self] in handle(connection) }
            thread.start()
        }
    }

    private func handle(_ fd: Int32) {
        defer { close(fd) }
        let reader = SocketReader(fd: fd)
        guard let requestLine = reader.line() else { return }
        let parts = requestLine.split(separator: " ")
        guard parts.count == 3 else { return }
        let method = String(parts[0]), target = String(parts[1])
        var headers: [GitHTTPHeader] = []
        while let line = reader.line(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return }
            headers.append(GitHTTPHeader(
                name: String(line[..<colon]),
                value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            ))
        }
        func header(_ name: String) -> String? {
            headers.first(where: { $0.name.lowercased() == name.lowercased() })?.value
        }
        if header("Expect")?.lowercased() == "100-continue" {
            write(fd, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
        let chunked = header("Transfer-Encoding")?.lowercased().contains("chunked") ?? false
        let (body, bodyWriter) = AsyncThrowingStream<[UInt8], any Error>.makeStream()

        let (pathPart, query) = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            .map(String.init).splitFirst
        let prefix = pathPart.split(separator: "/", maxSplits: 4, omittingEmptySubsequences: false)
        // "", "v1", org, "tool", "git/<git_path>"
        let routed = prefix.count == 5 && prefix[1] == "v1" && prefix[3] == "tool"
            && (prefix[4] == "git" || prefix[4].hasPrefix("git/"))
        let organization = routed ? String(prefix[2]) : ""
        let gitPath = routed ? String(prefix[4].dropFirst(3)) : ""

        let done = DispatchSemaphore(value: 0)
        let exchange = Exchange(
            method: method, target: target, gitProtocol: header("Git-Protocol"),
            contentEncoding: header("Content-Encoding"), chunked: chunked, status: 0
        )
        Task { [self, headers] in
            defer { done.signal() }
            var exchange = exchange
            do {
                guard routed else { throw ToolRepositoryError.invalidPath }
                let response = try await self.repositories.serve(
                    organization: organization,
                    request: GitHTTPRequest(
                        method: method, path: gitPath, query: query, headers: headers,
                        remoteAddress: "127.0.0.1", body: body
                    ),
                    remoteUser: self.remoteUser
                )
                exchange.status = response.status
                self.log.withLock { $0.append(exchange) }
                var head = "HTTP/1.1 \(response.status) \(response.status == 200 ? "OK" : "Status")\r\n"
                for field in response.headers { head += "\(field.name): \(field.value)\r\n" }
                head += "Connection: close\r\n\r\n"
                self.write(fd, Array(head.utf8))
                for try await chunk in response.body {
                    guard self.write(fd, chunk) else { break }
                }
            } catch {
                exchange.status = (error as? ToolRepositoryError).map { $0 == .gitFailed ? 500 : 404 } ?? 500
                self.log.withLock { $0.append(exchange) }
                self.write(fd, Array("HTTP/1.1 \(exchange.status) Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
            }
        }

        // The body streams into `serve` while the task above runs.
        do {
            if chunked {
                while let sizeLine = reader.line() {
                    guard let size = Int(sizeLine.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16)
                    else { throw POSIXError(.EINVAL) }
                    if size == 0 {
                        while let trailer = reader.line(), !trailer.isEmpty {}
                        break
                    }
                    guard let chunk = reader.bytes(size), reader.line() == "" else { throw POSIXError(.EPIPE) }
                    bodyWriter.yield(chunk)
                }
            } else if let length = header("Content-Length").flatMap({ Int($0) }) {
                var remaining = length
                while remaining > 0, let chunk = reader.available(max: min(remaining, 64 * 1024)) {
                    remaining -= chunk.count
                    bodyWriter.yield(chunk)
                }
                if remaining > 0 { throw POSIXError(.EPIPE) }
            }
            bodyWriter.finish()
        } catch {
            bodyWriter.finish(throwing: error)
        }
        done.wait()
    }

    @discardableResult
    private func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 {
                if written < 0, errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }
}

/// Buffered reads from a socket: lines (CRLF), exact byte counts, whatever is available.
private final class SocketReader {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0

    init(fd: Int32) {
        self.fd = fd
    }

    func line() -> String? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = String(decoding: buffer[start..<end], as: UTF8.self)
                start = newline + 1
                return line
            }
            guard fill() else { return nil }
        }
    }

    func bytes(_ count: Int) -> [UInt8]? {
        while buffer.count - start < count {
            guard fill() else { return nil }
        }
        defer { start += count }
        return Array(buffer[start..<start + count])
    }

    func available(max: Int) -> [UInt8]? {
        if buffer.count == start {
            guard fill() else { return nil }
        }
        let count = min(max, buffer.count - start)
        defer { start += count }
        return Array(buffer[start..<start + count])
    }

    private func fill() -> Bool {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return false }
            buffer.append(contentsOf: chunk[..<count])
            return true
        }
    }
}

extension Array where Element == String {
    fileprivate var splitFirst: (String, String) {
        (self.first ?? "", self.count > 1 ? self[1] : "")
    }
}
