import AmigoWire
import Foundation
import Storage

/// Creates an organization the way the platform does: its four default roles, a super administrator
/// user, and an API key for that administrator. Used by `compadre init` and by tests.
public enum OrganizationBootstrap {
    /// What `compadre init` prints.
    public struct Credentials: Codable, Sendable {
        public var organizationID: String
        public var userID: String
        public var apiKeyID: String
        public var apiKey: String
        enum CodingKeys: String, CodingKey {
            case organizationID = "organization_id"
            case userID = "user_id"
            case apiKeyID = "api_key_id"
            case apiKey = "api_key"
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case alreadyExists(String)
        case invalidOrganizationID(String)

        public var description: String {
            switch self {
            case .alreadyExists(let id): "organization '\(id)' already exists; nothing was changed"
            case .invalidOrganizationID(let id): "invalid organization id '\(id)': use 1-64 lowercase letters, digits, '-' or '_'"
            }
        }
    }

    /// Ids that name Compadre's own routes or roles, never an organization.
    public static let reservedIDs: Set = ["admin", "api", "compadre", "media", "metrics", "healthz", "openapi", "www", "static", "root"]

    public static func isValidOrganizationID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }
    }

    /// `configure` fills in the organization's details (create-organization's body).
    public static func create(
        orgID: String, name: String? = nil, adminEmail: String = "admin@amigo.ai", store: Store,
        configure: @Sendable (inout Organization) -> Void = { _ in }
    ) async throws -> Credentials {
        guard isValidOrganizationID(orgID) else { throw Failure.invalidOrganizationID(orgID) }
        let secret = APIKeySecret.generate()
        return try await store.write { repositories in
            try await repositories.serialize("organization/\(orgID)")
            if try await repositories.organizations.get(orgID) != nil { throw Failure.alreadyExists(orgID) }
            let title = name ?? orgID
            var organization = Organization(
                orgID: orgID, orgName: title, title: title, mainDescription: "\(title) on Compadre", subDescription: "Conversational agents"
            )
            configure(&organization)
            try await repositories.organizations.insert(organization)
            let roles = DefaultRoles.make()
            for role in roles { try await repositories.roles.insert(role, orgID: orgID) }
            let superRole = roles.first { $0.name == DefaultRoles.superAdministrator }!
            let now = Date()
            let admin = User(orgID: orgID, userID: ObjectID.generate(), firstName: "Admin", lastName: "User", email: adminEmail, roleID: superRole.id, createdAt: now)
            try await repositories.users.insert(admin)
            let key = APIKeyInstance(
                id: ObjectID.generate(), name: "compadre init", orgID: orgID, createdAt: now, updatedAt: now,
                keyID: UUID().uuidString.lowercased(), expiresAt: now.addingTimeInterval(90 * 86_400),
                creator: UserInfo(orgID: orgID, userID: admin.userID), roleID: superRole.id
            )
            try await repositories.apiKeys.insert(StoredAPIKey(instance: key, secretHash: APIKeySecret.hash(secret)))
            return Credentials(organizationID: orgID, userID: admin.userID, apiKeyID: key.keyID, apiKey: secret)
        }
    }
}
