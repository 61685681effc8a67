import Foundation

/// A user's (or an organization's default) conversation preferences.
public struct Preferences: Codable, Sendable, Hashable {
    public var enableResponseRecommendation: Bool
    public var preferredLanguage: String?
    public var conversationsVisibleToAdmins: Bool
    public var userModelVisibleToAdmins: Bool
    public var timezone: String?
    public var audioKeyterms: [String]

    public init(
        enableResponseRecommendation: Bool = false, preferredLanguage: String? = nil,
        conversationsVisibleToAdmins: Bool = true, userModelVisibleToAdmins: Bool = true,
        timezone: String? = nil, audioKeyterms: [String] = []
    ) {
        self.enableResponseRecommendation = enableResponseRecommendation
        self.preferredLanguage = preferredLanguage
        self.conversationsVisibleToAdmins = conversationsVisibleToAdmins
        self.userModelVisibleToAdmins = userModelVisibleToAdmins
        self.timezone = timezone
        self.audioKeyterms = audioKeyterms
    }

    enum CodingKeys: String, CodingKey {
        case enableResponseRecommendation = "enable_response_recommendation"
        case preferredLanguage = "preferred_language"
        case conversationsVisibleToAdmins = "conversations_visible_to_admins"
        case userModelVisibleToAdmins = "user_model_visible_to_admins"
        case timezone
        case audioKeyterms = "audio_keyterms"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        enableResponseRecommendation = try c.decodeIfPresentNotNull(Bool.self, forKey: .enableResponseRecommendation) ?? false
        preferredLanguage = try c.decodeIfPresent(String.self, forKey: .preferredLanguage)
        conversationsVisibleToAdmins = try c.decodeIfPresentNotNull(Bool.self, forKey: .conversationsVisibleToAdmins) ?? true
        userModelVisibleToAdmins = try c.decodeIfPresentNotNull(Bool.self, forKey: .userModelVisibleToAdmins) ?? true
        timezone = try c.decodeIfPresent(String.self, forKey: .timezone)
        audioKeyterms = try c.decodeIfPresentNotNull([String].self, forKey: .audioKeyterms) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(enableResponseRecommendation, forKey: .enableResponseRecommendation)
        try c.encode(preferredLanguage, forKey: .preferredLanguage)
        try c.encode(conversationsVisibleToAdmins, forKey: .conversationsVisibleToAdmins)
        try c.encode(userModelVisibleToAdmins, forKey: .userModelVisibleToAdmins)
        try c.encode(timezone, forKey: .timezone)
        try c.encode(audioKeyterms, forKey: .audioKeyterms)
    }

    /// An organization's preferences take ISO 639-3 codes; an invited user's also ISO 639-1 (`allowTwoLetters`).
    func validate(into c: inout ValidationCollector, allowTwoLetters: Bool = false) {
        if let language = preferredLanguage, !FieldRule.isLanguageCode(language, allowTwoLetters: allowTwoLetters) {
            c.add(["preferred_language"], "Input should be an ISO 639-3 language code", type: "enum")
        }
        if let timezone, !TimeZoneRule.isKnown(timezone) {
            c.add(["timezone"], "Input should be an IANA time zone", type: "enum")
        }
        if audioKeyterms.count > 20 { c.add(["audio_keyterms"], "List should have at most 20 items", type: "too_long") }
    }
}

/// IANA time zone names, checked against the system's time zone database.
public enum TimeZoneRule {
    public static func isKnown(_ identifier: String) -> Bool {
        identifier == "UTC" || TimeZone(identifier: identifier) != nil
    }
}

/// One dimension of the user model an organization tracks.
public struct UserDimension: Codable, Sendable, Hashable {
    public var description: String
    public var tags: [String]
    public init(description: String, tags: [String]) {
        self.description = description
        self.tags = tags
    }
}

/// An organization as stored and as returned by `GET /v1/{org}/organization/`.
public struct Organization: Codable, Sendable, Hashable {
    public var orgID: String
    public var orgName: String
    public var title: String
    public var mainDescription: String
    public var subDescription: String
    public var onboardingInstructions: [String]
    public var defaultUserPreferences: Preferences?
    public var tenantID: String?
    public var userDimensions: [UserDimension]

