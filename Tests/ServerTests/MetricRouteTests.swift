import AmigoWire
import CompadreTesting
import Foundation
import HTTPTypes
import Platform
import Testing

/// Metrics: create, list, search, update and soft delete, in process.
@Suite("Metric routes")
struct MetricRouteTests {
    static func body(
        name: String = "Resolved", description: String = "Whether the user's issue was resolved", services: [String] = [],
        value: [String: Any] = ["type": "boolean"], tags: [String: Any] = ["team": "care"]
    ) -> [String: Any] {
        ["name": name, "description": description, "applied_to_services": services, "additional_notes": "Judge the end.", "tags": tags, "metric_value": value]
    }

    func create(_ admin: SignedInAdmin, _ body: [String: Any]) async throws -> String {
        let answer = try await admin.client.call(.post, "/v1/\(admin.org)/metric/", token: admin.token, json: body)
        #expect(answer.status == .created, "\(answer.text)")
        return try answer.object()["id"] as? String ?? ""
    }

    func list(_ admin: SignedInAdmin, _ query: String = "") async throws -> [[String: Any]] {
        try await admin.client.call(.get, "/v1/\(admin.org)/metric/\(query)", token: admin.token).object()["metrics"] as? [[String: Any]] ?? []
    }

    @Test func metricsOfTheThreeTypesAreCreatedAndListedWithTheirFilters() async throws {
        try await SignedInAdmin.with { admin in
            let service = try await makeService(admin.client, org: admin.org, token: admin.token).service
            let resolved = try await create(admin, Self.body(services: [service]))
            let satisfaction = try await create(admin, Self.body(
                name: "Satisfaction", description: "How satisfied the user sounds", value: ["type": "numerical", "lower_bound": 1, "upper_bound": 5],
                tags: ["team": "quality"]
            ))
            let topic = try await create(admin, Self.body(
                name: "Topic", description: "What the conversation was about", value: ["type": "categorical", "categories": [" billing ", "booking", "billing"]]
            ))
            let all = try await list(admin)
            #expect(all.map { $0["id"] as? String } == [resolved, satisfaction, topic])
            let first = try #require(all.first)
            #expect(first["org_id"] as? String == admin.org)
            #expect(first["applied_to_services"] as? [String] == [service])
            #expect(first["additional_notes"] as? String == "Judge the end.")
            #expect(first["is_deleted"] as? Bool == false)
            #expect((first["creator"] as? [String: Any])?["user_id"] as? String == admin.credentials.userID)
            #expect((all[2]["metric_value"] as? [String: Any])?["categories"] as? [String] == ["billing", "booking"])
            #expect((all[1]["metric_value"] as? [String: Any])?["upper_bound"] as? Double == 5)

            #expect(try await list(admin, "?type=numerical").map { $0["id"] as? String } == [satisfaction])
            #expect(try await list(admin, "?tag=team:quality").map { $0["id"] as? String } == [satisfaction])
            #expect(try await list(admin, "?applied_to_service=\(service)").map { $0["id"] as? String } == [resolved])
            let page = try await admin.client.call(.get, "/v1/\(admin.org)/metric/?limit=2", token: admin.token).object()
            #expect(page["has_more"] as? Bool == true)
            #expect(page["continuation_token"] as? Int == 2)
            let filterValues = page["filter_values"] as? [String: Any]
            #expect(filterValues?["types"] as? [String] == ["boolean", "categorical", "numerical"])
            #expect(filterValues?["tags"] as? [String] == ["team"])
        }
    }

