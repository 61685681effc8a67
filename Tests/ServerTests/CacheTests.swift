import AmigoWire
import CompadreTesting
import Engine
import EngineTesting
import Foundation
import HTTPTypes
import Platform
import Server
import Storage
import StorageTesting
import Synchronization
import Testing

/// The caller of a token and the service listing are cached; what a user changes must still show at once
/// on the replica that changed it, and within the cache's lifetime (1 s) on every other.
@Suite("Caches")
struct CacheTests {
    @Test(arguments: TestDatabase.available)
    func roleChangesDeletedUsersAndDeletedKeysTakeEffectOnTheNextRequest(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let admin = try await server.bootstrap()
            let org = admin.organizationID
            try await server.test { client in
                let adminToken = try await client.signIn(admin)
                let invited = try await client.call(.post, "/v1/\(org)/user/", token: adminToken, json: [
                    "first_name": "Ada", "last_name": "Admin", "email": "ada@example.com", "role_name": "DefaultAdministratorRole",
                ])
                let adaID = try invited.object()["user_id"] as! String
                let adaToken = try await client.signIn(org: org, keyID: admin.apiKeyID, key: admin.apiKey, userID: adaID)
                #expect(try await client.call(.get, "/v1/\(org)/organization/api_key/", token: adaToken).status == .ok)

                let demoted = try await client.call(.post, "/v1/\(org)/role/DefaultUserRole/assign", token: adminToken, json: ["user_id": adaID])
                #expect(demoted.status.code < 300, "\(demoted.text)")
                #expect(try await client.call(.get, "/v1/\(org)/organization/api_key/", token: adaToken).status == .forbidden)

                #expect(try await client.call(.delete, "/v1/\(org)/user/\(adaID)", token: adminToken).status.code < 300)
                #expect(try await client.call(.get, "/v1/\(org)/service/", token: adaToken).status == .unauthorized)

                // A token signed in with a key ends with the key.
                let created = try await client.call(.post, "/v1/\(org)/organization/api_key/", token: adminToken,
                                                    json: ["name": "short-lived", "duration": "P1D", "role_name": "DefaultSuperAdministratorRole"]).object()
                let keyID = created["api_key_id"] as! String
                let keyToken = try await client.signIn(org: org, keyID: keyID, key: created["api_key"] as! String, userID: admin.userID)
                #expect(try await client.call(.get, "/v1/\(org)/service/", token: keyToken).status == .ok)
                #expect(try await client.call(.delete, "/v1/\(org)/organization/api_key/\(keyID)/", token: adminToken).status.code < 300)
                #expect(try await client.call(.get, "/v1/\(org)/service/", token: keyToken).status == .unauthorized)
                #expect(try await client.call(.get, "/v1/\(org)/service/", token: adminToken).status == .ok)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func aNewServiceIsListedAtOnce(engine: TestDatabase) async throws {
        try await engine.with { database in
            let server = try await TestServer(database: database)
            let admin = try await server.bootstrap()
            let org = admin.organizationID
            try await server.test { client in
                let token = try await client.signIn(admin)
                _ = try await makeService(client, org: org, token: token, name: "first")
                let before = try await client.call(.get, "/v1/\(org)/service/", token: token).object()["services"] as? [[String: Any]]
                #expect(before?.count == 1)
                let (_, _, second) = try await makeService(client, org: org, token: token, name: "second")
                let after = try await client.call(.get, "/v1/\(org)/service/", token: token).object()["services"] as? [[String: Any]]
                #expect(after?.compactMap { $0["id"] as? String }.contains(second) == true)
                #expect(try await client.call(.post, "/v1/\(org)/service/\(second)/", token: token, json: ["is_active": false]).status == .ok)
                let inactive = try await client.call(.get, "/v1/\(org)/service/?is_active=false", token: token).object()["services"] as? [[String: Any]]
                #expect(inactive?.compactMap { $0["id"] as? String } == [second])
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func anotherReplicasChangesShowOnceTheCacheLifetimePassed(engine: TestDatabase) async throws {
        try await engine.with { database in
            let writer = try await TestServer(database: database)
            let clock = ManualClock()
            let reader = try await TestServer(database: database, cacheClock: AnyClock(clock))
            let admin = try await writer.bootstrap()
            let org = admin.organizationID
            try await writer.test { writing in
                try await reader.test { reading in
                    let token = try await writing.signIn(admin)
                    _ = try await makeService(writing, org: org, token: token, name: "first")
                    let first = try await reading.call(.get, "/v1/\(org)/service/", token: token).object()["services"] as? [[String: Any]]
                    #expect(first?.count == 1)
                    _ = try await makeService(writing, org: org, token: token, name: "second")
                    #expect(try await writing.call(.delete, "/v1/\(org)/organization/api_key/\(admin.apiKeyID)/", token: token).status.code < 300)

                    clock.advance(by: .seconds(1))
                    let listed = try await reading.call(.get, "/v1/\(org)/service/", token: token)
                    #expect(listed.status == .unauthorized, "the token's API key was deleted on the other replica")
                    let other = try await writer.bootstrap()
                    let otherToken = try await reading.signIn(other)
                    #expect(try await reading.call(.get, "/v1/\(other.organizationID)/service/", token: otherToken).status == .ok)
                }
            }
        }
    }
}

@Suite("Organization cache")
struct OrganizationCacheTests {
    static func role(_ name: String) -> Role {
        Role(id: ObjectID.generate(), name: name, description: "", frontendView: .client, permissionGrants: [])
    }

    @Test func anEntryIsReloadedWhenItsOrganizationChangesOrItsLifetimeEnds() async throws {
        try await TestDatabase.sqlite.with { database in
            let store = Store(database: database)
            let clock = ManualClock()
            let cache = OrganizationCache<String, Int>(generations: store.generations, lifetime: .seconds(1), clock: AnyClock(clock))
            let loads = LoadCounter()
            @Sendable func read() async throws -> Int { try await cache.value("k", orgID: "acme") { loads.next() } }
            #expect(try await read() == 1)
            clock.advance(by: .milliseconds(400))
            #expect(try await read() == 1)
            #expect(loads.count == 1, "a young entry is used as it is")
            clock.advance(by: .milliseconds(2000))
            #expect(try await read() == 2, "an entry older than its lifetime is read again")
            try await store.write { try await $0.roles.insert(Self.role("r"), orgID: "other") }
            #expect(try await read() == 2, "another organization's change keeps the entry")
            try await store.write { try await $0.roles.insert(Self.role("s"), orgID: "acme") }
            #expect(try await read() == 3, "a committed change of the organization reloads it")
            _ = try? await store.write { repositories -> Void in
                try await repositories.roles.insert(Self.role("t"), orgID: "acme")
                throw CancellationError()
            }
            #expect(try await read() == 3, "a rolled-back write changes nothing")
        }
    }

    @Test func requestsThatMissTogetherShareOneLoadAndAFailedLoadStoresNothing() async throws {
        let generations = OrganizationGenerations()
        let cache = OrganizationCache<String, Int>(generations: generations, lifetime: .seconds(1), clock: AnyClock(ManualClock()))
        let gate = ManualClock()
        let loads = LoadCounter()
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    try await cache.value("k", orgID: "acme") {
                        let value = loads.next()
                        try await gate.sleep(for: .seconds(1))
                        return value
                    }
                }
            }
            await gate.sleepers(atLeast: 1)
            gate.advance(by: .seconds(1))
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(values == Array(repeating: 1, count: 10))
        #expect(loads.count == 1)

        struct Unreachable: Error {}
        await #expect(throws: Unreachable.self) {
            try await cache.value("failing", orgID: "acme") { throw Unreachable() }
        }
        #expect(try await cache.value("failing", orgID: "acme") { 7 } == 7, "a failed load is not remembered")
    }

    @Test func aBusyEntryIsRefreshedInTheBackgroundWhileItIsStillUsed() async throws {
        let clock = ManualClock()
        let cache = OrganizationCache<String, Int>(generations: OrganizationGenerations(), lifetime: .seconds(1), clock: AnyClock(clock))
        let loads = LoadCounter()
        let gate = ManualClock()
        @Sendable func read() async throws -> Int {
            try await cache.value("k", orgID: "acme") {
                let value = loads.next()
                if value > 1 { try await gate.sleep(for: .seconds(1)) }
                return value
            }
        }
        #expect(try await read() == 1)
        clock.advance(by: .milliseconds(600))
        #expect(try await read() == 1, "past half its lifetime the entry is still answered at once")
        await gate.sleepers(atLeast: 1)
        #expect(loads.count == 2, "and reloaded in the background")
        gate.advance(by: .seconds(1))
        clock.advance(by: .milliseconds(400))
        #expect(try await read() == 2, "once the first entry expired, the refreshed one is used")
    }
}

private final class LoadCounter: Sendable {
    private let loads = Synchronization.Mutex(0)
    func next() -> Int { loads.withLock { $0 += 1; return $0 } }
    var count: Int { loads.withLock { $0 } }
}

@Suite("Conversation history")
struct ConversationHistoryTests {
    @Test(arguments: TestDatabase.available)
    func aReplicaSeesTheMessagesAnotherReplicaAddedToItsConversation(engine: TestDatabase) async throws {
        try await engine.with { database in
            let modelA = ScriptedModel(defaultReply: ["Reply from A."])
            let modelB = ScriptedModel(defaultReply: ["Reply from B."])
            let a = try await TestServer(database: database, model: modelA)
            let b = try await TestServer(database: database, model: modelB)
            try await a.test { clientA in
                try await b.test { clientB in
                    let setup = try await ConversationSetup.make(a, clientA)
                    let id = try conversationID(of: try await setup.create(clientA))
                    for (client, text) in [(clientA, "First on A"), (clientB, "Then on B"), (clientA, "Back on A")] {
                        let answer = try await client.interact(org: setup.org, conversation: id, token: setup.token, text: text)
                        #expect(answer.status == .ok, "\(answer.text)")
                    }
                    let lastPrompt = modelA.requests.last.map { String(describing: $0.messages) } ?? ""
                    #expect(lastPrompt.contains("Then on B") && lastPrompt.contains("Reply from B."), "A's last prompt should hold B's turn")
                    #expect(lastPrompt.contains("First on A") && lastPrompt.contains("Back on A"))
                }
            }
        }
    }
}
