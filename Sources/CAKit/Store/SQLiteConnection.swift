import CSQLite
import FoundationEssentials

/// A value bound to or read from a statement.
public enum SQLValue: Equatable, Sendable {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}

/// One result row, by column name. Rows of one query share the name → position map.
public struct SQLRow: Sendable {
    final class Columns: Sendable {
        let positions: [String: Int]
        let count: Int
        init(_ names: [String]) {
            positions = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            count = names.count
        }
    }
    let columns: Columns
    let cells: [SQLValue]

    subscript(column: String) -> SQLValue? { columns.positions[column].map { cells[$0] } }

    public func int(_ column: String) -> Int64 {
        if case .integer(let v) = self[column] { return v }
        return 0
    }
    public func string(_ column: String) -> String {
        if case .text(let v) = self[column] { return v }
        return ""
    }
    public func optionalString(_ column: String) -> String? {
        if case .text(let v) = self[column] { return v }
        return nil
    }
    /// A time stored as Unix seconds, held to years 1–9999 (what X.509 can say): a damaged or edited
    /// row with INT64_MAX stays a date every later computation can handle.
    public func date(_ column: String) -> Date {
        Date(timeIntervalSince1970: TimeInterval(min(max(int(column), -62_135_596_800), 253_402_300_799)))
    }
}

/// The current row of a statement being stepped, read by column position. Valid only inside the
/// `each` call that hands it out.
struct SQLCursor {
    fileprivate let statement: OpaquePointer

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
    /// The column as text ("" for NULL), by its byte length: no scan for the terminator.
    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement, column) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(statement, column))), as: UTF8.self)
    }
    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }
    /// Unix seconds held to years 1–9999, as `SQLRow.date`.
    func date(_ column: Int32) -> Date {
        Date(timeIntervalSince1970: TimeInterval(min(max(int(column), -62_135_596_800), 253_402_300_799)))
    }
}

/// A thin owner of one sqlite3 connection: bound parameters only, BEGIN IMMEDIATE transactions,
/// SQLite's errors turned into `CAError`. Not Sendable: one per process, used on one thread.
final class SQLiteConnection {
    private let handle: OpaquePointer
    let path: String

