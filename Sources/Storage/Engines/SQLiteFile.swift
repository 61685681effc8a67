import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import Synchronization
// SQLiteNIO's own copy of SQLite (its C target, with every symbol prefixed `sqlite_nio_`): one SQLite in
// the process, the version SQLiteNIO vendors, nothing to install. SQLiteNIO runs each statement on a
// thread pool; this file runs them inline (see `SQLiteFile`), with SQLiteKit's dialect and value coding.
import VaporCSQLite

/// One SQLite connection that runs each statement on the calling thread.
///
/// Rules:
/// - A statement runs inline, under a mutex: statements here take microseconds, less than the two
///   thread switches a hop to a thread pool and back costs (the hop was most of an interaction's time).
///   Callers serialize whole sessions themselves (`SQLiteDatabase`'s lock); the mutex only makes a
///   single statement safe.
/// - Prepared statements are kept per SQL text (at most `statementCacheLimit`, then the cache starts
///   over) and reset after every use, so an error never leaves one half-run.
/// - Another process holding the file's lock (`SQLITE_BUSY`) never blocks a thread: `run` reports it
///   before any row was produced, and the caller retries after a sleep.
final class SQLiteFile: Sendable {
    private struct State {
        var handle: OpaquePointer?
        var statements: [String: OpaquePointer] = [:]
    }

    /// What one attempt at a statement came to.
    enum Outcome {
        case done
        /// The file is locked by another connection; nothing ran, retry later.
        case busy
    }

    static let statementCacheLimit = 256
    private let state: Mutex<State>

    init(path: String) throws {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        let code = sqlite_nio_sqlite3_open_v2(path, &handle, flags, nil)
        guard code == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite_nio_sqlite3_close_v2(handle)
            throw SQLiteFailure(code: code, message: message)
        }
        state = Mutex(State(handle: handle))
    }

    var isClosed: Bool { state.withLock { $0.handle == nil } }

    func close() {
        state.withLock { state in
            for statement in state.statements.values { sqlite_nio_sqlite3_finalize(statement) }
            state.statements.removeAll()
            sqlite_nio_sqlite3_close_v2(state.handle)
            state.handle = nil
        }
    }

    /// Runs `sql` with `binds`, handing each result row to `onRow` as it is stepped.
    func run(_ sql: String, _ binds: [SQLiteData], decoder: SQLiteDataDecoder, _ onRow: (any SQLRow) -> Void) throws -> Outcome {
        try state.withLock { state in
            guard let handle = state.handle else { throw SQLiteFailure(code: SQLITE_MISUSE, message: "the database is closed") }
            let statement: OpaquePointer
            if let cached = state.statements[sql] {
                statement = cached
            } else {
                var prepared: OpaquePointer?
                let code = sqlite_nio_sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
                if code == SQLITE_BUSY || code == SQLITE_LOCKED { return .busy }
                guard code == SQLITE_OK, let prepared else { throw SQLiteFailure(code: code, handle: handle) }
                if state.statements.count >= Self.statementCacheLimit {
                    for old in state.statements.values { sqlite_nio_sqlite3_finalize(old) }
                    state.statements.removeAll(keepingCapacity: true)
                }
                state.statements[sql] = prepared
                statement = prepared
            }
            defer {
                sqlite_nio_sqlite3_reset(statement)
                sqlite_nio_sqlite3_clear_bindings(statement)
            }
            for (offset, bind) in binds.enumerated() {
                let code = Self.bind(bind, at: Int32(offset + 1), to: statement)
                guard code == SQLITE_OK else { throw SQLiteFailure(code: code, handle: handle) }
            }
            var columns: SQLiteColumns?
            while true {
                let code = sqlite_nio_sqlite3_step(statement)
                switch code {
                case SQLITE_ROW:
                    let names = columns ?? SQLiteColumns(statement)
                    columns = names
                    onRow(SQLiteFileRow(columns: names, values: Self.values(of: statement, count: names.count), decoder: decoder))
                case SQLITE_DONE:
                    return .done
                case SQLITE_BUSY where columns == nil, SQLITE_LOCKED where columns == nil:
                    return .busy
                default:
                    throw SQLiteFailure(code: code, handle: handle)
                }
            }
        }
    }

    /// SQLite copies bound text and blobs (`SQLITE_TRANSIENT`).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    nonisolated(unsafe) private static let emptyText: UnsafePointer<CChar> = {
        let empty = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        empty.initialize(to: 0)
        return UnsafePointer(empty)
    }()

    private static func bind(_ value: SQLiteData, at index: Int32, to statement: OpaquePointer) -> Int32 {
        switch value {
        case .integer(let value):
            return sqlite_nio_sqlite3_bind_int64(statement, index, Int64(value))
        case .float(let value):
            return sqlite_nio_sqlite3_bind_double(statement, index, value)
        case .text(var value):
            return value.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { text in
                    sqlite_nio_sqlite3_bind_text64(statement, index, text.baseAddress ?? emptyText, UInt64(text.count), transient, UInt8(SQLITE_UTF8))
                }
            }
        case .blob(let buffer):
            return buffer.withUnsafeReadableBytes { bytes in
                sqlite_nio_sqlite3_bind_blob64(statement, index, bytes.baseAddress, UInt64(bytes.count), transient)
            }
        case .null:
            return sqlite_nio_sqlite3_bind_null(statement, index)
        }
    }

    private static func values(of statement: OpaquePointer, count: Int) -> [SQLiteData] {
        (0..<Int32(count)).map { column in
            switch sqlite_nio_sqlite3_column_type(statement, column) {
            case SQLITE_INTEGER:
                return .integer(Int(sqlite_nio_sqlite3_column_int64(statement, column)))
            case SQLITE_FLOAT:
                return .float(sqlite_nio_sqlite3_column_double(statement, column))
            case SQLITE_TEXT:
                // By length, not up to the first NUL: text is stored whole.
                let length = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
                guard let text = sqlite_nio_sqlite3_column_text(statement, column) else { return .text("") }
                return .text(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self))
            case SQLITE_BLOB:
                let length = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
                var buffer = ByteBufferAllocator().buffer(capacity: length)
                if let bytes = sqlite_nio_sqlite3_column_blob(statement, column) {
                    buffer.writeBytes(UnsafeRawBufferPointer(start: bytes, count: length))
                }
                return .blob(buffer)
            default:
                return .null
            }
        }
    }
}

