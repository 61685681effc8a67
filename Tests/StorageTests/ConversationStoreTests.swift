import AmigoWire
import Foundation
import Storage
import Testing
import StorageTesting

/// The conversation repository on every engine (SQLite always; PostgreSQL when configured).
@Suite("Conversation store conformance")
struct ConversationStoreTests {
    static let engines = TestDatabase.available

    func conversation(org: String, user: String = "u1", service: String = String(repeating: "c", count: 24), at seconds: Double = 0) -> ConversationRecord {
        let info = VersionSetInfo(
            name: "release", agentVersionInfo: VersionInfo(id: String(repeating: "a", count: 24), version: 1),
            serviceHierarchicalStateMachineVersionInfo: VersionInfo(id: String(repeating: "b", count: 24), version: 2),
            llmModelPreferences: [:]
        )
        return ConversationRecord(
            id: ObjectID.generate(), orgID: org, userID: user, serviceID: service,
            createdAt: Date(timeIntervalSince1970: 1_800_000_000 + seconds), versionSetInfo: info,
            tags: ["team": "care", "vip": nil], position: #"{"state":"start"}"#
        )
    }

    func message(_ type: MessageType, _ text: String, interaction: String) -> MessageInstance {
        MessageInstance(
            id: ObjectID.generate(), interactionID: interaction, createdAt: Date(timeIntervalSince1970: 1_800_000_100),
            sender: "x", message: text, format: .text, messageType: type
        )
    }