    public init(orgID: String, orgName: String, title: String, mainDescription: String, subDescription: String) {
        self.orgID = orgID
        self.orgName = orgName
        self.title = title
        self.mainDescription = mainDescription
        self.subDescription = subDescription
        self.onboardingInstructions = []
        self.defaultUserPreferences = Preferences()
        self.tenantID = nil
        self.userDimensions = []
    }

    enum CodingKeys: String, CodingKey {
        case orgID = "org_id"
        case orgName = "org_name"
        case title
        case mainDescription = "main_description"
        case subDescription = "sub_description"
        case onboardingInstructions = "onboarding_instructions"
        case defaultUserPreferences = "default_user_preferences"
        case tenantID = "tenant_id"
        case userDimensions = "user_dimensions"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(orgName, forKey: .orgName)
        try c.encode(title, forKey: .title)
        try c.encode(mainDescription, forKey: .mainDescription)
        try c.encode(subDescription, forKey: .subDescription)
        try c.encode(onboardingInstructions, forKey: .onboardingInstructions)
        try c.encode(defaultUserPreferences, forKey: .defaultUserPreferences)
        try c.encode(tenantID, forKey: .tenantID)
        try c.encode(userDimensions, forKey: .userDimensions)
    }
}

/// Body of `POST /v1/{org}/organization/` (modify-organization). Absent or null fields are unchanged.
public struct ModifyOrganizationRequest: Decodable, Sendable, ValidatableRequest {
    public var title: String?
    public var mainDescription: String?
    public var subDescription: String?
    public var logo: String?
    public var squareLogo: String?
    public var favicon: String?
    public var signupPageHeadshot: String?
    public var userDimensions: [UserDimension]?
    public var defaultUserPreferences: Preferences?
    public var onboardingInstructions: [String]?

    enum CodingKeys: String, CodingKey {
        case title
        case mainDescription = "main_description"
        case subDescription = "sub_description"
        case logo
        case squareLogo = "square_logo"
        case favicon
        case signupPageHeadshot = "signup_page_headshot"
        case userDimensions = "user_dimensions"
        case defaultUserPreferences = "default_user_preferences"
        case onboardingInstructions = "onboarding_instructions"
    }

    public func validate(into c: inout ValidationCollector) {
        if let title { c.nonEmpty(title, at: ["title"]) }
        if let mainDescription { c.nonEmpty(mainDescription, at: ["main_description"]) }
        if let subDescription { c.nonEmpty(subDescription, at: ["sub_description"]) }
        for (name, value) in [("logo", logo), ("square_logo", squareLogo), ("favicon", favicon), ("signup_page_headshot", signupPageHeadshot)] {
            if let value, Data(base64Encoded: value) == nil { c.add([.key(name)], "Input should be valid base64", type: "base64_decode") }
        }
        if let userDimensions {
            if userDimensions.isEmpty { c.add(["user_dimensions"], "List should have at least 1 item after validation, not 0", type: "too_short") }
            for (index, dimension) in userDimensions.enumerated() {
                c.nonEmpty(dimension.description, at: ["user_dimensions", .index(index), "description"])
                c.nonEmpty(dimension.tags, at: ["user_dimensions", .index(index), "tags"])
            }
        }
        if let defaultUserPreferences { c.nested(["default_user_preferences"]) { defaultUserPreferences.validate(into: &$0) } }
        if let onboardingInstructions { c.nonEmpty(onboardingInstructions, at: ["onboarding_instructions"]) }
    }
}

/// A request body that can report every field that breaks the API's constraints.
public protocol ValidatableRequest: Decodable {
    func validate(into collector: inout ValidationCollector)
}

/// `{"id": "..."}` — the response of the create endpoints.
public struct IDResponse: Codable, Sendable, Hashable {
    public var id: String
    public init(id: String) { self.id = id }
}

