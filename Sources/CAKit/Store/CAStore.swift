import CSQLite
import FoundationEssentials
import Glibc

/// The PKI in one SQLite file: authorities, hosts, certificates, events. It persists and never signs.
/// Every public mutation runs inside `write`, one transaction per command.
public final class CAStore {
    public let path: String
    let db: SQLiteConnection
    private var integrityChecked = false

    /// `PRAGMA application_id` of a ca database ("CAPG").
    static let applicationID: Int64 = 0x4341_5047

    /// `--db` / `CA_DB` / `${XDG_DATA_HOME:-~/.local/share}/ca/ca.sqlite3`.
    public static func defaultPath(environment: [String: String] = Environment.values(["CA_DB", "XDG_DATA_HOME", "HOME"])) -> String {
        if let db = environment["CA_DB"], !db.isEmpty { return db }
        if let data = environment["XDG_DATA_HOME"], data.hasPrefix("/") { return data + "/ca/ca.sqlite3" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? getpwuid(getuid()).map { String(cString: $0.pointee.pw_dir) } ?? "/root"
        return home + "/.local/share/ca/ca.sqlite3"
    }

    private init(path: String, connection: SQLiteConnection) {
        self.path = path
        self.db = connection
    }

    /// Opens an existing ca database. Never creates a file and writes nothing unless a
    /// migration is pending.
    public static func open(path: String) throws -> CAStore {
        guard try inspect(path) != .missing else { throw CAError.noDatabase(path: path) }
        return try connect(path: path)
    }

    /// Opens the database at `path`, creating it (mode 0600, parent directories 0700) if there is
    /// no file yet. `created` tells the caller whether to remove it should the first transaction fail.
    public static func openOrCreate(path: String) throws -> (store: CAStore, created: Bool) {
        var created = false
        if try inspect(path) == .missing {
            try createDirectories(for: path)
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw CAError.io("cannot create the CA database '\(path)': \(String(cString: strerror(errno)))") }
            close(fd)
            created = true
        }
        do {
            return (try connect(path: path), created)
        } catch {
            if created { removeFiles(path) }
            throw error
        }
    }

