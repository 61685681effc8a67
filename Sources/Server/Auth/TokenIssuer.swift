import Crypto
import Foundation
import JWTKit
import Platform
import Synchronization

/// The claims of a Compadre access token: who the user is and which organization issued it.
struct AccessTokenClaims: JWTPayload {
    var sub: SubjectClaim
    var org: String
    var iss: IssuerClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    /// The API key the token was signed in with: deleting the key ends the token.
    var key: String?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        guard iss.value == TokenIssuer.issuer else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "unknown issuer") }
    }
}

/// What a valid token says: who, in which organization, signed in with which API key.
public struct VerifiedToken: Sendable {
    public var userID: String
    public var orgID: String
    public var apiKeyID: String?
    var expiresAt: Date
}

/// Signs and verifies access tokens (HS256 with the installation's secret).
///
/// A token is immutable, so a verified one is remembered until it expires (up to `cacheCapacity`
/// tokens, then the memory starts over): a request with a token seen before skips the signature check.
/// Revocation is not the token's business: the caller's user and API key are looked up on every
/// request (``Principals``).
public struct TokenIssuer: Sendable {
    static let issuer = "compadre"
    static let cacheCapacity = 10_000
    private let keys: JWTKeyCollection
    private let verified = VerifiedTokens()
    /// How long a token stays valid; the SDKs re-sign five minutes before expiry.
    public let lifetime: TimeInterval

    /// Secrets shorter than HS256's 32 bytes are stretched with SHA-256 so any configured secret is usable.
    public init(secret: String, lifetime: TimeInterval = 3600) async {
        keys = JWTKeyCollection()
        let material = secret.utf8.count >= 32 ? secret : SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
        await keys.add(hmac: HMACKey(from: material), digestAlgorithm: .sha256)
        self.lifetime = lifetime
    }

    /// A token for `userID` of `orgID`, valid from `now` for `lifetime`.
    public func issue(
        userID: String, orgID: String, apiKeyID: String? = nil, now: Date = Date(), lifetime: TimeInterval? = nil
    ) async throws -> (token: String, expiresAt: Date) {
        let expiresAt = now.addingTimeInterval(lifetime ?? self.lifetime)
        let claims = AccessTokenClaims(
            sub: SubjectClaim(value: userID), org: orgID, iss: IssuerClaim(value: Self.issuer),
            iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: expiresAt), key: apiKeyID
        )
        return (try await keys.sign(claims), expiresAt)
    }

    /// What a valid token says, or nil for an expired, malformed or tampered one.
    public func verify(_ token: String, now: Date = Date()) async -> VerifiedToken? {
        if let known = verified.lookup(token) {
            return known.expiresAt > now ? known : nil
        }
        guard let claims = try? await keys.verify(token, as: AccessTokenClaims.self) else { return nil }
        let result = VerifiedToken(userID: claims.sub.value, orgID: claims.org, apiKeyID: claims.key, expiresAt: claims.exp.value)
        verified.remember(token, result, capacity: Self.cacheCapacity)
        return result
    }
}

/// The tokens whose signature has been checked, until they expire.
private final class VerifiedTokens: Sendable {
    private let tokens = Mutex<[String: VerifiedToken]>([:])

    func lookup(_ token: String) -> VerifiedToken? {
        tokens.withLock { $0[token] }
    }

    func remember(_ token: String, _ verified: VerifiedToken, capacity: Int) {
        tokens.withLock { tokens in
            if tokens.count >= capacity { tokens.removeAll(keepingCapacity: true) }
            tokens[token] = verified
        }
    }
}
