import AmigoWire
import Foundation
import SQLKit

/// Simulations: personas and scenarios with their versions, unit tests, unit test sets, runs and the
/// runs' artifacts. Deletion is soft for all but sets; a deleted document keeps its id, its name is free.
public struct SimulationRepository: Sendable {
    let sql: any SQLDatabase

    public var personas: NamedDocuments<SimulationPersona> { NamedDocuments(sql: sql, table: "simulation_personas") }
    public var personaVersions: DocumentVersions<SimulationPersonaVersion> {
        DocumentVersions(sql: sql, table: "simulation_persona_versions")
    }
    public var scenarios: NamedDocuments<SimulationScenario> { NamedDocuments(sql: sql, table: "simulation_scenarios") }
    public var scenarioVersions: DocumentVersions<SimulationScenarioVersion> {
        DocumentVersions(sql: sql, table: "simulation_scenario_versions")
    }
    public var unitTests: NamedDocuments<SimulationUnitTest> { NamedDocuments(sql: sql, table: "simulation_unit_tests") }
    public var unitTestSets: NamedDocuments<SimulationUnitTestSet> { NamedDocuments(sql: sql, table: "simulation_unit_test_sets") }

    // MARK: - Runs

    public func insert(_ run: SimulationRunRecord) async throws {
        try await sql.raw("""
            INSERT INTO simulation_runs (id, org_id, set_id, creator_id, state, created_at, doc) VALUES (\(bind: run.run.id), \
            \(bind: run.run.orgID), \(bind: run.run.setID), \(bind: run.run.creator.userID), \(bind: run.state.rawValue), \
            \(bind: run.run.createdAt.timeIntervalSince1970), \(bind: try Documents.encode(run)))
            """).run()
    }

    public func update(_ run: SimulationRunRecord) async throws {
        try await sql.raw("""
            UPDATE simulation_runs SET state = \(bind: run.state.rawValue), doc = \(bind: try Documents.encode(run)) \
            WHERE id = \(bind: run.run.id) AND org_id = \(bind: run.run.orgID)
            """).run()
    }

    public func run(id: String, orgID: String) async throws -> SimulationRunRecord? {
        try await sql.raw("SELECT doc FROM simulation_runs WHERE id = \(bind: id) AND org_id = \(bind: orgID)")
            .first().map { try Documents.decode(SimulationRunRecord.self, from: $0) }
    }

    /// The caller's run of `setID` that is still in progress, if any.
    public func unfinishedRun(setID: String, creatorID: String, orgID: String) async throws -> SimulationRunRecord? {
        try await sql.raw("""
            SELECT doc FROM simulation_runs WHERE org_id = \(bind: orgID) AND set_id = \(bind: setID) \
            AND creator_id = \(bind: creatorID) AND state = \(bind: SimulationRunRecord.State.running.rawValue)
            """).first().map { try Documents.decode(SimulationRunRecord.self, from: $0) }
    }

    /// Every run of the organization, newest first.
    public func runs(orgID: String) async throws -> [SimulationRunRecord] {
        try await sql.raw("SELECT doc FROM simulation_runs WHERE org_id = \(bind: orgID) ORDER BY created_at DESC, id DESC").all()
            .map { try Documents.decode(SimulationRunRecord.self, from: $0) }
    }

    // MARK: - Replays

    public func insert(_ replay: ReplayReport) async throws {
        try await sql.raw("INSERT INTO replays (id, org_id, doc) VALUES (\(bind: replay.id), \(bind: replay.orgID), \(bind: try Documents.encode(replay)))").run()
    }

    public func update(_ replay: ReplayReport) async throws {
        try await sql.raw("UPDATE replays SET doc = \(bind: try Documents.encode(replay)) WHERE id = \(bind: replay.id) AND org_id = \(bind: replay.orgID)").run()
    }

    public func replay(id: String, orgID: String) async throws -> ReplayReport? {
        try await sql.raw("SELECT doc FROM replays WHERE id = \(bind: id) AND org_id = \(bind: orgID)").first()
            .map { try Documents.decode(ReplayReport.self, from: $0) }
    }

    /// Stores a run's artifact archive (replacing an earlier one).
    public func saveArtifacts(runID: String, orgID: String, contentType: String, data: Data) async throws {
        try await sql.raw("DELETE FROM simulation_artifacts WHERE run_id = \(bind: runID)").run()
        try await sql.raw("""
            INSERT INTO simulation_artifacts (run_id, org_id, content_type, data) VALUES (\(bind: runID), \(bind: orgID), \
            \(bind: contentType), \(bind: data))
            """).run()
    }

    public func artifacts(runID: String, orgID: String) async throws -> (contentType: String, data: Data)? {
        guard let row = try await sql.raw("""
            SELECT content_type, data FROM simulation_artifacts WHERE run_id = \(bind: runID) AND org_id = \(bind: orgID)
            """).first()
        else { return nil }
        return (try row.decode(column: "content_type", as: String.self), try row.decode(column: "data", as: Data.self))
    }
}

/// A simulation run with what its runner keeps beside the wire record: its state and the outcome of
/// every single run (unit test × repetition) so far.
public struct SimulationRunRecord: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable {
        case running
        case completed
        case cancelled
    }

    public var run: SimulationUnitTestSetRun
    public var state: State
    /// `outcomes[spec][repetition]`, nil until that repetition is done.
    public var outcomes: [[SimulationOutcome?]]

    public init(run: SimulationUnitTestSetRun) {
        self.run = run
        self.state = .running
        self.outcomes = run.unitTestRunSpecs.map { Array(repeating: nil, count: $0.runCount) }
    }

    enum CodingKeys: String, CodingKey {
        case run, state, outcomes
    }
}