/// The `{org_id, user_id}` pair recorded as the creator of a resource.
public struct UserInfo: Codable, Sendable, Hashable {
    public var orgID: String
    public var userID: String
    public init(orgID: String, userID: String) {
        self.orgID = orgID
        self.userID = userID
    }
    enum CodingKeys: String, CodingKey {
        case orgID = "org_id"
        case userID = "user_id"
    }
}

/// `{"id", "version", "created_at"}` — the response of the create-version endpoints.
public struct CreatedVersionResponse: Codable, Sendable, Hashable {
    public var id: String
    public var version: Int
    public var createdAt: Date
    public init(id: String, version: Int, createdAt: Date) {
        self.id = id
        self.version = version
        self.createdAt = createdAt
    }
    enum CodingKeys: String, CodingKey {
        case id, version
        case createdAt = "created_at"
    }
}

/// Body of `PUT /v1/{org}/organization/` (create-organization).
public struct CreateOrganizationRequest: Decodable, Sendable, ValidatableRequest {
    public var orgName: String
    public var title: String
    public var mainDescription: String
    public var subDescription: String
    public var userDimensions: [UserDimension]
    public var logo: String
    public var squareLogo: String
    public var favicon: String
    public var signupPageHeadshot: String
    public var defaultUserPreferences: Preferences?
    public var onboardingInstructions: [String]
    /// Accepted and ignored (Compadre has no Azure DevOps teams).
    public var azureDevopsTeamName: String

    enum CodingKeys: String, CodingKey {
        case orgName = "org_name"
        case title
        case mainDescription = "main_description"
        case subDescription = "sub_description"
        case userDimensions = "user_dimensions"
        case logo
        case squareLogo = "square_logo"
        case favicon
        case signupPageHeadshot = "signup_page_headshot"
        case defaultUserPreferences = "default_user_preferences"
        case onboardingInstructions = "onboarding_instructions"
        case azureDevopsTeamName = "azure_devops_team_name"
    }

    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(orgName, at: ["org_name"])
        c.nonEmpty(title, at: ["title"])
        c.nonEmpty(mainDescription, at: ["main_description"])
        c.nonEmpty(subDescription, at: ["sub_description"])
        for (name, value) in [("logo", logo), ("square_logo", squareLogo), ("favicon", favicon), ("signup_page_headshot", signupPageHeadshot)] {
            if Data(base64Encoded: value) == nil { c.add([.key(name)], "Input should be valid base64", type: "base64_decode") }
        }
        for (index, dimension) in userDimensions.enumerated() {
            c.nonEmpty(dimension.description, at: ["user_dimensions", .index(index), "description"])
            c.nonEmpty(dimension.tags, at: ["user_dimensions", .index(index), "tags"])
        }
        if let defaultUserPreferences { c.nested(["default_user_preferences"]) { defaultUserPreferences.validate(into: &$0) } }
        c.nonEmpty(onboardingInstructions, at: ["onboarding_instructions"])
        if azureDevopsTeamName.isEmpty || !azureDevopsTeamName.utf8.allSatisfy({ (0x61...0x7A).contains($0) || $0 == 0x2D || $0 == 0x5F }) {
            c.add(["azure_devops_team_name"], "String should match pattern '^[a-z-_]+$'", type: "string_pattern_mismatch")
        }
    }
}

/// Answer of create-organization: the new organization's id and, once, the credentials of its super
/// administrator (`admin@amigo.ai`), as `compadre init` prints them — the only way into it.
public struct CreateOrganizationResponse: Codable, Sendable {
    public var orgID: String
    public var userID: String
    public var apiKeyID: String
    public var apiKey: String

    public init(orgID: String, userID: String, apiKeyID: String, apiKey: String) {
        self.orgID = orgID
        self.userID = userID
        self.apiKeyID = apiKeyID
        self.apiKey = apiKey
    }

    enum CodingKeys: String, CodingKey {
        case orgID = "org_id"
        case userID = "user_id"
        case apiKeyID = "api_key_id"
        case apiKey = "api_key"
    }
}
