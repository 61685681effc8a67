import Foundation

/// A user of an organization as stored. Sensitive variable values never leave the server.
public struct User: Codable, Sendable, Hashable {
    public var orgID: String
    public var userID: String
    public var firstName: String
    public var lastName: String
    public var email: String
    public var roleID: String
    public var preferences: Preferences
    public var nonsensitiveVariables: [String: String]
    public var sensitiveVariables: [String: String]
    public var additionalContext: [String]
    public var createdAt: Date

    public init(orgID: String, userID: String, firstName: String, lastName: String, email: String, roleID: String, preferences: Preferences = Preferences(), createdAt: Date) {
        self.orgID = orgID
        self.userID = userID
        self.firstName = firstName
        self.lastName = lastName
        self.email = email
        self.roleID = roleID
        self.preferences = preferences
        self.nonsensitiveVariables = [:]
        self.sensitiveVariables = [:]
        self.additionalContext = []
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case orgID = "org_id"
        case userID = "user_id"
        case firstName = "first_name"
        case lastName = "last_name"
        case email
        case roleID = "role_id"
        case preferences
        case nonsensitiveVariables = "nonsensitive_variables"
        case sensitiveVariables = "sensitive_variables"
        case additionalContext = "additional_context"
        case createdAt = "created_at"
    }
}

/// Conversation statistics of a user.
public struct UserStats: Codable, Sendable, Hashable {
    public var numConversations: Int
    public var numMessages: Int
    public var lastMessageTime: Date?
    public init(numConversations: Int = 0, numMessages: Int = 0, lastMessageTime: Date? = nil) {
        self.numConversations = numConversations
        self.numMessages = numMessages
        self.lastMessageTime = lastMessageTime
    }
    enum CodingKeys: String, CodingKey {
        case numConversations = "num_conversations"
        case numMessages = "num_messages"
        case lastMessageTime = "last_message_time"
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(numConversations, forKey: .numConversations)
        try c.encode(numMessages, forKey: .numMessages)
        try c.encode(lastMessageTime, forKey: .lastMessageTime)
    }
}

/// A user as listed by `GET /v1/{org}/user/` and the search endpoint.
public struct UserInstance: Codable, Sendable, Hashable {
    public var orgID: String
    public var userID: String
    public var firstName: String
    public var lastName: String
    public var email: String
    public var userStats: UserStats
    /// The role's name.
    public var role: String
    public var preferences: Preferences
    public var nonsensitiveVariables: [String: String]
    public var sensitiveVariables: [String]
    /// Whether the user may develop tools (Actions); Compadre grants it through roles, so this is false.
    public var enableActionsAccess: Bool

    public init(user: User, roleName: String, stats: UserStats = UserStats()) {
        orgID = user.orgID
        userID = user.userID
        firstName = user.firstName
        lastName = user.lastName
        email = user.email
        userStats = stats
        role = roleName
        preferences = user.preferences
        nonsensitiveVariables = user.nonsensitiveVariables
        sensitiveVariables = user.sensitiveVariables.keys.sorted()
        enableActionsAccess = false
    }

    enum CodingKeys: String, CodingKey {
        case orgID = "org_id"
        case userID = "user_id"
        case firstName = "first_name"
        case lastName = "last_name"
        case email
        case userStats = "user_stats"
        case role, preferences
        case nonsensitiveVariables = "nonsensitive_variables"
        case sensitiveVariables = "sensitive_variables"
        case enableActionsAccess = "enable_actions_access"
    }
}

public struct GetUsersResponse: Codable, Sendable {
    public var users: [UserInstance]
    public var hasMore: Bool
    public var continuationToken: Int?
    public init(users: [UserInstance], hasMore: Bool, continuationToken: Int?) {
        self.users = users
        self.hasMore = hasMore
        self.continuationToken = continuationToken
    }
    enum CodingKeys: String, CodingKey {
        case users
        case hasMore = "has_more"
        case continuationToken = "continuation_token"
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(users, forKey: .users)
        try c.encode(hasMore, forKey: .hasMore)
        try c.encode(continuationToken, forKey: .continuationToken)
    }
}

public struct SearchUsersResponse: Codable, Sendable {
    public var users: [UserInstance]
    public init(users: [UserInstance]) { self.users = users }
}

/// Body of `POST /v1/{org}/user/` (create-invited-user).
public struct CreateInvitedUserRequest: Decodable, Sendable, ValidatableRequest {
    public var firstName: String
    public var lastName: String
    public var email: String
    public var loginLink: String?
    public var roleName: String
    public var nonsensitiveUserVariables: [String: String]
    public var sensitiveUserVariables: [String: String]
    public var userPreferences: Preferences?