    @Test func aNameIsTakenUntilItsMetricIsDeletedAndBadValuesAreRefused() async throws {
        try await SignedInAdmin.with { admin in
            let id = try await create(admin, Self.body())
            let duplicate = try await admin.client.call(.post, "/v1/\(admin.org)/metric/", token: admin.token, json: Self.body())
            #expect(duplicate.status == .conflict)
            for value: [String: Any] in [
                ["type": "numerical", "lower_bound": 5, "upper_bound": 1], ["type": "categorical", "categories": [String]()],
                ["type": "percent"],
            ] {
                let refused = try await admin.client.call(.post, "/v1/\(admin.org)/metric/", token: admin.token, json: Self.body(name: "Other", value: value))
                #expect(refused.status == .unprocessableContent, "\(value): \(refused.text)")
            }
            let unknownService = try await admin.client.call(
                .post, "/v1/\(admin.org)/metric/", token: admin.token, json: Self.body(name: "Other", services: [ObjectID.generate()])
            )
            #expect(unknownService.status == .notFound)
            #expect(try await list(admin).count == 1)

            let deleted = try await admin.client.call(.delete, "/v1/\(admin.org)/metric/\(id)/", token: admin.token)
            #expect(deleted.status == .ok)
            // Still readable by id, marked deleted; no longer changeable; its name is free.
            let kept = try await list(admin, "?id=\(id)")
            #expect(kept.first?["is_deleted"] as? Bool == true)
            #expect(try await list(admin, "?is_deleted=false").isEmpty)
            #expect(try await admin.client.call(.post, "/v1/\(admin.org)/metric/\(id)/", token: admin.token, json: ["description": "x"]).status == .notFound)
            #expect(try await admin.client.call(.delete, "/v1/\(admin.org)/metric/\(id)/", token: admin.token).status == .notFound)
            _ = try await create(admin, Self.body())
        }
    }

    @Test func anUpdateChangesWhatMayChangeAndNullNotesAreErased() async throws {
        try await SignedInAdmin.with { admin in
            let id = try await create(admin, Self.body())
            let updated = try await admin.client.call(.post, "/v1/\(admin.org)/metric/\(id)/", token: admin.token, json: [
                "description": "Whether the issue was solved", "tags": ["team": NSNull()], "name": "ignored", "metric_value": ["type": "numerical"],
            ])
            #expect(updated.status == .ok, "\(updated.text)")
            var stored = try #require(try await list(admin).first)
            #expect(stored["description"] as? String == "Whether the issue was solved")
            #expect(stored["name"] as? String == "Resolved")
            #expect((stored["metric_value"] as? [String: Any])?["type"] as? String == "boolean")
            #expect(stored["additional_notes"] as? String == "Judge the end.")
            #expect((stored["tags"] as? [[String: Any]])?.first?["value"] is NSNull)
            _ = try await admin.client.call(.post, "/v1/\(admin.org)/metric/\(id)/", token: admin.token, json: ["additional_notes": NSNull()])
            stored = try #require(try await list(admin).first)
            #expect(stored["additional_notes"] is NSNull)
        }
    }

    @Test func searchRanksNameMatchesAboveDescriptionMatches() async throws {
        try await SignedInAdmin.with { admin in
            let byDescription = try await create(admin, Self.body(name: "Outcome", description: "Whether the booking succeeded"))
            let byName = try await create(admin, Self.body(name: "Booking made", description: "A visit was booked"))
            _ = try await create(admin, Self.body(name: "Tone", description: "How polite the agent was"))
            let found = try await admin.client.call(.get, "/v1/\(admin.org)/metric/search/?query=booking", token: admin.token).object()
            let metrics = found["metrics"] as? [[String: Any]] ?? []
            #expect(metrics.map { $0["_id"] as? String } == [byName, byDescription])
            #expect(try await admin.client.call(.get, "/v1/\(admin.org)/metric/search/", token: admin.token).status == .unprocessableContent)
        }
    }

    @Test func aPlainUserCannotCreateOrSeeMetrics() async throws {
        try await SignedInAdmin.with { admin in
            let id = try await create(admin, Self.body())
            let invited = try await admin.client.call(.post, "/v1/\(admin.org)/user/", token: admin.token, json: [
                "first_name": "Pat", "last_name": "Doe", "email": "pat@example.com", "role_name": "DefaultUserRole",
            ])
            let user = try invited.object()["user_id"] as? String ?? ""
            let token = try await admin.client.signIn(org: admin.org, keyID: admin.credentials.apiKeyID, key: admin.credentials.apiKey, userID: user)
            #expect(try await admin.client.call(.post, "/v1/\(admin.org)/metric/", token: token, json: Self.body(name: "Mine")).status == .forbidden)
            let listed = try await admin.client.call(.get, "/v1/\(admin.org)/metric/", token: token).object()
            #expect((listed["metrics"] as? [Any])?.isEmpty == true)
            #expect(try await admin.client.call(.post, "/v1/\(admin.org)/metric/\(id)/", token: token, json: ["description": "x"]).status == .forbidden)
            #expect(try await admin.client.call(.delete, "/v1/\(admin.org)/metric/\(id)/", token: token).status == .forbidden)
        }
    }
}
