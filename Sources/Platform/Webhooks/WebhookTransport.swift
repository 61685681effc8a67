import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// How a delivery reaches its destination: one POST, its status code, or an error when no answer came.
public protocol WebhookTransport: Sendable {
    func post(_ url: URL, headers: [(String, String)], body: Data, timeout: Duration) async throws -> Int
}

/// Which destinations may be reached, and how long an attempt may take.
///
/// By default a destination must be HTTPS and resolve only to public addresses: not loopback
/// (127.0.0.0/8, ::1), private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
/// fe80::/10), carrier-grade NAT (100.64/10), unspecified or multicast. An operator may allow plain
/// HTTP or private networks (`webhooks.allowPlainHttp`, `webhooks.allowPrivateNetworks`), as tests do.
public struct WebhookPolicy: Sendable {
    public var allowPlainHTTP = false
    public var allowPrivateNetworks = false
    /// How long one attempt may take, connecting included. Default 10 s.
    public var timeout: Duration = .seconds(10)

    public init() {}

    /// The URL's scheme and, when its host is an address (or `localhost`), the address.
    func check(_ url: URL) throws {
        let scheme = url.scheme?.lowercased()
        guard scheme == "https" || (allowPlainHTTP && scheme == "http") else {
            throw PlatformError.badRequest("A webhook destination's URL must be HTTPS.")
        }
        guard let host = url.host, !host.isEmpty else { throw PlatformError.badRequest("A webhook destination's URL needs a host.") }
        guard !allowPrivateNetworks else { return }
        if host.lowercased() == "localhost" || host.lowercased().hasSuffix(".localhost") || Self.isPrivate(literal: host) {
            throw PlatformError.badRequest("A webhook destination must not be a loopback, private or link-local address.")
        }
    }

    /// ``check(_:)``, then every address the host resolves to.
    func checkResolved(_ url: URL) async throws {
        try check(url)
        guard !allowPrivateNetworks, let host = url.host else { return }
        let addresses = await Self.resolve(host)
        if addresses.isEmpty { throw PlatformError.badRequest("The webhook destination's host `\(host)` does not resolve.") }
        if addresses.contains(where: { Self.isPrivate(literal: $0) }) {
            throw PlatformError.badRequest("The webhook destination's host resolves to a loopback, private or link-local address.")
        }
    }

    /// Whether `text`, an IPv4 or IPv6 address, is one no destination may use (not a public address).
    static func isPrivate(literal text: String) -> Bool {
        let host = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        // A zone (`fe80::1%eth0`) only ever names a link-local address.
        if host.contains("%") { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return isPrivate(v4: withUnsafeBytes(of: v4.s_addr) { Array($0) })
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let bytes = withUnsafeBytes(of: v6) { Array($0) }
            if bytes.allSatisfy({ $0 == 0 }) { return true }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
            // Addresses that carry an IPv4 address are judged by it: IPv4-mapped (::ffff:a.b.c.d),
            // IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::).
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff { return isPrivate(v4: Array(bytes[12...])) }
            if bytes[0..<12].allSatisfy({ $0 == 0 }) { return isPrivate(v4: Array(bytes[12...])) }
            if bytes[0..<12] == [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0] { return isPrivate(v4: Array(bytes[12...])) }
            if bytes[0] == 0x20 && bytes[1] == 0x02 { return isPrivate(v4: Array(bytes[2..<6])) }
            if bytes[0] & 0xfe == 0xfc { return true }
            if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 { return true }
            if bytes[0] == 0xff { return true }
            return false
        }
        return false
    }

    static func isPrivate(v4 b: [UInt8]) -> Bool {
        b[0] == 0 || b[0] == 10 || b[0] == 127 || (b[0] == 169 && b[1] == 254) || (b[0] == 172 && b[1] & 0xf0 == 16)
            || (b[0] == 192 && b[1] == 168) || (b[0] == 100 && b[1] & 0xc0 == 64) || b[0] >= 224
    }

    /// The addresses `host` resolves to (none when it does not), off the cooperative pool.
    static func resolve(_ host: String) async -> [String] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, nil, &hints, &result) == 0 else {
                    continuation.resume(returning: [])
                    return
                }
                defer { freeaddrinfo(result) }
                var addresses: [String] = []
                var cursor = result
                while let info = cursor {
                    var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                    if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                        addresses.append(String(cString: buffer))
                    }
                    cursor = info.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }
}

/// Deliveries over HTTP(S) with AsyncHTTPClient: redirects are not followed (a destination cannot send
/// a delivery on to an address the policy refuses), answers are read up to 64 KiB and dropped.
public struct HTTPWebhookTransport: WebhookTransport {
    public init() {}

    public func post(_ url: URL, headers: [(String, String)], body: Data, timeout: Duration) async throws -> Int {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await webhookHTTPClient.execute(request, timeout: .nanoseconds(Int64(timeout.timeInterval * 1e9)))
        _ = try? await response.body.collect(upTo: 64 << 10)
        return Int(response.status.code)
    }
}

/// One client for the process's deliveries, never shut down (it lives as long as the process).
private let webhookHTTPClient = HTTPClient(
    eventLoopGroup: HTTPClient.defaultEventLoopGroup,
    configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)))
)