    enum CodingKeys: String, CodingKey {
        case firstName = "first_name"
        case lastName = "last_name"
        case email
        case loginLink = "login_link"
        case roleName = "role_name"
        case nonsensitiveUserVariables = "nonsensitive_user_variables"
        case sensitiveUserVariables = "sensitive_user_variables"
        case userPreferences = "user_preferences"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        firstName = try c.decode(String.self, forKey: .firstName)
        lastName = try c.decode(String.self, forKey: .lastName)
        email = try c.decode(String.self, forKey: .email)
        loginLink = try c.decodeIfPresent(String.self, forKey: .loginLink)
        roleName = try c.decode(String.self, forKey: .roleName)
        nonsensitiveUserVariables = try c.decodeIfPresentNotNull([String: String].self, forKey: .nonsensitiveUserVariables) ?? [:]
        sensitiveUserVariables = try c.decodeIfPresentNotNull([String: String].self, forKey: .sensitiveUserVariables) ?? [:]
        userPreferences = try c.decodeIfPresent(Preferences.self, forKey: .userPreferences)
    }

    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(firstName, at: ["first_name"])
        c.nonEmpty(lastName, at: ["last_name"])
        if !FieldRule.isEmail(email) { c.add(["email"], "value is not a valid email address", type: "value_error") }
        if let loginLink, loginLink.isEmpty || loginLink.count > 2083 || URL(string: loginLink)?.scheme == nil {
            c.add(["login_link"], "Input should be a valid URL", type: "url_parsing")
        }
        if nonsensitiveUserVariables.count > 19 { c.add(["nonsensitive_user_variables"], "Dictionary should have at most 19 items", type: "too_long") }
        if sensitiveUserVariables.count > 20 { c.add(["sensitive_user_variables"], "Dictionary should have at most 20 items", type: "too_long") }
        for name in nonsensitiveUserVariables.keys.sorted() where !FieldRule.isVariableName(name) {
            c.add(["nonsensitive_user_variables", .key(name)], "String should match pattern '^[a-z_][a-z0-9_]+$'", type: "string_pattern_mismatch")
        }
        for name in sensitiveUserVariables.keys.sorted() where !FieldRule.isVariableName(name) {
            c.add(["sensitive_user_variables", .key(name)], "String should match pattern '^[a-z_][a-z0-9_]+$'", type: "string_pattern_mismatch")
        }
        if let userPreferences { c.nested(["user_preferences"]) { userPreferences.validate(into: &$0, allowTwoLetters: true) } }
    }
}

public struct CreateInvitedUserResponse: Codable, Sendable {
    public var userID: String
    public var verifyLink: String?
    public init(userID: String, verifyLink: String?) {
        self.userID = userID
        self.verifyLink = verifyLink
    }
    enum CodingKeys: String, CodingKey {
        case userID = "user_id"
        case verifyLink = "verify_link"
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(userID, forKey: .userID)
        try c.encode(verifyLink, forKey: .verifyLink)
    }
}

/// Body of `POST /v1/{org}/user/{user_id}` (update-user-info). Only fields that are sent change.
public struct UpdateUserInfoRequest: Decodable, Sendable, ValidatableRequest {
    public var firstName: String?
    public var lastName: String?
    public var enableResponseRecommendation: Bool?
    public var preferredLanguage: Patch<String>
    public var timezone: Patch<String>
    public var conversationsVisibleToAdmins: Bool?
    public var userModelVisibleToAdmins: Bool?
    /// Replaces the user's additional context when sent; `null` leaves it unchanged.
    public var additionalContext: [String]?
    public var audioKeyterms: [String]?

    enum CodingKeys: String, CodingKey {
        case firstName = "first_name"
        case lastName = "last_name"
        case enableResponseRecommendation = "enable_response_recommendation"
        case preferredLanguage = "preferred_language"
        case timezone
        case conversationsVisibleToAdmins = "conversations_visible_to_admins"
        case userModelVisibleToAdmins = "user_model_visible_to_admins"
        case additionalContext = "additional_context"
        case audioKeyterms = "audio_keyterms"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        firstName = try c.decodeIfPresent(String.self, forKey: .firstName)
        lastName = try c.decodeIfPresent(String.self, forKey: .lastName)
        enableResponseRecommendation = try c.decodeIfPresent(Bool.self, forKey: .enableResponseRecommendation)
        preferredLanguage = try c.decodePatch(String.self, forKey: .preferredLanguage)
        timezone = try c.decodePatch(String.self, forKey: .timezone)
        conversationsVisibleToAdmins = try c.decodeIfPresent(Bool.self, forKey: .conversationsVisibleToAdmins)
        userModelVisibleToAdmins = try c.decodeIfPresent(Bool.self, forKey: .userModelVisibleToAdmins)
        additionalContext = try c.decodeIfPresent([String].self, forKey: .additionalContext)
        audioKeyterms = try c.decodeIfPresent([String].self, forKey: .audioKeyterms)
    }

    public func validate(into c: inout ValidationCollector) {
        if let firstName { c.nonEmpty(firstName, at: ["first_name"]) }
        if let lastName { c.nonEmpty(lastName, at: ["last_name"]) }
        if case .value(let language) = preferredLanguage, !FieldRule.isLanguageCode(language, allowTwoLetters: false) {
            c.add(["preferred_language"], "Input should be an ISO 639-3 language code", type: "enum")
        }
        if case .value(let zone) = timezone, !TimeZoneRule.isKnown(zone) {
            c.add(["timezone"], "Input should be an IANA time zone", type: "enum")
        }
        if let additionalContext { c.nonEmpty(additionalContext, at: ["additional_context"]) }
        if let audioKeyterms { c.keyterms(audioKeyterms, at: ["audio_keyterms"]) }
    }

