import AmigoWire
import Foundation
import Logging
import Storage
import Testing
import StorageTesting

/// One suite every storage engine must pass (SQLite always; PostgreSQL when COMPADRE_TEST_POSTGRES_URL is set).
@Suite("Store conformance")
struct StoreConformanceTests {
    static let engines = TestDatabase.available

    private func makeUser(_ orgID: String, _ first: String, _ email: String) -> User {
        User(orgID: orgID, userID: ObjectID.generate(), firstName: first, lastName: "Tester", email: email, roleID: "role", createdAt: Date())
    }

    @Test(arguments: engines)
    func applyingMigrationsAgainIsANoOp(engine: TestDatabase) async throws {
        try await engine.with { database in
            let logger = Logger(label: "test")
            let check1 = try await Migrations.apply(to: database, logger: logger).isEmpty
            #expect(check1)
            let check2 = try await Migrations.appliedVersions(in: database).last
            #expect(check2 == Migrations.latestVersion)
        }
    }

    @Test(arguments: engines)
    func aWriteCancelledMidTransactionIsWholeOrAbsentAndLaterWritesWork(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let id = uniqueOrgID()
            let cut = Task {
                try await store.write { repositories in
                    try await repositories.organizations.insert(Organization(orgID: id, orgName: "Cut", title: "Cut", mainDescription: "", subDescription: ""))
                    // The task is cancelled between two statements, as a realtime socket closing cancels its turn.
                    withUnsafeCurrentTask { $0?.cancel() }
                    try await repositories.organizations.insert(Organization(orgID: id + "b", orgName: "Cut", title: "Cut", mainDescription: "", subDescription: ""))
                }
            }
            _ = try? await cut.value
            // SQLite drops a cancelled task's statements (so the transaction rolls back); PostgreSQL runs
            // them. Either way the transaction is whole or absent.
            let first = try await store.read { try await $0.organizations.get(id) } != nil
            let second = try await store.read { try await $0.organizations.get(id + "b") } != nil
            #expect(first == second, "a transaction is stored whole or not at all")
            let other = uniqueOrgID()
            try await store.write { try await $0.organizations.insert(Organization(orgID: other, orgName: "Next", title: "Next", mainDescription: "", subDescription: "")) }
            #expect(try await store.read { try await $0.organizations.get(other) } != nil, "the next write works")
        }
    }

    @Test(arguments: engines)
    func organizationsRoundTripAndUpdate(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let id = uniqueOrgID()
            let original = Organization(orgID: id, orgName: "Acme", title: "Acme", mainDescription: "main", subDescription: "sub")
            try await store.write { try await $0.organizations.insert(original) }
            var renamed = original
            renamed.title = "Acme Health"
            let organization = renamed
            try await store.write { try await $0.organizations.update(organization) }
            let read = try await store.read { try await $0.organizations.get(id) }
            #expect(read == organization)
            let check3 = try await store.read { try await $0.organizations.get(uniqueOrgID()) }
            #expect(check3 == nil)
        }
    }

    @Test(arguments: engines)
    func usersOfOneOrganizationAreInvisibleToAnother(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let (a, b) = (uniqueOrgID("a"), uniqueOrgID("b"))
            let user = makeUser(a, "Ada", "ada@example.com")
            try await store.write { try await $0.users.insert(user) }
            try await store.read { repositories in
                let check4 = try await repositories.users.get(id: user.userID, orgID: a)?.email
                #expect(check4 == user.email)
                let check5 = try await repositories.users.get(id: user.userID, orgID: b)
                #expect(check5 == nil)
                let check6 = try await repositories.users.find(email: "ADA@example.com", orgID: a)?.userID
                #expect(check6 == user.userID)
                let check7 = try await repositories.users.find(email: "ada@example.com", orgID: b)
                #expect(check7 == nil)
                let check8 = try await repositories.users.list(orgID: b, filter: UserFilter(), sort: [], page: PageRequest(limit: 10, offset: 0)).items.isEmpty
                #expect(check8)
                let check9 = try await repositories.users.search(orgID: b, text: "ada", ids: [], limit: 10).isEmpty
                #expect(check9)
            }
        }
    }

    @Test(arguments: engines)
    func pagesReportWhetherMoreFollow(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let org = uniqueOrgID()
            func page(_ limit: Int, _ offset: Int) async throws -> PageResult<(User, UserStats)> {
                try await store.read { try await $0.users.list(orgID: org, filter: UserFilter(), sort: [SortKey(column: "email", ascending: true)], page: PageRequest(limit: limit, offset: offset)) }
            }
            let empty = try await page(2, 0)
            #expect(empty.items.isEmpty && !empty.hasMore && empty.nextToken == nil)
            for (index, name) in ["carol", "alice", "bob", "dave"].enumerated() {
                try await store.write { try await $0.users.insert(self.makeUser(org, name, "\(name)\(index)@example.com")) }
            }
            let exact = try await page(4, 0)
            #expect(exact.items.count == 4 && !exact.hasMore && exact.nextToken == nil)
            let first = try await page(3, 0)
            #expect(first.items.map(\.0.firstName) == ["alice", "bob", "carol"] && first.hasMore && first.nextToken == 3)
            let last = try await page(3, 3)
            #expect(last.items.map(\.0.firstName) == ["dave"] && !last.hasMore && last.nextToken == nil)
        }
    }

    @Test(arguments: engines)
    func searchMatchesNamesAndEmailsCaseInsensitively(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let org = uniqueOrgID()
            try await store.write { repositories in
                try await repositories.users.insert(self.makeUser(org, "Grace", "hopper@navy.mil"))
                try await repositories.users.insert(self.makeUser(org, "Alan", "turing@bletchley.uk"))
                try await repositories.users.insert(self.makeUser(org, "Percent", "100%@example.com"))
            }
            let byName = try await store.read { try await $0.users.search(orgID: org, text: "GRA", ids: [], limit: 10) }
            #expect(byName.map(\.0.firstName) == ["Grace"])
            let byEmail = try await store.read { try await $0.users.search(orgID: org, text: "bletchley", ids: [], limit: 10) }
            #expect(byEmail.map(\.0.firstName) == ["Alan"])
            let wildcard = try await store.read { try await $0.users.search(orgID: org, text: "0%", ids: [], limit: 10) }
            #expect(wildcard.map(\.0.firstName) == ["Percent"])
        }
    }

    @Test(arguments: engines)
    func versionsAreNumberedAndSelectableByRange(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let org = uniqueOrgID()
            let agent = VersionedResourceInstance(id: ObjectID.generate(), name: "Concierge", deprecated: false, latestVersion: nil)
            let creator = UserInfo(orgID: org, userID: "u")
            try await store.write { repositories in
                try await repositories.agents.insert(agent, orgID: org)
                var previous: AgentVersion?
                for number in 1...3 {
                    let request = try WireCoding.decoder().decode(AgentVersionRequest.self, from: Data("""
                    {"initials":"AG","background":"v\(number)","behaviors":[],"communication_patterns":[],
                     "identity":{"name":"A","role":"r","developed_by":"d","default_spoken_language":"eng",
                       "relationship_to_developer":{"ownership":"o","type":"t","conversation_visibility":"c","thought_visibility":"t"}}}
                    """.utf8))
                    let version = AgentVersion(id: ObjectID.generate(), agentID: agent.id, version: number, request: request, previous: previous, creator: creator, createdAt: Date())!
                    try await repositories.agents.insertVersion(version, number: number, of: agent.id, orgID: org)
                    previous = version
                }
            }
            try await store.read { repositories in
                let check10 = try await repositories.agents.get(id: agent.id, orgID: org)?.latestVersion
                #expect(check10 == 3)
                let middle = try await repositories.agents.versions(of: agent.id, orgID: org, range: 2...3, ascending: false, page: PageRequest(limit: 10, offset: 0))
                #expect(middle.items.map(\.version) == [3, 2])
                let check11 = try await repositories.agents.version(1, of: agent.id, orgID: org)?.background
                #expect(check11 == "v1")
                let check12 = try await repositories.agents.version(1, of: agent.id, orgID: uniqueOrgID())
                #expect(check12 == nil)
            }
        }
    }

    @Test(arguments: engines)
    func servicesFilterByActivityAndTags(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let org = uniqueOrgID()
            let creator = UserInfo(orgID: org, userID: "u")
            @Sendable func service(_ name: String, active: Bool, tags: [AmigoWire.Tag]) -> Service {
                Service(id: ObjectID.generate(), name: name, versionSets: ["edge": .edge], description: "d", isActive: active,
                        contextGraphID: ObjectID.generate(), agentID: ObjectID.generate(), tags: tags, keyterms: [], creator: creator)
            }
            try await store.write { repositories in
                try await repositories.services.insert(service("intake", active: true, tags: [AmigoWire.Tag(key: "team", value: "care")]), orgID: org)
                try await repositories.services.insert(service("billing", active: false, tags: [AmigoWire.Tag(key: "team", value: "money")]), orgID: org)
                try await repositories.services.insert(service("triage", active: true, tags: [AmigoWire.Tag(key: "beta", value: nil)]), orgID: org)
            }
            func names(_ filter: ServiceFilter) async throws -> [String] {
                try await store.read { try await $0.services.list(orgID: org, filter: filter, sort: [SortKey(column: "name", ascending: true)], page: PageRequest(limit: 10, offset: 0)) }.items.map(\.name)
            }
            let check13 = try await names(ServiceFilter(isActive: true))
            #expect(check13 == ["intake", "triage"])
            let check14 = try await names(ServiceFilter(tags: ["team:*"]))
            #expect(check14 == ["billing", "intake"])
            let check15 = try await names(ServiceFilter(tags: ["team:care"]))
            #expect(check15 == ["intake"])
            let check16 = try await names(ServiceFilter(tags: ["beta:"]))
            #expect(check16 == ["triage"])
            let check17 = try await store.read { try await $0.services.tagValues(orgID: org) }
            #expect(check17 == ["beta:", "team:care", "team:money"])
            let check18 = try await store.read { try await $0.services.activeServiceExists(name: "intake", orgID: org) }
            #expect(check18)
            let check19 = try await store.read { try await $0.services.activeServiceExists(name: "billing", orgID: org) }
            #expect(!check19)
        }
    }

    @Test(arguments: engines)
    func aFailedTransactionLeavesNothingBehind(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let org = uniqueOrgID()
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await store.write { repositories in
                    try await repositories.organizations.insert(Organization(orgID: org, orgName: "x", title: "x", mainDescription: "x", subDescription: "x"))
                    throw Boom()
                }
            }
            let check20 = try await store.read { try await $0.organizations.get(org) }
            #expect(check20 == nil)
        }
    }

    @Test(arguments: engines)
    func concurrentWritesAllLand(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let org = uniqueOrgID()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<40 {
                    group.addTask { try await store.write { try await $0.users.insert(self.makeUser(org, "u\(index)", "u\(index)@example.com")) } }
                }
                try await group.waitForAll()
            }
            let all = try await store.read { try await $0.users.list(orgID: org, filter: UserFilter(), sort: [], page: PageRequest(limit: 100, offset: 0)) }
            #expect(all.items.count == 40)
        }
    }

    @Test(arguments: engines)
    func theFirstStoredSettingWins(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let key = "secret-\(UUID().uuidString)"
            let check21 = try await store.write { try await $0.settings.valueInsertingIfAbsent("first", for: key) }
            #expect(check21 == "first")
            let check22 = try await store.write { try await $0.settings.valueInsertingIfAbsent("second", for: key) }
            #expect(check22 == "first")
        }
    }
}