    /// Opens an existing file (never creates one: the caller creates it with mode 0600 first).
    init(path: String, busyTimeoutMilliseconds: Int32 = 15_000) throws {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let reason = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            throw CAError.notADatabase(path: path, reason: reason)
        }
        self.handle = handle
        self.path = path
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
        _ = csqlite_db_config_defensive(handle, 1)
    }

    deinit {
        for (statement, _) in cache.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Prepared statements by their SQL, with their column map, kept for the connection's life: a
    /// batch runs the same few statements thousands of times, and parsing them each time cost as
    /// much as running them. SQLite re-prepares one by itself if the schema changes (a migration).
    private var cache: [String: (OpaquePointer, SQLRow.Columns)] = [:]
    private static let cacheLimit = 128

    /// Runs one statement and returns its rows.
    @discardableResult
    func query(_ sql: String, _ parameters: [SQLValue] = []) throws -> [SQLRow] {
        try run(sql, parameters) { statement, map in
            let count = Int32(map.count)
            var rows: [SQLRow] = []
            while try step(statement) {
                var cells: [SQLValue] = []
                cells.reserveCapacity(Int(count))
                for column in 0..<count {
                    switch sqlite3_column_type(statement, column) {
                    case SQLITE_INTEGER: cells.append(.integer(sqlite3_column_int64(statement, column)))
                    case SQLITE_TEXT: cells.append(.text(SQLCursor(statement: statement).text(column)))
                    case SQLITE_BLOB:
                        let length = Int(sqlite3_column_bytes(statement, column))
                        cells.append(.blob(sqlite3_column_blob(statement, column).map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []))
                    default: cells.append(.null)
                    }
                }
                rows.append(SQLRow(columns: map, cells: cells))
            }
            return rows
        }
    }

    /// Runs one statement and hands each row to `body` as it is read, by column position: a
    /// listing of 100,000 certificates never holds them all, nor a cell per column.
    func each(_ sql: String, _ parameters: [SQLValue] = [], _ body: (SQLCursor) throws -> Void) throws {
        try run(sql, parameters) { statement, _ in
            while try step(statement) { try body(SQLCursor(statement: statement)) }
        }
    }

    private func step(_ statement: OpaquePointer) throws -> Bool {
        let rc = sqlite3_step(statement)
        if rc == SQLITE_DONE { return false }
        guard rc == SQLITE_ROW else { throw error(rc) }
        return true
    }

    /// Prepares (or takes from the cache) and binds one statement, runs `body` on it, then resets it.
    private func run<T>(_ sql: String, _ parameters: [SQLValue], _ body: (OpaquePointer, SQLRow.Columns) throws -> T) throws -> T {
        let statement: OpaquePointer
        var columns: SQLRow.Columns?
        var rc: Int32
        let cached = cache[sql]
        if let (prepared, map) = cached {
            statement = prepared
            columns = map
        } else {
            var prepared: OpaquePointer?
            rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
            guard rc == SQLITE_OK, let prepared else { throw error(rc) }
            statement = prepared
        }
        var keep = cached != nil
        defer {
            if keep {
                sqlite3_reset(statement)
                sqlite3_clear_bindings(statement)
            } else {
                sqlite3_finalize(statement)
            }
        }
        for (index, value) in parameters.enumerated() {
            let position = Int32(index + 1)
            switch value {
            case .integer(let v): rc = sqlite3_bind_int64(statement, position, v)
            case .text(let v):
                // By its UTF-8 length: with -1 SQLite stops at the first NUL and stores a shorter string.
                rc = sqlite3_bind_text(statement, position, v, Int32(v.utf8.count), csqlite_transient())
            case .blob(let v): rc = v.withUnsafeBytes { sqlite3_bind_blob(statement, position, $0.baseAddress, Int32($0.count), csqlite_transient()) }
            case .null: rc = sqlite3_bind_null(statement, position)
            }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
        let count = sqlite3_column_count(statement)
        if columns == nil || columns?.count != Int(count) {  // new, or re-prepared after a migration
            columns = SQLRow.Columns((0..<count).map { String(cString: sqlite3_column_name(statement, $0)) })
            if keep { cache[sql] = (statement, columns!) }
        }
        let map = columns!
        if !keep, cache.count < Self.cacheLimit {
            cache[sql] = (statement, map)
            keep = true
        }
        return try body(statement, map)
    }

    /// Runs several statements without parameters (migrations, pragmas).
    func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc) }
    }

    /// One write transaction. BEGIN IMMEDIATE takes the write lock up front, so a concurrent
    /// writer waits here (busy timeout) instead of failing halfway.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        // Inside a transaction already (sealing a database while a command writes): join it.
        if sqlite3_get_autocommit(handle) == 0 { return try body() }
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// A transaction that is always rolled back: what a dry run computes, nothing it writes stays.
    func discarding<T>(_ body: () throws -> T) throws -> T {
        precondition(sqlite3_get_autocommit(handle) != 0, "a discarding transaction cannot nest")
        try execute("BEGIN IMMEDIATE")
        defer { try? execute("ROLLBACK") }
        return try body()
    }

    var changes: Int { Int(sqlite3_changes(handle)) }

    private func error(_ rc: Int32) -> CAError {
        let message = String(cString: sqlite3_errmsg(handle))
        switch rc & 0xFF {
        case SQLITE_BUSY, SQLITE_LOCKED: return .busy(path: path)
        case SQLITE_NOTADB: return .notADatabase(path: path, reason: "the file is not an SQLite database")
        case SQLITE_CORRUPT: return .notADatabase(path: path, reason: "the database is corrupt (\(message)); restore it from a backup")
        case SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM:
            return .io("cannot write the CA database '\(path)': \(message). Check its owner and mode, or run as its owner.")
        case SQLITE_FULL, SQLITE_IOERR: return .io("cannot write the CA database '\(path)': \(message)")
        default: return .io("database error in '\(path)': \(message)")
        }
    }
}