    /// Applies the sent fields to `user`.
    public func apply(to user: inout User) {
        if let firstName { user.firstName = firstName.trimmingCharacters(in: .whitespaces) }
        if let lastName { user.lastName = lastName.trimmingCharacters(in: .whitespaces) }
        if let enableResponseRecommendation { user.preferences.enableResponseRecommendation = enableResponseRecommendation }
        switch preferredLanguage {
        case .unset: break
        case .null: user.preferences.preferredLanguage = nil
        case .value(let value): user.preferences.preferredLanguage = value
        }
        switch timezone {
        case .unset: break
        case .null: user.preferences.timezone = nil
        case .value(let value): user.preferences.timezone = value
        }
        if let conversationsVisibleToAdmins { user.preferences.conversationsVisibleToAdmins = conversationsVisibleToAdmins }
        if let userModelVisibleToAdmins { user.preferences.userModelVisibleToAdmins = userModelVisibleToAdmins }
        if let additionalContext { user.additionalContext = additionalContext.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } }
        if let audioKeyterms { user.preferences.audioKeyterms = audioKeyterms }
    }
}

/// Body of `POST /v1/{org}/user/{user_id}/variable`.
public struct ModifyUserVariablesRequest: Decodable, Sendable, ValidatableRequest {
    public struct Upsert: Decodable, Sendable {
        public var name: String
        public var value: String
        public var isSecret: Bool
        enum CodingKeys: String, CodingKey {
            case name, value
            case isSecret = "is_secret"
        }
    }
    public struct Delete: Decodable, Sendable {
        public var name: String
    }
    public var upserts: [Upsert]
    public var deletes: [Delete]

    enum CodingKeys: String, CodingKey { case upserts, deletes }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        upserts = try c.decodeIfPresent([Upsert].self, forKey: .upserts) ?? []
        deletes = try c.decodeIfPresent([Delete].self, forKey: .deletes) ?? []
    }

    public func validate(into c: inout ValidationCollector) {
        for (index, upsert) in upserts.enumerated() {
            if !FieldRule.isVariableName(upsert.name) {
                c.add(["upserts", .index(index), "name"], "String should match pattern '^[a-z_][a-z0-9_]+$'", type: "string_pattern_mismatch")
            }
            if upsert.value.isEmpty || upsert.value.count > 255 {
                c.add(["upserts", .index(index), "value"], "String should have between 1 and 255 characters", type: "string_too_long")
            }
        }
        for (index, delete) in deletes.enumerated() where !FieldRule.isVariableName(delete.name) {
            c.add(["deletes", .index(index), "name"], "String should match pattern '^[a-z_][a-z0-9_]+$'", type: "string_pattern_mismatch")
        }
    }
}

/// One user model of the user (L3), with the dimensions it covers.
public struct UserModel: Codable, Sendable, Hashable {
    public var content: String
    public var insightIDs: [String]
    public var dimensions: [UserDimension]
    public init(content: String, insightIDs: [String], dimensions: [UserDimension]) {
        self.content = content
        self.insightIDs = insightIDs
        self.dimensions = dimensions
    }
    enum CodingKeys: String, CodingKey {
        case content
        case insightIDs = "insight_ids"
        case dimensions
    }
}

public struct GetUserModelResponse: Codable, Sendable {
    public var userModels: [UserModel]
    public var additionalContext: [String]
    public init(userModels: [UserModel], additionalContext: [String]) {
        self.userModels = userModels
        self.additionalContext = additionalContext
    }
    enum CodingKeys: String, CodingKey {
        case userModels = "user_models"
        case additionalContext = "additional_context"
    }
}

/// A memory extracted from a conversation (L1).
public struct Memory: Codable, Sendable, Hashable {
    public var id: String
    public var createdAt: Date
    public var conversationID: String
    public var references: [String]
    public var content: String
    public var context: String
    public init(id: String, createdAt: Date, conversationID: String, references: [String], content: String, context: String) {
        self.id = id
        self.createdAt = createdAt
        self.conversationID = conversationID
        self.references = references
        self.content = content
        self.context = context
    }
    enum CodingKeys: String, CodingKey {
        case id
        case createdAt = "created_at"
        case conversationID = "conversation_id"
        case references, content, context
    }
}

public struct GetMemoriesResponse: Codable, Sendable {
    public var memories: [Memory]
    public var hasMore: Bool
    public var continuationToken: Int?
    public init(memories: [Memory], hasMore: Bool, continuationToken: Int?) {
        self.memories = memories
        self.hasMore = hasMore
        self.continuationToken = continuationToken
    }
    enum CodingKeys: String, CodingKey {
        case memories
        case hasMore = "has_more"
        case continuationToken = "continuation_token"
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(memories, forKey: .memories)
        try c.encode(hasMore, forKey: .hasMore)
        try c.encode(continuationToken, forKey: .continuationToken)
    }
}
