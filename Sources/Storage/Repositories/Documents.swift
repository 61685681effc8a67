import AmigoWire
import Foundation
import SQLKit

/// Encodes stored documents as wire JSON, so what is stored is what the API returns.
enum Documents {
    nonisolated(unsafe) static let decoder = WireCoding.decoder()

    static func encode(_ value: some Encodable) throws -> String {
        try WireEncoder().string(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, from row: any SQLRow, column: String = "doc") throws -> T {
        let text = try row.decode(column: column, as: String.self)
        return try decoder.decode(T.self, from: Data(text.utf8))
    }
}

/// One `+field`/`-field` of a `sort_by`, already mapped to a column.
public struct SortKey: Sendable, Hashable {
    public var column: String
    public var ascending: Bool
    public init(column: String, ascending: Bool) {
        self.column = column
        self.ascending = ascending
    }
}

/// An offset page request: `continuation_token` is the offset of the first item.
public struct PageRequest: Sendable, Hashable {
    public var limit: Int
    public var offset: Int
    public init(limit: Int, offset: Int) {
        self.limit = limit
        self.offset = offset
    }
}

/// A page of results and whether more follow.
public struct PageResult<Item: Sendable>: Sendable {
    public var items: [Item]
    public var hasMore: Bool
    public var nextToken: Int? { hasMore ? offset + items.count : nil }
    let offset: Int

    init(fetched: [Item], page: PageRequest) {
        // A page of no items says nothing of more: its token would ask for the same page again.
        hasMore = page.limit > 0 && fetched.count > page.limit
        items = Array(fetched.prefix(page.limit))
        offset = page.offset
    }

    /// Pages an already-filtered array.
    public init(all: [Item], page: PageRequest) {
        self.init(fetched: Array(all.dropFirst(page.offset).prefix(page.limit + 1)), page: page)
    }
}

extension SQLSelectBuilder {
    @discardableResult
    func sorted(by keys: [SortKey], then tieBreak: String) -> Self {
        var builder = self
        for key in keys { builder = builder.orderBy(key.column, key.ascending ? .ascending : .descending) }
        return builder.orderBy(tieBreak, .ascending)
    }

    @discardableResult
    func paged(_ page: PageRequest) -> Self {
        limit(page.limit + 1).offset(page.offset)
    }
}
