import Foundation

/// Body of `POST /v1/{org}/organization/api_key/`.
public struct CreateAPIKeyRequest: Decodable, Sendable, ValidatableRequest {
    public var name: String?
    /// ISO 8601 duration as sent by pydantic (`P30D`, `PT3600S`).
    public var duration: String
    public var roleName: String

    enum CodingKeys: String, CodingKey {
        case name, duration
        case roleName = "role_name"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Required but nullable: the official SDK leaves out fields whose value is None, so absent means null.
        name = try c.decodeIfPresent(String.self, forKey: .name)
        duration = try c.decode(String.self, forKey: .duration)
        roleName = try c.decodeIfPresentNotNull(String.self, forKey: .roleName) ?? "DefaultAdministratorRole"
    }

    /// The parsed duration in seconds, if `duration` is a valid ISO 8601 duration.
    public var durationSeconds: Double? { ISODuration.seconds(duration) }

    public func validate(into c: inout ValidationCollector) {
        if let name { c.nonEmpty(name, at: ["name"]) }
        guard let seconds = durationSeconds else {
            c.add(["duration"], "Input should be a valid ISO 8601 duration", type: "time_delta_parsing")
            return
        }
        if seconds < 86_400 || seconds > 90 * 86_400 {
            c.add(["duration"], "Duration should be between 1 and 90 days", type: "value_error")
        }
    }
}

/// Parses ISO 8601 durations (`P1M`, `P1W`, `P30D`, `PT1H30M`, `P1DT2H`, `PT86400S`).
public enum ISODuration {
    public static func seconds(_ text: String) -> Double? {
        var s = Substring(text)
        guard s.first == "P" else { return nil }
        s = s.dropFirst()
        var total = 0.0
        var inTime = false
        var number = ""
        var sawComponent = false
        for ch in s {
            if ch == "T" {
                guard number.isEmpty, !inTime else { return nil }
                inTime = true
                continue
            }
            if ch.isNumber || ch == "." {
                number.append(ch)
                continue
            }
            guard let value = Double(number) else { return nil }
            number = ""
            sawComponent = true
            switch (ch, inTime) {
            // Pydantic reads a month as 30 days and a year as 365.
            case ("Y", false): total += value * 31_536_000
            case ("M", false): total += value * 2_592_000
            case ("W", false): total += value * 604_800
            case ("D", false): total += value * 86_400
            case ("H", true): total += value * 3_600
            case ("M", true): total += value * 60
            case ("S", true): total += value
            default: return nil
            }
        }
        return number.isEmpty && sawComponent ? total : nil
    }
}

/// Response of `POST /v1/{org}/organization/api_key/`: the secret is shown here and never again.
public struct CreateAPIKeyResponse: Codable, Sendable, Hashable {
    public var apiKeyID: String
    public var apiKey: String
    public var expiresAt: Date
    public init(apiKeyID: String, apiKey: String, expiresAt: Date) {
        self.apiKeyID = apiKeyID
        self.apiKey = apiKey
        self.expiresAt = expiresAt
    }
    enum CodingKeys: String, CodingKey {
        case apiKeyID = "api_key_id"
        case apiKey = "api_key"
        case expiresAt = "expires_at"
    }
}

/// An API key as listed by `GET /v1/{org}/organization/api_key/` (never with its secret).
public struct APIKeyInstance: Codable, Sendable, Hashable {
    public var id: String
    public var name: String?
    public var orgID: String
    public var createdAt: Date
    public var updatedAt: Date
    public var keyID: String
    public var expiresAt: Date
    public var creator: UserInfo
    public var roleID: String

    public init(id: String, name: String?, orgID: String, createdAt: Date, updatedAt: Date, keyID: String, expiresAt: Date, creator: UserInfo, roleID: String) {
        self.id = id
        self.name = name
        self.orgID = orgID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.keyID = keyID
        self.expiresAt = expiresAt
        self.creator = creator
        self.roleID = roleID
    }

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case name
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case keyID = "key_id"
        case expiresAt = "expires_at"
        case creator
        case roleID = "role_id"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(keyID, forKey: .keyID)
        try c.encode(expiresAt, forKey: .expiresAt)
        try c.encode(creator, forKey: .creator)
        try c.encode(roleID, forKey: .roleID)
    }
}

public struct GetAPIKeysResponse: Codable, Sendable {
    public var apiKeys: [APIKeyInstance]
    public init(apiKeys: [APIKeyInstance]) { self.apiKeys = apiKeys }
    enum CodingKeys: String, CodingKey { case apiKeys = "api_keys" }
}

public struct DeleteAPIKeyResponse: Codable, Sendable {
    public var deletedKeyID: String
    public init(deletedKeyID: String) { self.deletedKeyID = deletedKeyID }
    enum CodingKeys: String, CodingKey { case deletedKeyID = "deleted_key_id" }
}

/// Response of `POST /v1/{org}/user/signin_with_api_key`.
public struct SignInResponse: Codable, Sendable {
    public var idToken: String
    public var expiresAt: Date
    public init(idToken: String, expiresAt: Date) {
        self.idToken = idToken
        self.expiresAt = expiresAt
    }
    enum CodingKeys: String, CodingKey {
        case idToken = "id_token"
        case expiresAt = "expires_at"
    }
}
