import AmigoWire
import Foundation
import Storage
import Testing
import StorageTesting

/// The dynamic behavior repository on every engine (SQLite always; PostgreSQL when configured).
@Suite("Dynamic behavior store conformance")
struct DynamicBehaviorStoreTests {
    static let engines = TestDatabase.available

    func set(_ orgID: String, name: String = "cough", active: Bool = true) -> DynamicBehaviorSet {
        DynamicBehaviorSet(
            id: ObjectID.generate(), name: name, isActive: active, appliedToServices: [ObjectID.generate()],
            tags: ["team": "care", "draft": nil], createdAt: Date(timeIntervalSince1970: 1_800_000_000),
            creator: UserInfo(orgID: orgID, userID: "u1")
        )
    }

    func version(_ set: DynamicBehaviorSet, _ number: Int, orgID: String, trigger: String) -> DynamicBehaviorSetVersion {
        DynamicBehaviorSetVersion(
            id: ObjectID.generate(), orgID: orgID, setID: set.id, version: number, conversationTriggers: [trigger, "another"],
            actions: [.injectInstruction(instruction: "Ask how long.", overrides: false)],
            creator: UserInfo(orgID: orgID, userID: "u1"), createdAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(number))
        )
    }

    @Test(arguments: engines)
    func theLatestVersionComesBackWithItsTriggerVectorsExactly(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("behaviors")
            let cough = set(orgID)
            let vectors = TriggerVectors(model: "test-embedder", vectors: [[0.5, -1.25, 3e-8], [1, 0, .pi]])
            try await store.write { repositories in
                try await repositories.behaviors.insert(cough, orgID: orgID)
                try await repositories.behaviors.insert(version(cough, 1, orgID: orgID, trigger: "old"), vectors: nil)
                try await repositories.behaviors.insert(version(cough, 2, orgID: orgID, trigger: "new"), vectors: vectors)
            }
            let latest = try await store.read { try await $0.behaviors.latestVersions(of: [cough.id], orgID: orgID) }
            #expect(latest.count == 1)
            #expect(latest.first?.version.version == 2)
            #expect(latest.first?.version.conversationTriggers.first == "new")
            #expect(latest.first?.vectors == vectors)
            #expect(try await store.read { try await $0.behaviors.latestVersion(of: cough.id, orgID: orgID) } == 2)
            #expect(try await store.read { try await $0.behaviors.get(id: cough.id, orgID: orgID) } == cough)
            // Another organization sees nothing of it.
            #expect(try await store.read { try await $0.behaviors.latestVersions(of: [cough.id], orgID: uniqueOrgID("other")) }.isEmpty)
            #expect(try await store.read { try await $0.behaviors.get(id: cough.id, orgID: uniqueOrgID("other")) } == nil)
        }
    }

    @Test(arguments: engines)
    func vectorsOfAnotherModelAreReplaced(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("behaviors")
            let cough = set(orgID)
            try await store.write { repositories in
                try await repositories.behaviors.insert(cough, orgID: orgID)
                try await repositories.behaviors.insert(
                    version(cough, 1, orgID: orgID, trigger: "t"), vectors: TriggerVectors(model: "old", vectors: [[1, 2]])
                )
            }
            let replacement = TriggerVectors(model: "new", vectors: [[3, 4, 5], [6, 7, 8]])
            try await store.write { try await $0.behaviors.setVectors(replacement, setID: cough.id, version: 1, orgID: orgID) }
            #expect(try await store.read { try await $0.behaviors.latestVersions(of: [cough.id], orgID: orgID) }.first?.vectors == replacement)
        }
    }

    @Test(arguments: engines)
    func activeNamesInvocationsAndDeletion(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("behaviors")
            let active = set(orgID)
            let inactive = set(orgID, active: false)
            try await store.write { repositories in
                try await repositories.behaviors.insert(active, orgID: orgID)
                try await repositories.behaviors.insert(inactive, orgID: orgID)
                try await repositories.behaviors.insert(version(active, 1, orgID: orgID, trigger: "t"), vectors: nil)
            }
            #expect(try await store.read { try await $0.behaviors.activeSetExists(named: "cough", orgID: orgID) })
            #expect(try await !store.read { try await $0.behaviors.activeSetExists(named: "cough", orgID: orgID, excluding: active.id) })

            let invocations = (0..<3).map { index in
                DynamicBehaviorInvocation(
                    id: ObjectID.generate(), orgID: orgID, conversationID: "c\(index)", serviceID: "s", userID: "u\(index)",
                    initialMessageID: "m\(index)", agentMessageID: index == 0 ? nil : "a\(index)", agentInnerThoughtsIDs: [],
                    setVersion: VersionInfo(id: active.id, version: 1), invokedAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(10 - index)),
                    externalEventMessageIDs: ["e\(index)"]
                )
            }
            try await store.write { repositories in
                for invocation in invocations { try await repositories.behaviors.insert(invocation) }
            }
            let ascending = try await store.read { try await $0.behaviors.invocations(of: active.id, orgID: orgID, ascending: true) }
            #expect(ascending.map(\.conversationID) == ["c2", "c1", "c0"])
            #expect(ascending.last == invocations[0])

            try await store.write { try await $0.behaviors.delete(id: active.id, orgID: orgID) }
            #expect(try await store.read { try await $0.behaviors.get(id: active.id, orgID: orgID) } == nil)
            #expect(try await store.read { try await $0.behaviors.invocations(of: active.id, orgID: orgID, ascending: true) }.isEmpty)
            #expect(try await store.read { try await $0.behaviors.all(orgID: orgID) }.map(\.id) == [inactive.id])
        }
    }
}
