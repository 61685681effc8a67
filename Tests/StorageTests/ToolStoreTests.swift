import AmigoWire
import Foundation
import Storage
import Testing
import StorageTesting

/// The tool repository on every engine (SQLite always; PostgreSQL when configured).
@Suite("Tool store conformance")
struct ToolStoreTests {
    static let engines = TestDatabase.available

    func tool(_ orgID: String, name: String = "weather", deprecated: Bool = false) -> ToolInstance {
        ToolInstance(
            id: ObjectID.generate(), orgID: orgID, createdAt: Date(timeIntervalSince1970: 1_800_000_000),
            name: name, description: "Looks up the weather", deprecated: deprecated,
            creator: UserInfo(orgID: orgID, userID: "u1")
        )
    }

    func version(_ tool: ToolInstance, _ text: String, deprecated: Bool = false) -> ToolVersionInstance {
        ToolVersionInstance(
            id: ObjectID.generate(), orgID: tool.orgID, createdAt: Date(timeIntervalSince1970: 1_800_000_000),
            toolID: tool.id, version: ToolVersion(text)!, inputSchema: ["type": "object"],
            toolCommitHash: "abc", amigoScaffoldCommitHash: "def", projectDirectory: "weather", lambdaVersion: 1,
            creator: ToolVersionUserInfo(userID: "u1", userOrgID: tool.orgID), deprecated: deprecated
        )
    }

    func invocation(
        _ tool: ToolInstance, _ version: String, at seconds: Double, conversation: String, status: InvocationStatus
    ) -> ToolInvocationInstance {
        ToolInvocationInstance(
            id: ObjectID.generate(), orgID: tool.orgID, createdAt: Date(timeIntervalSince1970: 1_800_000_000 + seconds),
            invocationStatus: status,
            invocationSource: .regularConversation(
                userID: "u1", conversationID: conversation, interactionID: ObjectID.generate(),
                metadata: .engageUser(contextGraph: VersionInfo(id: ObjectID.generate(), version: 1), toolCallRoundIndex: 0)
            ),
            durationMs: 12, toolID: tool.id, toolVersion: ToolVersion(version)!, inputs: ["city": "Paris"]
        )
    }

