import Crypto
import Foundation

/// Links that grant access to one resource until they expire, without credentials: the URL carries
/// its expiry and an HMAC-SHA256 of path and expiry (the message-source audio; later the simulation
/// artifacts). Anyone holding the link may fetch the resource until then, as with a presigned URL.
///
/// Rules:
/// - The key is derived from the server's token secret, so every replica signs and checks alike and a
///   new secret voids every link.
/// - A link is good while `now` is before its expiry; a changed path, expiry or signature is refused.
public struct SignedLinks: Sendable {
    private let key: SymmetricKey

    public init(secret: String) {
        key = SymmetricKey(data: SHA256.hash(data: Data(("compadre signed links|" + secret).utf8)))
    }

    /// The query (`expires=…&signature=…`) that grants `path` until `expires`.
    public func query(path: String, expires: Date) -> String {
        let seconds = Int(expires.timeIntervalSince1970.rounded(.down))
        return "expires=\(seconds)&signature=\(signature(path: path, expires: seconds))"
    }

    /// Whether `expires` and `signature` grant `path` at `now`.
    public func allows(path: String, expires: String?, signature: String?, now: Date) -> Bool {
        guard let expires, let seconds = Int(expires), let signature, Double(seconds) > now.timeIntervalSince1970 else { return false }
        let expected = self.signature(path: path, expires: seconds)
        // Compared in constant time.
        return expected.utf8.count == signature.utf8.count
            && zip(expected.utf8, signature.utf8).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    private func signature(path: String, expires: Int) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(path)|\(expires)".utf8), using: key)
        return mac.map { String(format: "%02x", $0) }.joined()
    }
}
