import Foundation

/// Body of `POST /v1/{org}/admin/sql_query`. Only synchronous queries (`async_query` is `false`).
public struct SubmitSQLQueryRequest: Decodable, Sendable, ValidatableRequest {
    public var sqlQuery: String
    public var asyncQuery: Bool

    enum CodingKeys: String, CodingKey {
        case sqlQuery = "sql_query"
        case asyncQuery = "async_query"
    }

    public func validate(into c: inout ValidationCollector) {
        c.nonEmpty(sqlQuery, at: ["sql_query"])
        if asyncQuery { c.add(["async_query"], "Input should be False", type: "literal_error") }
    }
}

/// A column of a query's answer.
public struct SQLColumn: Codable, Sendable, Hashable {
    public var name: String
    /// `integer`, `real`, `text` or `null` (from the values: the views are typed, expressions are not).
    public var type: String

    public init(name: String, type: String) {
        self.name = name
        self.type = type
    }
}

/// Answer of `submit-sql-query`.
public struct SQLQueryResult: Codable, Sendable {
    public var executionTimeMs: Int
    public var result: [[JSONValue]]
    public var truncated: Bool
    public var columns: [SQLColumn]

    public init(executionTimeMs: Int, result: [[JSONValue]], truncated: Bool, columns: [SQLColumn]) {
        self.executionTimeMs = executionTimeMs
        self.result = result
        self.truncated = truncated
        self.columns = columns
    }

    enum CodingKeys: String, CodingKey {
        case executionTimeMs = "execution_time_ms"
        case result, truncated, columns
    }
}