/// The column names of one statement's result, shared by its rows.
final class SQLiteColumns: Sendable {
    let names: [String]
    private let offsets: [String: Int]

    init(_ statement: OpaquePointer) {
        let names = (0..<sqlite_nio_sqlite3_column_count(statement)).map { String(cString: sqlite_nio_sqlite3_column_name(statement, $0)) }
        self.names = names
        // The first of equally named columns wins, as in SQLiteNIO.
        self.offsets = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    var count: Int { names.count }
    func offset(of name: String) -> Int? { offsets[name] }
}

struct SQLiteFileRow: SQLRow {
    let columns: SQLiteColumns
    let values: [SQLiteData]
    let decoder: SQLiteDataDecoder

    var allColumns: [String] { columns.names }

    func contains(column: String) -> Bool { columns.offset(of: column) != nil }

    func decodeNil(column: String) throws -> Bool {
        guard let offset = columns.offset(of: column) else { return true }
        return values[offset] == .null
    }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        guard let offset = columns.offset(of: column) else { throw SQLiteFailure(code: SQLITE_ERROR, message: "no column '\(column)' in the result") }
        return try decoder.decode(D.self, from: values[offset])
    }
}

/// An error SQLite reported, with its result code.
public struct SQLiteFailure: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String

    init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    init(code: Int32, handle: OpaquePointer) {
        self.init(code: code, message: String(cString: sqlite_nio_sqlite3_errmsg(handle)))
    }

    public var description: String { "SQLite error \(code): \(message)" }
}

/// SQLKit's view of a `SQLiteFile`: statements are serialized in SQLite's dialect, their values encoded
/// as SQLiteKit does, and a locked file is waited for without holding a thread.
struct SQLiteSession: SQLDatabase {
    let file: SQLiteFile
    let logger: Logger
    let busyTimeout: Duration
    var eventLoop: any EventLoop { MultiThreadedEventLoopGroup.singleton.any() }
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { nil }
    private let encoder = SQLiteDataEncoder()
    private let decoder = SQLiteDataDecoder()

    init(file: SQLiteFile, logger: Logger, busyTimeout: Duration) {
        self.file = file
        self.logger = logger
        self.busyTimeout = busyTimeout
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        let (sql, binds) = serialize(query)
        let values = try binds.map { try encoder.encode($0) }
        let clock = ContinuousClock()
        let deadline = clock.now + busyTimeout
        var pause = Duration.milliseconds(1)
        while try file.run(sql, values, decoder: decoder, onRow) == .busy {
            guard clock.now < deadline else { throw SQLiteFailure(code: SQLITE_BUSY, message: "database is locked") }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(20))
        }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        promise.completeWithTask { try await self.execute(sql: query, onRow) }
        return promise.futureResult
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await closure(self)
    }
}