/// How one repetition of a unit test ended.
public struct SimulationOutcome: Codable, Sendable, Hashable {
    /// The simulated conversation (nil when it could not start).
    public var conversationID: String?
    /// Per success criterion, in the spec's order: the stored result and whether it met the criterion
    /// (nil when the metric could not be judged).
    public var verdicts: [UnitTestMetricResults.Verdict?]
    /// Why the repetition did not finish on its own terms (failed conversation, too many interactions,
    /// a metric not judged, a not-applicable result); nil when it did.
    public var error: String?
    /// Whether every criterion was met (and nothing went wrong).
    public var passed: Bool
    /// Whether something went wrong that is not a verdict (the conversation or a judge failed).
    public var errored: Bool
    public var interactions: Int
    public var modelCalls: Int
    public var seconds: Double

    public init(
        conversationID: String?, verdicts: [UnitTestMetricResults.Verdict?], error: String?, passed: Bool, errored: Bool,
        interactions: Int, modelCalls: Int, seconds: Double
    ) {
        self.conversationID = conversationID
        self.verdicts = verdicts
        self.error = error
        self.passed = passed
        self.errored = errored
        self.interactions = interactions
        self.modelCalls = modelCalls
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case conversationID = "conversation_id"
        case verdicts, error, passed, errored, interactions
        case modelCalls = "model_calls"
        case seconds
    }
}

/// A table of documents with an id, a name unique among those not deleted, and a deleted flag.
public struct NamedDocuments<Document: Codable & Sendable>: Sendable {
    let sql: any SQLDatabase
    let table: String

    public func insert(_ document: Document, id: String, orgID: String, name: String) async throws {
        try await sql.insert(into: table).columns("id", "org_id", "name", "is_deleted", "doc")
            .values(SQLBind(id), SQLBind(orgID), SQLBind(name), SQLBind(false), SQLBind(try Documents.encode(document))).run()
    }

    public func update(_ document: Document, id: String, orgID: String, name: String, isDeleted: Bool) async throws {
        try await sql.update(table).set("name", to: name).set("is_deleted", to: isDeleted).set("doc", to: try Documents.encode(document))
            .where("id", .equal, id).where("org_id", .equal, orgID).run()
    }

    /// Removes it for good (unit test sets).
    public func delete(id: String, orgID: String) async throws {
        try await sql.delete(from: table).where("id", .equal, id).where("org_id", .equal, orgID).run()
    }

    public func get(id: String, orgID: String) async throws -> Document? {
        try await sql.select().column("doc").from(table).where("id", .equal, id).where("org_id", .equal, orgID).first()
            .map { try Documents.decode(Document.self, from: $0) }
    }

    /// The one named `name` that is not deleted.
    public func live(named name: String, orgID: String) async throws -> Document? {
        try await sql.select().column("doc").from(table).where("org_id", .equal, orgID).where("name", .equal, name)
            .where("is_deleted", .equal, false).first().map { try Documents.decode(Document.self, from: $0) }
    }

    /// Every one of the organization, deleted ones included, oldest first.
    public func all(orgID: String) async throws -> [Document] {
        try await sql.select().column("doc").from(table).where("org_id", .equal, orgID).orderBy("id").all()
            .map { try Documents.decode(Document.self, from: $0) }
    }
}

/// Numbered versions of a document (personas, scenarios), kept forever.
public struct DocumentVersions<Version: Codable & Sendable>: Sendable {
    let sql: any SQLDatabase
    let table: String

    public func insert(_ version: Version, number: Int, of parentID: String, orgID: String) async throws {
        try await sql.insert(into: table).columns("parent_id", "version", "org_id", "doc")
            .values(SQLBind(parentID), SQLBind(number), SQLBind(orgID), SQLBind(try Documents.encode(version))).run()
    }

    public func version(_ number: Int, of parentID: String, orgID: String) async throws -> Version? {
        try await sql.select().column("doc").from(table).where("parent_id", .equal, parentID).where("version", .equal, number)
            .where("org_id", .equal, orgID).first().map { try Documents.decode(Version.self, from: $0) }
    }

    /// The highest version number, nil without versions.
    public func latestNumber(of parentID: String, orgID: String) async throws -> Int? {
        let row = try await sql.raw("""
            SELECT MAX(version) AS latest FROM \(ident: table) WHERE parent_id = \(bind: parentID) AND org_id = \(bind: orgID)
            """).first()
        guard let row, try !row.decodeNil(column: "latest") else { return nil }
        return try row.decode(column: "latest", as: Int.self)
    }

    public func latest(of parentID: String, orgID: String) async throws -> Version? {
        try await sql.select().column("doc").from(table).where("parent_id", .equal, parentID).where("org_id", .equal, orgID)
            .orderBy("version", .descending).limit(1).first().map { try Documents.decode(Version.self, from: $0) }
    }

    /// The versions in `range` (nil = all), sorted by number.
    public func versions(of parentID: String, orgID: String, range: ClosedRange<Int>?, ascending: Bool, page: PageRequest) async throws -> PageResult<Version> {
        let query = sql.select().column("doc").from(table).where("parent_id", .equal, parentID).where("org_id", .equal, orgID)
        if let range {
            query.where("version", .greaterThanOrEqual, range.lowerBound).where("version", .lessThanOrEqual, range.upperBound)
        }
        let rows = try await query.orderBy("version", ascending ? .ascending : .descending).paged(page).all()
        return PageResult(fetched: try rows.map { try Documents.decode(Version.self, from: $0) }, page: page)
    }
}