@Suite("SQLite file")
struct SQLiteFileTests {
    @Test func administratorsOfAnOrganizationMadeBeforeDynamicBehaviorsGainTheirPermissionsOnUpgrade() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("compadre-upgrade-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let logger = Logger(label: "test")
        let org = uniqueOrgID()
        let database = try await SQLiteDatabase.open(path: path, logger: logger)
        try await Migrations.apply(to: database, logger: logger, through: 8)
        let old = [PermissionGrant(permissionName: "Service:GetService"), PermissionGrant(permissionName: "DynamicBehaviorInstruction:GetDynamicBehaviorInstruction")]
        let admin = Role(id: ObjectID.generate(), name: "DefaultAdministratorRole", description: "", frontendView: .admin, permissionGrants: old)
        let custom = Role(id: ObjectID.generate(), name: "Auditor", description: "", frontendView: .admin, permissionGrants: old)
        try await Store(database: database).write {
            try await $0.roles.insert(admin, orgID: org)
            try await $0.roles.insert(custom, orgID: org)
        }
        #expect(try await Migrations.apply(to: database, logger: logger, through: 9) == [9])
        let upgraded = try await Store(database: database).read { try await $0.roles.get(id: admin.id, orgID: org) }
        let names = try #require(upgraded).permissionGrants.map(\.permissionName)
        // The one it had stays once; the three it lacked are added; nothing else changes.
        #expect(names == [
            "Service:GetService", "DynamicBehaviorInstruction:GetDynamicBehaviorInstruction",
            "DynamicBehaviorInstruction:CreateDynamicBehaviorInstruction", "DynamicBehaviorInstruction:UpdateDynamicBehaviorInstruction",
            "DynamicBehaviorInstruction:DeleteDynamicBehaviorInstruction",
        ])
        // A role of the organization's own is its administrators' business.
        #expect(try await Store(database: database).read { try await $0.roles.get(id: custom.id, orgID: org) }?.permissionGrants == old)
        try await database.close()
    }

    @Test func recordsSurviveClosingAndReopeningTheFile() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("compadre-reopen-\(UUID().uuidString).sqlite").path
        let logger = Logger(label: "test")
        let org = uniqueOrgID()
        let first = try await SQLiteDatabase.open(path: path, logger: logger)
        let check23 = try await Migrations.apply(to: first, logger: logger)
        #expect(check23 == Array(1...Migrations.latestVersion))
        try await Store(database: first).write {
            try await $0.organizations.insert(Organization(orgID: org, orgName: "Kept", title: "Kept", mainDescription: "m", subDescription: "s"))
        }
        try await first.close()
        let second = try await SQLiteDatabase.open(path: path, logger: logger)
        let check24 = try await Migrations.apply(to: second, logger: logger).isEmpty
        #expect(check24)
        let check25 = try await Store(database: second).read { try await $0.organizations.get(org) }?.title
        #expect(check25 == "Kept")
        try await second.close()
    }
}
