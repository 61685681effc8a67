import AmigoWire
import Foundation
import Storage
import StorageTesting
import Testing

/// Users' memories on every engine (SQLite always; PostgreSQL when configured).
@Suite("Memory store conformance")
struct MemoryStoreTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(arguments: TestDatabase.available)
    func aUsersMemoriesArePagedFilteredAndSortedByTheDatabase(engine: TestDatabase) async throws {
        try await engine.with { database in
            let store = Store(database: database)
            let orgID = uniqueOrgID("memory")
            let (first, second) = (ObjectID.generate(), ObjectID.generate())
            func memory(_ minutes: Double, _ conversation: String) -> Memory {
                Memory(
                    id: ObjectID.generate(), createdAt: Self.start.addingTimeInterval(minutes * 60), conversationID: conversation,
                    references: [], content: "fact \(minutes)", context: "c"
                )
            }
            let memories = [memory(1, first), memory(2, second), memory(3, first), memory(4, second)]
            let (bobs, elsewhere) = (memory(5, first), memory(6, first))
            try await store.write { repositories in
                for stored in memories { try await repositories.memories.insert(StoredMemory(memory: stored, userID: "ada"), orgID: orgID) }
                // Another user's and another organization's memories never show.
                try await repositories.memories.insert(StoredMemory(memory: bobs, userID: "bob"), orgID: orgID)
                try await repositories.memories.insert(StoredMemory(memory: elsewhere, userID: "ada"), orgID: uniqueOrgID("other"))
            }
            func page(ids: [String] = [], conversations: [String] = [], sort: [SortKey] = [], limit: Int = 50, offset: Int = 0) async throws -> PageResult<Memory> {
                try await store.read {
                    try await $0.memories.page(
                        userID: "ada", orgID: orgID, ids: ids, conversationIDs: conversations, sort: sort, page: PageRequest(limit: limit, offset: offset)
                    )
                }
            }
            #expect(try await page().items.map(\.content) == ["fact 4.0", "fact 3.0", "fact 2.0", "fact 1.0"])
            let firstPage = try await page(limit: 3)
            #expect(firstPage.items.count == 3 && firstPage.hasMore && firstPage.nextToken == 3)
            let rest = try await page(limit: 3, offset: 3)
            #expect(rest.items.map(\.content) == ["fact 1.0"] && !rest.hasMore)
            #expect(try await page(conversations: [first]).items.map(\.content) == ["fact 3.0", "fact 1.0"])
            #expect(try await page(ids: [memories[1].id]).items.map(\.id) == [memories[1].id])
            let oldestFirst = try await page(sort: [SortKey(column: "created_at", ascending: true)])
            #expect(oldestFirst.items.map(\.content) == ["fact 1.0", "fact 2.0", "fact 3.0", "fact 4.0"])
            // By conversation, then newest first within each.
            let byConversation = try await page(sort: [SortKey(column: "conversation_id", ascending: true)]).items
            let expected = (first < second ? [first, first, second, second] : [second, second, first, first])
            #expect(byConversation.map(\.conversationID) == expected)
            #expect(try await page(limit: 0).items.isEmpty)
        }
    }
}
