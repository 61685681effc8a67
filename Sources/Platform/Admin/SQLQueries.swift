import AmigoWire
import Foundation
import Storage
import ToolRuntime

/// `submit-sql-query`: read-only analytics over the organization's own data.
///
/// Rules:
/// - A query never touches the server's database. It runs in a child process (Python's `sqlite3`) on an
///   in-memory database that holds only a snapshot of the organization's rows, in the fixed views
///   ``views`` documents — so no other organization's rows and none of the server's tables exist there.
/// - Only reading: an authorizer allows `SELECT`, reading the views' columns and calling functions;
///   anything else (a write, `ATTACH`, `PRAGMA`, a second statement) fails the query (400).
/// - At most `timeout` (default 10 s) of execution, then the query is interrupted (408); at most
///   `rowLimit` rows are answered (`truncated`); each view's snapshot holds at most `snapshotLimit` rows.
public struct SQLQueries: Sendable {
    let store: Store
    let python: String
    public var timeout: Duration = .seconds(10)
    public var rowLimit = 1_000
    public var snapshotLimit = 100_000

    public init(store: Store, python: String = "python3") {
        self.store = store
        self.python = python
    }

    /// The views, their columns and SQL types.
    public static let views: [(name: String, columns: [(String, String)])] = [
        ("conversations", [("id", "TEXT"), ("user_id", "TEXT"), ("service_id", "TEXT"), ("version_set", "TEXT"), ("created_at", "TEXT"),
                           ("is_finished", "INTEGER"), ("is_analyzed", "INTEGER"), ("num_messages", "INTEGER"), ("interaction_count", "INTEGER")]),
        ("messages", [("id", "TEXT"), ("conversation_id", "TEXT"), ("interaction_id", "TEXT"), ("sender", "TEXT"), ("message_type", "TEXT"),
                      ("message", "TEXT"), ("created_at", "TEXT")]),
        ("users", [("user_id", "TEXT"), ("first_name", "TEXT"), ("last_name", "TEXT"), ("email", "TEXT"), ("role_id", "TEXT"), ("created_at", "TEXT"),
                   ("num_conversations", "INTEGER"), ("num_messages", "INTEGER")]),
        ("services", [("id", "TEXT"), ("name", "TEXT"), ("is_active", "INTEGER"), ("agent_id", "TEXT"), ("context_graph_id", "TEXT")]),
        ("metrics", [("id", "TEXT"), ("name", "TEXT"), ("type", "TEXT"), ("is_deleted", "INTEGER")]),
        ("metric_results", [("id", "TEXT"), ("metric_id", "TEXT"), ("source_type", "TEXT"), ("conversation_id", "TEXT"), ("result", "TEXT"),
                            ("justification", "TEXT"), ("created_at", "TEXT")]),
    ]

