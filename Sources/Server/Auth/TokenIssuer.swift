import Crypto
import Foundation
import JWTKit
import Platform

/// The claims of a Compadre access token: who the user is and which organization issued it.
struct AccessTokenClaims: JWTPayload {
    var sub: SubjectClaim
    var org: String
    var iss: IssuerClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        guard iss.value == TokenIssuer.issuer else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "unknown issuer") }
    }
}

/// Signs and verifies access tokens (HS256 with the installation's secret).
public struct TokenIssuer: Sendable {
    static let issuer = "compadre"
    private let keys: JWTKeyCollection
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
    public func issue(userID: String, orgID: String, now: Date = Date(), lifetime: TimeInterval? = nil) async throws -> (token: String, expiresAt: Date) {
        let expiresAt = now.addingTimeInterval(lifetime ?? self.lifetime)
        let claims = AccessTokenClaims(
            sub: SubjectClaim(value: userID), org: orgID, iss: IssuerClaim(value: Self.issuer),
            iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: expiresAt)
        )
        return (try await keys.sign(claims), expiresAt)
    }

    /// The user and organization of a valid token, or nil for an expired, malformed or tampered one.
    public func verify(_ token: String) async -> (userID: String, orgID: String)? {
        guard let claims = try? await keys.verify(token, as: AccessTokenClaims.self) else { return nil }
        return (claims.sub.value, claims.org)
    }
}
