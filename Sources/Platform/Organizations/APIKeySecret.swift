import Crypto
import Foundation

/// API key secrets: 32 random bytes, URL-safe base64, stored only as a SHA-256 hash.
public enum APIKeySecret {
    /// A new secret. It never starts with `-`, which command lines would read as an option.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        while true {
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let secret = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            if !secret.hasPrefix("-") { return secret }
        }
    }

    /// What is stored of a secret: its SHA-256 digest in hex.
    public static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