    @Test(arguments: engines)
    func aNameIsUniqueOnlyAmongToolsThatAreNotDeprecated(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("tools")
            let first = tool(orgID)
            try await store.write { try await $0.tools.insert(first) }
            let clash = tool(orgID)
            await #expect(throws: (any Error).self) { try await store.write { try await $0.tools.insert(clash) } }
            #expect(try await store.read { try await $0.tools.active(named: "weather", orgID: orgID) }?.id == first.id)

            var retired = first
            retired.deprecated = true
            try await store.write { [retired] in try await $0.tools.update(retired) }
            try await store.write { try await $0.tools.insert(clash) }
            let all = try await store.read { try await $0.tools.all(orgID: orgID) }
            #expect(Set(all.map(\.id)) == [first.id, clash.id])
            // Another organization sees none of them.
            #expect(try await store.read { try await $0.tools.get(id: clash.id, orgID: uniqueOrgID("other")) } == nil)
        }
    }

    @Test(arguments: engines)
    func envvarsKeepTheirSecretFlagAndDeletionTime(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let owner = tool(uniqueOrgID("tools"))
            let deleted = Date(timeIntervalSince1970: 1_800_000_100)
            try await store.write { repositories in
                try await repositories.tools.insert(owner)
                try await repositories.tools.save(ToolEnvvarRecord(name: "API_BASE", isSecret: false, value: "https://x"), toolID: owner.id)
                try await repositories.tools.save(ToolEnvvarRecord(name: "API_KEY", isSecret: true, value: "sealed"), toolID: owner.id)
                try await repositories.tools.save(ToolEnvvarRecord(name: "API_KEY", isSecret: true, value: "sealed", deletedAt: deleted), toolID: owner.id)
            }
            let envvars = try await store.read { try await $0.tools.envvars(toolID: owner.id) }
            #expect(envvars == [
                ToolEnvvarRecord(name: "API_BASE", isSecret: false, value: "https://x"),
                ToolEnvvarRecord(name: "API_KEY", isSecret: true, value: "sealed", deletedAt: deleted),
            ])
        }
    }

    @Test(arguments: engines)
    func versionsComeInNumericOrderAndCanBeDeprecated(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let owner = tool(uniqueOrgID("tools"))
            let ten = version(owner, "1.10.0")
            try await store.write { repositories in
                try await repositories.tools.insert(owner)
                for text in ["2.0.0", "1.2.0"] { try await repositories.tools.insert(version(owner, text)) }
                try await repositories.tools.insert(ten)
            }
            var retired = ten
            retired.deprecated = true
            try await store.write { [retired] in try await $0.tools.update(retired) }
            let versions = try await store.read { try await $0.tools.versions(toolID: owner.id, orgID: owner.orgID) }
            #expect(versions.map(\.version.description) == ["1.2.0", "1.10.0", "2.0.0"])
            #expect(versions.map(\.deprecated) == [false, true, false])
        }
    }

    @Test(arguments: engines)
    func invocationsAreFilteredSortedPagedAndSearched(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let owner = tool(uniqueOrgID("tools"))
            let conversation = ObjectID.generate()
            let records = [
                invocation(owner, "1.0.0", at: 1, conversation: conversation, status: .succeeded(output: "Sunny in Paris")),
                invocation(owner, "1.1.0", at: 2, conversation: ObjectID.generate(), status: .failed(ToolFailure(
                    exceptionMessage: "the tool did not finish within 30 s", exceptionType: "ToolTimeout"
                ))),
                invocation(owner, "1.1.0", at: 3, conversation: conversation, status: .succeeded(output: "Rain 100%")),
            ]
            try await store.write { repositories in
                for record in records { try await repositories.tools.insert(record) }
            }
            let newest = SortKey(column: "created_at", ascending: false)
            let page = PageRequest(limit: 2, offset: 0)
            let first = try await store.read {
                try await $0.tools.invocations(orgID: owner.orgID, filter: ToolInvocationFilter(toolIDs: [owner.id]), sort: [newest], page: page)
            }
            #expect(first.items.map(\.id) == [records[2].id, records[1].id])
            #expect(first.hasMore)

            let inConversation = try await store.read {
                try await $0.tools.invocations(
                    orgID: owner.orgID, filter: ToolInvocationFilter(conversationIDs: [conversation], succeeded: true), sort: [], page: page
                )
            }
            #expect(Set(inConversation.items.map(\.id)) == [records[0].id, records[2].id])

            let timeouts = try await store.read {
                try await $0.tools.invocations(
                    orgID: owner.orgID, filter: ToolInvocationFilter(text: "TIMEOUT", searchFields: ["exception_type"]), sort: [], page: page
                )
            }
            #expect(timeouts.items.map(\.id) == [records[1].id])
            // `%` in a search is a character, not a wildcard.
            let percent = try await store.read {
                try await $0.tools.invocations(orgID: owner.orgID, filter: ToolInvocationFilter(text: "100%"), sort: [], page: page)
            }
            #expect(percent.items.map(\.id) == [records[2].id])

            let onlyNew = try await store.read {
                try await $0.tools.invocations(
                    orgID: owner.orgID, filter: ToolInvocationFilter(), sort: [], page: page,
                    matches: { $0.toolVersion == ToolVersion("1.1.0") }
                )
            }
            #expect(Set(onlyNew.items.map(\.id)) == [records[1].id, records[2].id])

            let elsewhere = try await store.read {
                try await $0.tools.invocations(orgID: uniqueOrgID("other"), filter: ToolInvocationFilter(), sort: [], page: page)
            }
            #expect(elsewhere.items.isEmpty)
        }
    }
}
