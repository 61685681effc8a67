import AmigoWire
import Foundation
import HTTPTypes
import Hummingbird
import Storage
import Platform

/// The organization, its API keys and sign-in.
struct OrganizationController {
    let api: API

    func addRoutes(to router: Router<AppContext>) {
        let api = api
        router.operation(.get, "/v1/:organization/organization/", "get-organization", access: .optional, api: api) { call in
            let orgID = call.orgID
            guard var organization = try await api.store.read({ try await $0.organizations.get(orgID) }) else {
                throw PlatformError.notFound("Organization `\(call.orgID)` does not exist.")
            }
            if !(call.principal?.can("Organization:GetOrganizationDetails") ?? false) { organization.defaultUserPreferences = nil }
            return try .json(OrganizationView(organization))
        }

        router.operation(.put, "/v1/:organization/organization/", "create-organization", access: .anonymous, api: api) { call in
            // The caller belongs to another organization: the one that issued the token.
            let caller = try await api.authenticateInIssuingOrganization(call.request)
            guard call.request.headers[HTTPField.Name("x-mongo-cluster-name")!] != nil else {
                throw PlatformError.validation(["header", "x-mongo-cluster-name"], "Field required", type: "missing")
            }
            try caller.require("Organization:CreateOrganization")
            try caller.require("Role:CreateRole")
            try caller.require("User:InviteUser")
            try caller.requireSuperAdministrator()
            let orgID = call.orgID
            guard OrganizationBootstrap.isValidOrganizationID(orgID), !OrganizationBootstrap.reservedIDs.contains(orgID) else {
                throw PlatformError.badRequest("The organization id `\(orgID)` is reserved or not valid (1-64 lowercase letters, digits, '-' or '_').")
            }
            let body = try await call.body(CreateOrganizationRequest.self)
            let credentials: OrganizationBootstrap.Credentials
            do {
                credentials = try await OrganizationBootstrap.create(orgID: orgID, name: body.orgName, store: api.store) { organization in
                    organization.title = body.title.stripped
                    organization.mainDescription = body.mainDescription.stripped
                    organization.subDescription = body.subDescription.stripped
                    organization.userDimensions = body.userDimensions
                    organization.defaultUserPreferences = body.defaultUserPreferences
                    organization.onboardingInstructions = body.onboardingInstructions
                }
            } catch OrganizationBootstrap.Failure.alreadyExists {
                throw PlatformError.conflict("Organization `\(orgID)` already exists.")
            }
            return try .json(
                CreateOrganizationResponse(orgID: orgID, userID: credentials.userID, apiKeyID: credentials.apiKeyID, apiKey: credentials.apiKey),
                status: .created
            )
        }

        router.operation(.delete, "/v1/:organization/organization/", "delete-organization", api: api) { call in
            let caller = try call.caller
            try caller.require("Organization:DeleteOrganization")
            try await OrganizationRemoval(store: api.store, tools: api.tools, logger: api.conversations.logger).delete(call.orgID)
            return .empty(.noContent)
        }

        router.operation(.get, "/v1/:organization/organization/user_dimensions/", "get-user-dimensions", api: api) { call in
            try call.caller.require("Organization:GetOrganizationDetails")
            let orgID = call.orgID
            guard let organization = try await api.store.read({ try await $0.organizations.get(orgID) }) else {
                throw PlatformError.notFound("Organization `\(orgID)` does not exist.")
            }
            return try .json(["user_dimensions": organization.userDimensions])
        }

        router.operation(.post, "/v1/:organization/organization/", "modify-organization", api: api) { call in
            try call.caller.require("Organization:ModifyOrganization")
            let body = try await call.body(ModifyOrganizationRequest.self)
            let orgID = call.orgID
            try await api.store.write { repositories in
                guard var organization = try await repositories.organizations.get(orgID) else {
                    throw PlatformError.notFound("Organization `\(orgID)` does not exist.")
                }
                if let title = body.title { organization.title = title.trimmingCharacters(in: .whitespacesAndNewlines) }
                if let value = body.mainDescription { organization.mainDescription = value.trimmingCharacters(in: .whitespacesAndNewlines) }
                if let value = body.subDescription { organization.subDescription = value.trimmingCharacters(in: .whitespacesAndNewlines) }
                if let value = body.userDimensions { organization.userDimensions = value }
                if let value = body.defaultUserPreferences { organization.defaultUserPreferences = value }
                if let value = body.onboardingInstructions { organization.onboardingInstructions = value }
                try await repositories.organizations.update(organization)
            }
            return .empty(.noContent)
        }

        router.operation(.post, "/v1/:organization/organization/api_key/", "create-api-key", api: api) { call in
            let caller = try call.caller
            try caller.require("Organization:CreateAPIKey")
            let body = try await call.body(CreateAPIKeyRequest.self)
            let orgID = call.orgID
            let secret = APIKeySecret.generate()
            let now = Date()
            let instance = try await api.store.write { repositories -> APIKeyInstance in
                guard let role = try await repositories.roles.get(name: body.roleName, orgID: orgID) else {
                    throw PlatformError.notFound("Role `\(body.roleName)` does not exist.")
                }
                try caller.requireCovers(role)
                if try await repositories.apiKeys.count(orgID: orgID) >= 20 {
                    throw PlatformError.badRequest("The organization already has the maximum of 20 API keys.")
                }
                let instance = APIKeyInstance(
                    id: ObjectID.generate(), name: body.name?.trimmingCharacters(in: .whitespacesAndNewlines), orgID: orgID,
                    createdAt: now, updatedAt: now, keyID: UUID().uuidString.lowercased(),
                    expiresAt: now.addingTimeInterval(body.durationSeconds ?? 0), creator: caller.userInfo, roleID: role.id
                )
                try await repositories.apiKeys.insert(StoredAPIKey(instance: instance, secretHash: APIKeySecret.hash(secret)))
                return instance
            }
            return try .json(CreateAPIKeyResponse(apiKeyID: instance.keyID, apiKey: secret, expiresAt: instance.expiresAt), status: .created)
        }

        router.operation(.get, "/v1/:organization/organization/api_key/", "get-api-keys", api: api) { call in
            try call.caller.require("Organization:GetAPIKey")
            let orgID = call.orgID
            return try .json(GetAPIKeysResponse(apiKeys: try await api.store.read { try await $0.apiKeys.list(orgID: orgID) }))
        }

        router.operation(.delete, "/v1/:organization/organization/api_key/:api_key_id/", "delete-api-key", api: api) { call in
            try call.caller.require("Organization:DeleteAPIKey")
            let keyID = try call.parameter("api_key_id")
            let orgID = call.orgID
            try await api.store.write { repositories in
                guard try await repositories.apiKeys.get(keyID: keyID, orgID: orgID) != nil else {
                    throw PlatformError.notFound("API key `\(keyID)` does not exist.")
                }
                try await repositories.apiKeys.delete(keyID: keyID, orgID: orgID)
            }
            return try .json(DeleteAPIKeyResponse(deletedKeyID: keyID))
        }

        router.operation(.post, "/v1/:organization/user/signin", "sign-in-with-email", access: .anonymous, api: api) { call in
            let body = try await call.body(SignInWithEmailRequest.self)
            let orgID = call.orgID
            let base = "\(MediaRoutes.origin(of: call.request))/v1/\(orgID)/user/signin/redeem"
            try await api.emailSignIns.request(body, orgID: orgID, linkBase: base)
            return .null
        }

        router.operation(.get, "/v1/:organization/user/signin/redeem", "redeem-email-sign-in", access: .anonymous, api: api) { call in
            let orgID = call.orgID
            guard let token = call.query.string("token"), let (userID, redirect) = try await api.emailSignIns.redeem(token: token, orgID: orgID) else {
                throw PlatformError.forbidden("The sign-in link is not valid, was used already, or has expired: ask for a new one.")
            }
            let (accessToken, expiresAt) = try await api.tokens.issue(userID: userID, orgID: orgID)
            let fragment = "id_token=\(accessToken)&expires_at=\(WireCoding.formatDate(expiresAt).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            var location = redirect
            if let hash = location.firstIndex(of: "#") { location = String(location[..<hash]) }
            return Response(status: .seeOther, headers: [.location: "\(location)#\(fragment)", .cacheControl: "no-store"])
        }

        router.operation(.post, "/v1/:organization/user/signin_with_api_key", "sign-in-with-api-key", access: .anonymous, api: api) { call in
            let headers = call.request.headers
            var issues: [ValidationIssue] = []
            func header(_ name: String) -> String? {
                let value = headers[HTTPField.Name(name)!]
                if value == nil || value!.isEmpty { issues.append(ValidationIssue(loc: ["header", .key(name)], msg: "Field required", type: "missing")) }
                return value
            }
            let (secret, keyID, userID) = (header("x-api-key"), header("x-api-key-id"), header("x-user-id"))
            guard issues.isEmpty, let secret, let keyID, let userID else { throw PlatformError.validation(issues) }
            let orgID = call.orgID
            let address = call.context.remoteAddress
            if case .refused(let retryAfter, let reason) = api.signIns?.admit(key: keyID, address: address) {
                throw PlatformError.tooManyRequests(reason, retryAfter: retryAfter)
            }
            let signedIn = try await api.store.read { repositories -> (User, Role, Role)? in
                guard try await repositories.organizations.get(orgID) != nil else {
                    throw PlatformError.notFound("Organization `\(orgID)` does not exist.")
                }
                guard let key = try await repositories.apiKeys.get(keyID: keyID, orgID: orgID),
                      key.secretHash == APIKeySecret.hash(secret), key.instance.expiresAt > Date(),
                      let keyRole = try await repositories.roles.get(id: key.instance.roleID, orgID: orgID),
                      let user = try await repositories.users.get(id: userID, orgID: orgID),
                      let userRole = try await repositories.roles.get(id: user.roleID, orgID: orgID) else { return nil }
                return (user, userRole, keyRole)
            }
            guard let (user, userRole, keyRole) = signedIn else {
                api.signIns?.failed(key: keyID, address: address)
                throw PlatformError.unauthorized("API key not found, is incorrect or expired, or the requested user is not found.")
            }
            guard keyRole.covers(userRole) else {
                api.signIns?.failed(key: keyID, address: address)
                throw PlatformError.unauthorized("This API key's role cannot sign in a user with the role `\(userRole.name)`.")
            }
            api.signIns?.succeeded(key: keyID)
            let (token, expiresAt) = try await api.tokens.issue(userID: user.userID, orgID: orgID, apiKeyID: keyID)
            return try .json(SignInResponse(idToken: token, expiresAt: expiresAt))
        }
    }
}

/// `GET /organization/` answers without the stored user dimensions.
struct OrganizationView: Encodable {
    var organization: Organization
    init(_ organization: Organization) { self.organization = organization }

    enum CodingKeys: String, CodingKey {
        case orgID = "org_id", orgName = "org_name", title, mainDescription = "main_description", subDescription = "sub_description"
        case onboardingInstructions = "onboarding_instructions", defaultUserPreferences = "default_user_preferences", tenantID = "tenant_id"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(organization.orgID, forKey: .orgID)
        try c.encode(organization.orgName, forKey: .orgName)
        try c.encode(organization.title, forKey: .title)
        try c.encode(organization.mainDescription, forKey: .mainDescription)
        try c.encode(organization.subDescription, forKey: .subDescription)
        try c.encode(organization.onboardingInstructions, forKey: .onboardingInstructions)
        try c.encode(organization.defaultUserPreferences, forKey: .defaultUserPreferences)
        try c.encode(organization.tenantID, forKey: .tenantID)
    }
}