    /// Removes a database file and its WAL side files (a failed `init` cleans up after itself).
    public static func removeFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
    }

    private enum FileState { case missing, empty, sqlite }

    /// Checks what is at `path` before SQLite touches it, so a wrong file is refused unchanged.
    private static func inspect(_ path: String) throws -> FileState {
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT { return .missing }
            throw CAError.notADatabase(path: path, reason: String(cString: strerror(errno)))
        }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: throw CAError.notADatabase(path: path, reason: "it is a directory; give a file path such as '\(path)/ca.sqlite3'")
        case S_IFLNK: throw CAError.notADatabase(path: path, reason: "it is a symbolic link; give the real path")
        case S_IFREG: break
        default: throw CAError.notADatabase(path: path, reason: "it is not a regular file")
        }
        if info.st_size == 0 { return .empty }
        let fd = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw CAError.notADatabase(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 16)
        let count = read(fd, &header, 16)
        guard count == 16, header == Array("SQLite format 3\0".utf8) else {
            throw CAError.notADatabase(path: path, reason: "the file is not an SQLite database")
        }
        return .sqlite
    }

    private static func createDirectories(for path: String) throws {
        let directory = Path.parent(path)
        guard !directory.isEmpty else { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw CAError.io("cannot create the directory '\(directory)' for the CA database: \(error.message)")
        }
    }

    private static func connect(path: String) throws -> CAStore {
        let connection = try SQLiteConnection(path: path)
        let store = CAStore(path: path, connection: connection)
        try store.prepare()
        return store
    }

    /// Checks the file is ours, sets connection pragmas, applies pending migrations.
    private func prepare() throws {
        let application = try db.query("PRAGMA application_id").first?.int("application_id") ?? 0
        let tables = try db.query("SELECT count(*) AS n FROM sqlite_master").first?.int("n") ?? 0
        if application != CAStore.applicationID && (application != 0 || tables > 0) {
            throw CAError.notADatabase(path: path, reason: "it is an SQLite database of another application, not a ca database")
        }
        // Sorts and temporary tables in memory, not in spill files beside the data (a listing's sort
        // of 100,000 rows spilled at the default 2 MiB cache).
        // An 8 MiB page cache (SQLite's default is 2 MiB): reading 100,000 rows in issue order visits
        // the table out of rowid order, and with 500 pages cached `ca list` read 81,000 pages, most
        // of them again. The cache only holds pages read, so small commands stay small.
        try db.execute("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8192;")
        if try db.query("PRAGMA journal_mode").first?.string("journal_mode") != "wal" {
            try db.query("PRAGMA journal_mode = WAL")
        }
        try migrate()
        try checkConsistency()
    }

    private func appliedMigrations() throws -> Set<String> {
        let exists = try db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
        guard !exists.isEmpty else { return [] }
        return Set(try db.query("SELECT name FROM schema_migrations").map { $0.string("name") })
    }

    private func migrate() throws {
        let done = try appliedMigrations()
        guard done.count < Migration.all.count else { return }
        // PRAGMA foreign_keys is ignored inside a transaction: set it before, put it back after.
        let rebuilds = Migration.all.contains { $0.foreignKeysOff && !done.contains($0.name) }
        if rebuilds { try db.execute("PRAGMA foreign_keys = OFF") }
        defer { if rebuilds { try? db.execute("PRAGMA foreign_keys = ON") } }
        try db.transaction {
            try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
            let applied = try appliedMigrations()  // again, under the lock: another process may have won
            for migration in Migration.all where !applied.contains(migration.name) {
                try db.execute(migration.sql)
                if let batched = migration.batched {
                    // Slices by the rowids there are (keyset), whatever their gaps.
                    let next = "SELECT max(rowid) AS end FROM (SELECT rowid FROM \(batched.table) WHERE rowid > ? ORDER BY rowid LIMIT \(batched.rows))"
                    var low = Int64.min
                    while case .integer(let end)? = try db.query(next, [.integer(low)]).first?["end"] {
                        for statement in batched.statements { try db.query(statement, [.integer(low), .integer(end)]) }
                        low = end
                    }
                    try db.execute(batched.finally)
                }
                try db.query("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                             [.text(migration.name), .integer(Int64(Date().timeIntervalSince1970))])
            }
            if rebuilds, let broken = try db.query("PRAGMA foreign_key_check").first {
                throw CAError.notADatabase(path: path, reason: "upgrading it would break a reference (\(broken.string("table")) row \(broken.int("rowid")) → \(broken.string("parent"))); nothing was changed. Restore it from a backup")
            }
            try db.execute("PRAGMA application_id = \(CAStore.applicationID)")
        }
    }

    /// One write transaction (BEGIN IMMEDIATE): all of it lands, or none of it. The first write of a
    /// process checks the file first (`PRAGMA quick_check`): a damaged database is refused, never
    /// written to, however much of it still reads.
    public func write<T>(_ body: () throws -> T) throws -> T {
        if !integrityChecked {
            if let problem = try integrityProblem() {
                throw CAError.notADatabase(path: path, reason: "it is damaged (quick_check: \(problem.prefix(200))); nothing was written. Restore it from a backup")
            }
            integrityChecked = true
        }
        return try db.transaction(body)
    }

    /// Runs `body` in a transaction that is rolled back whatever happens: a dry run sees what a real
    /// run would write (a CRL that is due, say) and leaves the database as it was.
    public func discarding<T>(_ body: () throws -> T) throws -> T {
        try db.discarding(body)
    }

    /// File mode of the database, for `status` warnings.
    public var fileMode: mode_t? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o777 : nil
    }

    /// `PRAGMA quick_check` (`integrity_check` when `full`, which also checks every index against its
    /// table): nil when the database is sound, else SQLite's first complaint.
    public func integrityProblem(full: Bool = false) throws -> String? {
        let pragma = full ? "integrity_check" : "quick_check"
        let result = try db.query("PRAGMA \(pragma)").first?.string(pragma) ?? "ok"
        return result == "ok" ? nil : result
    }
}
