import AmigoWire
import Foundation
import Storage
import StorageTesting
import Testing

/// Simulation documents, versions, runs and archives on every engine (SQLite always; PostgreSQL when configured).
@Suite("Simulation store conformance")
struct SimulationStoreTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    static let ada = UserInfo(orgID: "org", userID: "ada")

    @Test(arguments: TestDatabase.available)
    func aNameIsTakenOnlyByDocumentsThatAreNotDeleted(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("simulation")
            var first = SimulationScenario(id: ObjectID.generate(), name: "Billing", tags: [:], createdAt: Self.start, creator: Self.ada)
            try await store.write { [first] in try await $0.simulations.scenarios.insert(first, id: first.id, orgID: orgID, name: first.name) }
            // A second live document of that name breaks the unique index.
            let second = SimulationScenario(id: ObjectID.generate(), name: "Billing", tags: [:], createdAt: Self.start, creator: Self.ada)
            await #expect(throws: (any Error).self) {
                try await store.write { try await $0.simulations.scenarios.insert(second, id: second.id, orgID: orgID, name: second.name) }
            }
            first.isDeleted = true
            try await store.write { [first] in try await $0.simulations.scenarios.update(first, id: first.id, orgID: orgID, name: first.name, isDeleted: true) }
            try await store.write { try await $0.simulations.scenarios.insert(second, id: second.id, orgID: orgID, name: second.name) }
            let (live, all, elsewhere) = try await store.read { repositories in
                (
                    try await repositories.simulations.scenarios.live(named: "Billing", orgID: orgID),
                    try await repositories.simulations.scenarios.all(orgID: orgID),
                    try await repositories.simulations.scenarios.all(orgID: uniqueOrgID("other"))
                )
            }
            #expect(live?.id == second.id)
            #expect(all.map(\.isDeleted).sorted { !$0 && $1 } == [false, true])
            #expect(elsewhere.isEmpty)
        }
    }

    @Test(arguments: TestDatabase.available)
    func versionsAreNumberedAndSelectedByRange(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("simulation")
            let persona = ObjectID.generate()
            let versions = try await store.write { repositories -> [SimulationPersonaVersion] in
                var made: [SimulationPersonaVersion] = []
                for number in 1...3 {
                    let body = try WireCoding.decoder().decode(SimulationPersonaVersionInput.self, from: Data("""
                        {"background": "v\(number)", "user_models": [], "nonsensitive_user_variables": {}, "sensitive_user_variables": {}}
                        """.utf8))
                    let version = SimulationPersonaVersion(
                        id: ObjectID.generate(), orgID: orgID, createdAt: Self.start, personaID: persona, version: number, body: body, creator: Self.ada
                    )
                    try await repositories.simulations.personaVersions.insert(version, number: number, of: persona, orgID: orgID)
                    made.append(version)
                }
                return made
            }
            let read = try await store.read { repositories in
                let table = repositories.simulations.personaVersions
                return (
                    try await table.latestNumber(of: persona, orgID: orgID),
                    try await table.latest(of: persona, orgID: orgID)?.background,
                    try await table.version(2, of: persona, orgID: orgID)?.background,
                    try await table.versions(of: persona, orgID: orgID, range: 2...3, ascending: false, page: PageRequest(limit: 10, offset: 0)).items.map(\.version),
                    try await table.latestNumber(of: persona, orgID: uniqueOrgID("other"))
                )
            }
            #expect(read.0 == 3 && read.1 == "v3" && read.2 == "v2")
            #expect(read.3 == [3, 2])
            #expect(read.4 == nil)
            #expect(versions.count == 3)
        }
    }

    @Test(arguments: TestDatabase.available)
    func aRunInProgressIsTheCallersUnfinishedRunUntilItEnds(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("simulation")
            let set = ObjectID.generate()
            let run = SimulationUnitTestSetRun(orgID: orgID, id: ObjectID.generate(), setID: set, specs: [], createdAt: Self.start, creator: Self.ada)
            var record = SimulationRunRecord(run: run)
            try await store.write { [record] in try await $0.simulations.insert(record) }
            #expect(try await store.read { try await $0.simulations.unfinishedRun(setID: set, creatorID: "ada", orgID: orgID) }?.run.id == run.id)
            #expect(try await store.read { try await $0.simulations.unfinishedRun(setID: set, creatorID: "bob", orgID: orgID) } == nil)
            record.state = .completed
            record.run.isCompleted = true
            try await store.write { [record] repositories in
                try await repositories.simulations.update(record)
                try await repositories.simulations.saveArtifacts(runID: run.id, orgID: orgID, contentType: "application/x-tar", data: Data([1, 2, 3]))
                try await repositories.simulations.saveArtifacts(runID: run.id, orgID: orgID, contentType: "application/x-tar", data: Data([4, 5]))
            }
            #expect(try await store.read { try await $0.simulations.unfinishedRun(setID: set, creatorID: "ada", orgID: orgID) } == nil)
            #expect(try await store.read { try await $0.simulations.runs(orgID: orgID) }.map(\.run.isCompleted) == [true])
            let archive = try await store.read { try await $0.simulations.artifacts(runID: run.id, orgID: orgID) }
            #expect(archive?.data == Data([4, 5]))
            #expect(try await store.read { try await $0.simulations.artifacts(runID: run.id, orgID: uniqueOrgID("other")) } == nil)
        }
    }
}
