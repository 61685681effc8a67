import Crypto
import Foundation

/// Seals secret environment variables of tools (AES-GCM) so the database holds only ciphertext.
///
/// The key never lives in the database: it comes from `COMPADRE_SECRETS_KEY` (base64 of 32 bytes; every
/// replica of a scale-out deployment needs the same one) or from a key file created on first start.
public struct ToolSecrets: Sendable {
    private let key: SymmetricKey

    public init(key: SymmetricKey) { self.key = key }

    /// A key from base64 text; `nil` unless it decodes to 32 bytes.
    public init?(base64: String) {
        guard let data = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
            return nil
        }
        self.init(key: SymmetricKey(data: data))
    }

    /// The key in `file`, created (mode 0600) with a random key when the file does not exist.
    public static func loadOrCreate(file: URL) throws -> ToolSecrets {
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            guard let secrets = ToolSecrets(base64: text) else {
                throw ToolSecretsError(message: "\(file.path) does not hold a base64 key of 32 bytes.")
            }
            return secrets
        }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let key = SymmetricKey(size: .bits256)
        let text = key.withUnsafeBytes { Data($0).base64EncodedString() }
        guard FileManager.default.createFile(atPath: file.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ToolSecretsError(message: "Cannot create the secrets key file \(file.path).")
        }
        return ToolSecrets(key: key)
    }

    /// `v1:` + base64 of the AES-GCM combined box (nonce, ciphertext, tag).
    public func seal(_ value: String) throws -> String {
        let box = try AES.GCM.seal(Data(value.utf8), using: key)
        guard let combined = box.combined else { throw ToolSecretsError(message: "Sealing failed.") }
        return "v1:" + combined.base64EncodedString()
    }

    public func open(_ sealed: String) throws -> String {
        guard sealed.hasPrefix("v1:"), let data = Data(base64Encoded: String(sealed.dropFirst(3))) else {
            throw ToolSecretsError(message: "A stored secret is not in a known format.")
        }
        do {
            let plain = try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key)
            return String(decoding: plain, as: UTF8.self)
        } catch {
            throw ToolSecretsError(message: "A stored secret cannot be opened with this key (was COMPADRE_SECRETS_KEY changed?).")
        }
    }
}

public struct ToolSecretsError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