    public func run(_ query: String, orgID: String) async throws -> SQLQueryResult {
        let limit = snapshotLimit
        let tables = try await store.read { repositories -> [[String: JSONValue]] in
            func date(_ value: Date) -> JSONValue { .string(WireCoding.formatDate(value)) }
            func flag(_ value: Bool) -> JSONValue { .number(value ? 1 : 0) }
            let conversations = try await repositories.conversations.list(
                orgID: orgID, filter: ConversationFilter(), sort: [], page: PageRequest(limit: limit, offset: 0)
            ).items
            let messages = try await repositories.conversations.allMessages(orgID: orgID, limit: limit)
            let users = try await repositories.users.list(orgID: orgID, filter: UserFilter(), sort: [], page: PageRequest(limit: limit, offset: 0)).items
            let services = try await repositories.services.list(orgID: orgID, filter: ServiceFilter(), sort: [], page: PageRequest(limit: limit, offset: 0)).items
            let metrics = try await repositories.metrics.all(orgID: orgID)
            let results = try await repositories.metrics.results(
                orgID: orgID, filter: MetricResultFilter(), ascending: true, page: PageRequest(limit: limit, offset: 0)
            ).items
            let rows: [String: [[JSONValue]]] = [
                "conversations": conversations.map {
                    [.string($0.id), .string($0.userID), .string($0.serviceID), .string($0.versionSetInfo.name), date($0.createdAt),
                     flag($0.isFinished), flag($0.isAnalyzed), .number(Double($0.numMessages)), .number(Double($0.interactionCount))]
                },
                "messages": messages.map { conversationID, message in
                    [.string(message.id), .string(conversationID), .string(message.interactionID), .string(message.sender),
                     .string(message.messageType.rawValue), .string(message.message), date(message.createdAt)]
                },
                "users": users.map { user, stats in
                    [.string(user.userID), .string(user.firstName), .string(user.lastName), .string(user.email), .string(user.roleID), date(user.createdAt),
                     .number(Double(stats.numConversations)), .number(Double(stats.numMessages))]
                },
                "services": services.map {
                    [.string($0.id), .string($0.name), flag($0.isActive), .string($0.agentID), .string($0.contextGraphID)]
                },
                "metrics": metrics.map { [.string($0.id), .string($0.name), .string($0.metricValue.type), flag($0.isDeleted)] },
                "metric_results": results.map { result -> [JSONValue] in
                    let value: JSONValue = switch result.result {
                    case .bool(let flag): .string(flag ? "true" : "false")
                    case .number(let number): .string(String(number))
                    case .category(let name): .string(name)
                    case .notApplicable: .null
                    }
                    return [.string(result.id), .string(result.metricID), .string(result.source.type), result.source.conversationID.map(JSONValue.string) ?? .null,
                            value, .string(result.justification), date(result.createdAt)]
                },
            ]
            return Self.views.map { view in
                [
                    "name": .string(view.name),
                    "columns": .array(view.columns.map { .array([.string($0.0), .string($0.1)]) }),
                    "rows": .array((rows[view.name] ?? []).map { .array($0) }),
                ]
            }
        }
        let request: JSONValue = .object([
            "query": .string(query), "row_limit": .number(Double(rowLimit)), "timeout_seconds": .number(timeout.timeInterval),
            "tables": .array(tables.map { .object($0) }),
        ])
        let input = try WireEncoder().encode(request)
        let run = try await ScriptRun.run(
            python, ["-I", "-c", Self.script], input: Data(input), timeout: timeout + .seconds(20), outputLimit: 64 << 20
        )
        if run.timedOut { throw PlatformError.timeout("The query did not finish within \(Int(timeout.timeInterval)) s.") }
        guard run.exitCode == 0, let answer = try? JSONDecoder().decode(ScriptAnswer.self, from: run.standardOutput) else {
            throw PlatformError.unavailable("The query runner failed: \(run.standardError.suffix(300))")
        }
        if answer.timeout == true { throw PlatformError.timeout("The query did not finish within \(Int(timeout.timeInterval)) s.") }
        if let error = answer.error { throw PlatformError.badRequest("The query is not valid here: \(error)") }
        return SQLQueryResult(
            executionTimeMs: answer.executionTimeMs ?? 0, result: answer.rows ?? [], truncated: answer.truncated ?? false,
            columns: (answer.columns ?? []).map { SQLColumn(name: $0[0], type: $0[1]) }
        )
    }

    struct ScriptAnswer: Decodable {
        var error: String?
        var timeout: Bool?
        var columns: [[String]]?
        var rows: [[JSONValue]]?
        var truncated: Bool?
        var executionTimeMs: Int?

        enum CodingKeys: String, CodingKey {
            case error, timeout, columns, rows, truncated
            case executionTimeMs = "execution_time_ms"
        }
    }

    /// The runner: builds the snapshot in memory, then runs the query under an authorizer and a deadline.
    static let script = #"""
    import json, sqlite3, sys, time
    req = json.load(sys.stdin)
    db = sqlite3.connect(":memory:")
    names = set()
    for t in req["tables"]:
        names.add(t["name"])
        cols = ", ".join('"%s" %s' % (c, ty) for c, ty in t["columns"])
        db.execute('CREATE TABLE "%s" (%s)' % (t["name"], cols))
        db.executemany('INSERT INTO "%s" VALUES (%s)' % (t["name"], ", ".join("?" * len(t["columns"]))), t["rows"])
    db.commit()
    # Reading is all a query may do; the database holds nothing but the snapshot. ATTACH, PRAGMA and
    # every write are refused.
    READ_ONLY = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
    def authorize(action, arg1, arg2, database, source):
        return sqlite3.SQLITE_OK if action in READ_ONLY else sqlite3.SQLITE_DENY
    db.set_authorizer(authorize)
    deadline = time.monotonic() + float(req["timeout_seconds"])
    db.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 2000)
    start = time.monotonic()
    try:
        cursor = db.execute(req["query"])
        limit = int(req["row_limit"])
        rows = cursor.fetchmany(limit + 1) if cursor.description else []
    except sqlite3.OperationalError as error:
        if "interrupted" in str(error):
            print(json.dumps({"timeout": True}))
        else:
            print(json.dumps({"error": str(error)}))
        sys.exit(0)
    except (sqlite3.Error, ValueError) as error:
        print(json.dumps({"error": str(error)}))
        sys.exit(0)
    elapsed = int((time.monotonic() - start) * 1000)
    truncated = len(rows) > limit
    rows = [list(r) for r in rows[:limit]]
    def kind(index):
        for r in rows:
            v = r[index]
            if v is None: continue
            if isinstance(v, int): return "integer"
            if isinstance(v, float): return "real"
            if isinstance(v, bytes): return "blob"
            return "text"
        return "null"
    for r in rows:
        for i, v in enumerate(r):
            if isinstance(v, bytes):
                r[i] = v.hex()
    columns = [[d[0], kind(i)] for i, d in enumerate(cursor.description or [])]
    print(json.dumps({"columns": columns, "rows": rows, "truncated": truncated, "execution_time_ms": elapsed}))
    """#
}