    @Test(arguments: engines)
    func conversationsRoundTripAndStayInTheirOrganization(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let org = uniqueOrgID()
            let other = uniqueOrgID()
            var record = conversation(org: org)
            let inserted = record
            try await store.write { try await $0.conversations.insert(inserted) }
            let value1 = try await store.read { try await $0.conversations.get(id: inserted.id, orgID: org) }
            #expect(value1 == record)
            let value2 = try await store.read { try await $0.conversations.get(id: inserted.id, orgID: other) }
            #expect(value2 == nil)
            let unfinished = try await store.read { try await $0.conversations.unfinished(orgID: org, userID: "u1", serviceID: inserted.serviceID) }
            #expect(unfinished?.id == record.id)

            record.isFinished = true
            record.numMessages = 3
            let finished = record
            try await store.write { try await $0.conversations.update(finished) }
            let after = try await store.read { try await $0.conversations.unfinished(orgID: org, userID: "u1", serviceID: inserted.serviceID) }
            #expect(after == nil)
            let value3 = try await store.read { try await $0.conversations.count(orgID: org, userID: "u1", serviceID: inserted.serviceID) }
            #expect(value3 == 1)
        }
    }

    @Test(arguments: engines)
    func listingFiltersSortsPagesAndMatchesTags(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let org = uniqueOrgID()
            var records = (0..<5).map { conversation(org: org, user: $0 < 3 ? "u1" : "u2", at: Double($0)) }
            records[4].tags = ["team": "billing"]
            records[4].isFinished = true
            let all = records
            try await store.write { repositories in
                for record in all { try await repositories.conversations.insert(record) }
            }
            func list(_ filter: ConversationFilter, sort: [SortKey] = [], page: PageRequest = PageRequest(limit: 10, offset: 0)) async throws -> [String] {
                try await store.read { try await $0.conversations.list(orgID: org, filter: filter, sort: sort, page: page) }.items.map(\.id)
            }
            let value4 = try await list(ConversationFilter(userIDs: ["u2"]))
            #expect(value4 == [all[3].id, all[4].id])
            let value5 = try await list(ConversationFilter(isFinished: true))
            #expect(value5 == [all[4].id])
            let value6 = try await list(ConversationFilter(), sort: [SortKey(column: "created_at", ascending: false)]).first
            #expect(value6 == all[4].id)
            let value7 = try await list(ConversationFilter(tags: [("team", "billing")]))
            #expect(value7 == [all[4].id])
            let value8 = try await list(ConversationFilter(tags: [("vip", "")])).count
            #expect(value8 == 4)
            let value9 = try await list(ConversationFilter(tags: [("team", "*")])).count
            #expect(value9 == 5)
            let page = try await store.read {
                try await $0.conversations.list(orgID: org, filter: ConversationFilter(), sort: [], page: PageRequest(limit: 2, offset: 2))
            }
            #expect(page.items.map(\.id) == [all[2].id, all[3].id])
            #expect(page.hasMore)
            #expect(page.nextToken == 4)
        }
    }

    @Test(arguments: engines)
    func messagesKeepTheirOrderAndDeleteWithTheirConversation(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let org = uniqueOrgID()
            let record = conversation(org: org)
            let first = ObjectID.generate()
            let second = ObjectID.generate()
            let messages = [
                message(.agentMessage, "Hello", interaction: first),
                message(.userMessage, "Hi", interaction: second),
                message(.agentInnerThought, "Thinking", interaction: second),
                message(.agentMessage, "Welcome", interaction: second),
            ]
            let insights = InteractionInsights(
                currentStateName: "start", currentStateAction: "Greet", currentStateObjective: "Welcome",
                stateTransitionLogs: [], workingMemory: [WorkingMemory(content: "Riverside", context: "Which clinic?")],
                reflections: [], triggeredDynamicBehaviorSetVersionInfo: nil, selectNextActionToolCallLogs: [], engageUserToolCallLogs: []
            )
            try await store.write { repositories in
                try await repositories.conversations.insert(record)
                try await repositories.conversations.append(Array(messages.prefix(1)), conversationID: record.id, orgID: org)
                try await repositories.conversations.append(Array(messages.dropFirst()), conversationID: record.id, orgID: org)
                try await repositories.conversations.insert(InteractionRecord(id: second, conversationID: record.id, createdAt: Date(), insights: insights), orgID: org)
            }
            let page = try await store.read {
                try await $0.conversations.messages(conversationID: record.id, orgID: org, filter: MessageFilter(), sort: [], page: PageRequest(limit: 10, offset: 0))
            }
            #expect(page.items == messages)
            let visible = try await store.read {
                try await $0.conversations.messages(
                    conversationID: record.id, orgID: org, filter: MessageFilter(types: [.userMessage, .agentMessage], interactionIDs: [second]),
                    sort: [], page: PageRequest(limit: 10, offset: 0)
                )
            }
            #expect(visible.items.map(\.message) == ["Hi", "Welcome"])
            let value10 = try await store.read { try await $0.conversations.recentMessages(conversationID: record.id, orgID: org, limit: 2) }.map(\.message)
            #expect(value10 == ["Thinking", "Welcome"])
            let value11 = try await store.read { try await $0.conversations.interaction(id: second, conversationID: record.id, orgID: org) }?.insights
            #expect(value11 == insights)
            let value12 = try await store.read { try await $0.conversations.interaction(id: second, conversationID: record.id, orgID: uniqueOrgID()) }
            #expect(value12 == nil)

            try await store.write { try await $0.conversations.delete(id: record.id, orgID: org) }
            let gone = try await store.read {
                try await $0.conversations.messages(conversationID: record.id, orgID: org, filter: MessageFilter(), sort: [], page: PageRequest(limit: 10, offset: 0))
            }
            #expect(gone.items.isEmpty)
            let value13 = try await store.read { try await $0.conversations.interaction(id: second, conversationID: record.id, orgID: org) }
            #expect(value13 == nil)
        }
    }

    @Test(arguments: engines)
    func aVoiceMessagesAudioIsKeptWholeInItsOrganizationAndGoesWithItsConversation(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let org = uniqueOrgID()
            let record = conversation(org: org)
            try await store.write { try await $0.conversations.insert(record) }
            // Every byte value, NUL included, and more than a page.
            let bytes = Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
            let audio = MessageAudio(messageID: ObjectID.generate(), conversationID: record.id, contentType: "audio/wav", data: bytes)
            try await store.write { try await $0.conversations.insert(audio, orgID: org) }
            let read = try await store.read { try await $0.conversations.audio(messageID: audio.messageID, conversationID: record.id, orgID: org) }
            #expect(read == audio)
            let elsewhere = try await store.read { try await $0.conversations.audio(messageID: audio.messageID, conversationID: record.id, orgID: uniqueOrgID()) }
            #expect(elsewhere == nil)
            try await store.write { try await $0.conversations.delete(id: record.id, orgID: org) }
            let gone = try await store.read { try await $0.conversations.audio(messageID: audio.messageID, conversationID: record.id, orgID: org) }
            #expect(gone == nil)
        }
    }

    @Test(arguments: engines)
    func aFailedTransactionStoresNothing(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let org = uniqueOrgID()
            let record = conversation(org: org)
            struct Boom: Error {}
            await #expect(throws: Boom.self) { () async throws -> Void in
                try await store.write { repositories in
                    try await repositories.conversations.insert(record)
                    try await repositories.conversations.append([message(.agentMessage, "Hello", interaction: ObjectID.generate())], conversationID: record.id, orgID: org)
                    throw Boom()
                }
            }
            let value14 = try await store.read { try await $0.conversations.get(id: record.id, orgID: org) }
            #expect(value14 == nil)
        }
    }
}
