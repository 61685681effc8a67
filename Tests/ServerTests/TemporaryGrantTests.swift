import AmigoWire
import CompadreTesting
import Foundation
import HTTPTypes
import Platform
import Testing

@Suite("Temporary permission grants")
struct TemporaryGrantTests {
    func invite(_ admin: SignedInAdmin, _ name: String, role: String) async throws -> (user: String, token: String) {
        let invited = try await admin.client.call(.post, "/v1/\(admin.org)/user/", token: admin.token, json: [
            "first_name": name, "last_name": "Doe", "email": "\(name.lowercased())@example.com", "role_name": role,
        ])
        let user = try invited.object()["user_id"] as? String ?? ""
        let token = try await admin.client.signIn(org: admin.org, keyID: admin.credentials.apiKeyID, key: admin.credentials.apiKey, userID: user)
        return (user, token)
    }

    func grant(_ admin: SignedInAdmin, token: String? = nil, user: String, permission: String, duration: String = "PT1H") async throws -> TestServer.Client.Answer {
        try await admin.client.call(.post, "/v1/\(admin.org)/role/temporary_permission_grant/", token: token ?? admin.token, json: [
            "user_id": user, "duration": duration, "permission_grant": ["permission_name": permission, "conditions": [String: Any]()],
            "tags": ["ticket": "42"], "justification": "Covering for a colleague",
        ])
    }

    @Test func aGrantLetsAUserDoWhatTheirRoleDoesNotUntilItExpires() async throws {
        try await SignedInAdmin.with { admin in
            _ = try await admin.client.call(.post, "/v1/\(admin.org)/metric/", token: admin.token, json: [
                "name": "Resolved", "description": "d", "applied_to_services": [String](), "tags": [String: Any](), "metric_value": ["type": "boolean"],
            ])
            let pat = try await invite(admin, "Pat", role: "DefaultUserRole")
            func metricsPatSees() async throws -> Int {
                let listed = try await admin.client.call(.get, "/v1/\(admin.org)/metric/", token: pat.token).object()
                return (listed["metrics"] as? [Any])?.count ?? -1
            }
            #expect(try await metricsPatSees() == 0)
            let created = try await grant(admin, user: pat.user, permission: "Metric:GetMetric")
            #expect(created.status == .created, "\(created.text)")
            let expiresAt = try #require(WireCoding.parseDate(try created.object()["expires_at"] as? String ?? ""))
            #expect(abs(expiresAt.timeIntervalSinceNow - 3600) < 60)
            // At once, on the next request.
            #expect(try await metricsPatSees() == 1)
            // Still not more than granted.
            let creating = try await admin.client.call(.post, "/v1/\(admin.org)/metric/", token: pat.token, json: [
                "name": "Mine", "description": "d", "applied_to_services": [String](), "tags": [String: Any](), "metric_value": ["type": "boolean"],
            ])
            #expect(creating.status == .forbidden)

            let listed = try await admin.client.call(.get, "/v1/\(admin.org)/role/temporary_permission_grants/?user_id=\(pat.user)&is_expired=false", token: admin.token).object()
            let grants = listed["temporary_permission_grants"] as? [[String: Any]] ?? []
            #expect(grants.count == 1)
            #expect(grants.first?["_id"] as? String == (try created.object()["temporary_permission_grant_id"] as? String))
            #expect((grants.first?["permission_grant"] as? [String: Any])?["permission_name"] as? String == "Metric:GetMetric")
            #expect((grants.first?["tags"] as? [String: Any])?["ticket"] as? String == "42")
            let expired = try await admin.client.call(.get, "/v1/\(admin.org)/role/temporary_permission_grants/?is_expired=true", token: admin.token).object()
            #expect((expired["temporary_permission_grants"] as? [Any])?.isEmpty == true)
            // Pat may not list grants.
            let patsView = try await admin.client.call(.get, "/v1/\(admin.org)/role/temporary_permission_grants/", token: pat.token).object()
            #expect((patsView["temporary_permission_grants"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func anExpiredGrantGrantsNothingEvenInACachedCaller() {
        let user = User(orgID: "o", userID: "u", firstName: "", lastName: "", email: "", roleID: "r", createdAt: Date())
        let role = Role(id: "r", name: "plain", description: "", frontendView: .client, permissionGrants: [])
        func grant(expiring seconds: TimeInterval) -> TemporaryPermissionGrant {
            TemporaryPermissionGrant(
                id: "g", orgID: "o", createdAt: Date(), userID: "u", expiresAt: Date().addingTimeInterval(seconds),
                permissionGrant: PermissionGrant(permissionName: "Metric:GetMetric"), justification: "j", creator: UserInfo(orgID: "o", userID: "a"), tags: [:]
            )
        }
        #expect(Principal(orgID: "o", user: user, role: role, temporaryGrants: [grant(expiring: 60)]).can("Metric:GetMetric"))
        #expect(!Principal(orgID: "o", user: user, role: role, temporaryGrants: [grant(expiring: -1)]).can("Metric:GetMetric"))
        // Comparing privileges uses the role only.
        #expect(!role.covers(Role(id: "x", name: "x", description: "", frontendView: .client, permissionGrants: [PermissionGrant(permissionName: "Metric:GetMetric")])))
    }

    @Test func noOneGrantsMoreThanTheirRoleAllowsOrToSomeoneWhoDoesNotExist() async throws {
        try await SignedInAdmin.with { admin in
            let pat = try await invite(admin, "Pat", role: "DefaultUserRole")
            let ada = try await invite(admin, "Ada", role: "DefaultAdministratorRole")
            #expect(try await grant(admin, token: ada.token, user: pat.user, permission: "Organization:DeleteOrganization").status == .forbidden)
            #expect(try await grant(admin, token: ada.token, user: pat.user, permission: "Metric:GetMetric").status == .created)
            #expect(try await grant(admin, token: pat.token, user: pat.user, permission: "Metric:GetMetric").status == .forbidden)
            #expect(try await grant(admin, user: ObjectID.generate(), permission: "Metric:GetMetric").status == .notFound)
            #expect(try await grant(admin, user: pat.user, permission: "Metric:GetMetric", duration: "soon").status == .unprocessableContent)
        }
    }
}
