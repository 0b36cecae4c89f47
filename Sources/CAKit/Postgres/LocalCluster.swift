import FoundationEssentials
import Glibc

/// A throwaway PostgreSQL server on loopback, run as the `postgres` OS user through runuser:
/// what `ca demo --postgres` and the end-to-end tests start. Stopped by its own PID, never by name.
public final class LocalCluster: @unchecked Sendable {
    public let binaries: String
    public let dataDirectory: String
    public let socketDirectory: String
    public let port: Int
    public let logFile: String
    public let osUser: String
    /// Where the server's own shared libraries are (LD_LIBRARY_PATH), for a build whose modules would
    /// otherwise load the system's libpq: the walreceiver must run with its own major's libpq.
    public let libraries: String?

    public init(binaries: String, dataDirectory: String, socketDirectory: String, port: Int, logFile: String, osUser: String = "postgres",
                libraries: String? = nil) {
        self.libraries = libraries
        self.binaries = binaries
        self.dataDirectory = dataDirectory
        self.socketDirectory = socketDirectory
        self.port = port
        self.logFile = logFile
        self.osUser = osUser
    }

    /// The newest installed server's bin directory (Debian: /usr/lib/postgresql/<major>/bin).
    public static func newestBinaries() -> (path: String, version: PostgresVersion)? {
        let base = "/usr/lib/postgresql"
        let majors = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [])
            .compactMap { name -> (String, PostgresVersion)? in (try? PostgresVersion(name)).map { (name, $0) } }
            .filter { FileManager.default.isExecutableFile(atPath: "\(base)/\($0.0)/bin/initdb") }
            .sorted { $0.1 < $1.1 }
        return majors.last.map { ("\(base)/\($0.0)/bin", $0.1) }
    }

    /// A free TCP port on 127.0.0.1, found by binding to port 0.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    public struct Output: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public var ok: Bool { status == 0 }
    }

    /// Runs a program as the OS user, with a clean HOME (libpq 15+ follows $HOME for ~/.postgresql).
    public func run(_ program: String, _ arguments: [String]) throws -> Output {
        try Self.run(asUser: osUser, program, arguments, libraries: libraries)
    }

    public static func run(asUser user: String, _ program: String, _ arguments: [String], libraries: String? = nil) throws -> Output {
        let home = SystemAccounts().user(user)?.home ?? "/"
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ca-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out").path, err = scratch.appendingPathComponent("err").path
        var extra = ["HOME": home, "USER": user, "LOGNAME": user, "PGCONNECT_TIMEOUT": "5"]
        if let libraries { extra["LD_LIBRARY_PATH"] = libraries }
        let environment = ChildEnvironment.minimal(extra)
        let status = try Spawn.run(["/usr/sbin/runuser", "-u", user, "--", program] + arguments, stdout: out, stderr: err, environment: environment)
        return Output(status: status, stdout: text(out), stderr: text(err))
    }

    /// A file the child wrote (its output, the server log), read without following a link: the
    /// OS user owns the log and could put a link to a root-only file in its place.
    static func text(_ path: String, limit: Int = 4 << 20) -> String {
        (try? FileRoot().read(path, limit: limit)).map { String(decoding: $0.bytes, as: UTF8.self) } ?? ""
    }

    private func require(_ output: Output, _ what: String) throws -> Output {
        guard output.ok else { throw CAError.io("\(what) failed: \(output.stderr.trimmed)") }
        return output
    }

    /// initdb with peer for local sockets and reject for TCP; then loopback-only listening settings.
    public func initdb() throws {
        _ = try require(run(binaries + "/initdb", ["-D", dataDirectory, "-U", "postgres", "--auth-local=peer", "--auth-host=reject", "-N"]), "initdb")
        try appendSettings(["listen_addresses = '127.0.0.1'", "port = \(port)", "unix_socket_directories = '\(socketDirectory)'"])
    }

    /// Appends lines to postgresql.conf (later lines win).
    public func appendSettings(_ lines: [String]) throws {
        let path = dataDirectory + "/postgresql.conf"
        let fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw CAError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let text = Array(("\n" + lines.joined(separator: "\n") + "\n").utf8)
        guard write(fd, text, text.count) == text.count else { throw CAError.io("cannot append to \(path): \(String(cString: strerror(errno)))") }
    }

    public func start() throws {
        _ = try require(run(binaries + "/pg_ctl", ["-D", dataDirectory, "-l", logFile, "-w", "-t", "30", "start"]), "starting PostgreSQL in \(dataDirectory)")
    }

    /// The running postmaster of this data directory, verified (see `Postmaster`).
    public var postmaster: Postmaster? {
        guard let root = try? FileRoot(), case .verified(let postmaster) = Postmaster.find(dataDirectory: dataDirectory, osUser: osUser, root: root) else { return nil }
        return postmaster
    }

    /// The postmaster's PID, once verified.
    public var pid: Int32? { postmaster?.pid }

    /// Stops this server by its own verified PID (fast shutdown), waiting up to 10 s.
    public func stop() {
        guard let postmaster else { return }
        _ = postmaster.signal(SIGINT)
        for _ in 0..<100 {
            if !postmaster.isAlive { return }
            usleep(100_000)
        }
        _ = postmaster.signal(SIGKILL)
    }

    /// One SQL command over the Unix socket as the postgres superuser; rows as `a|b` lines.
    public func sql(_ command: String) throws -> String {
        try require(run(binaries + "/psql", ["-h", socketDirectory, "-p", String(port), "-U", "postgres", "-d", "postgres", "-qAtX", "-c", command]),
                    "psql on port \(port)").stdout.trimmed
    }

    /// A replication connection (what the walreceiver opens) with a libpq conninfo, running IDENTIFY_SYSTEM.
    public func replicationProbe(_ conninfo: String) throws -> Output {
        try run(binaries + "/psql", [conninfo + " replication=true", "-qAtX", "-c", "IDENTIFY_SYSTEM"])
    }

    /// pg_basebackup over the given conninfo into `target` (which must exist, empty, owned by the OS user).
    public static func basebackup(binaries: String, conninfo: String, into target: String, osUser: String = "postgres", libraries: String? = nil) throws {
        let output = try run(asUser: osUser, binaries + "/pg_basebackup", ["-D", target, "-d", conninfo, "-X", "stream", "-c", "fast"], libraries: libraries)
        guard output.ok else { throw CAError.io("pg_basebackup failed: \(output.stderr.trimmed)") }
    }

    /// Waits until `condition` holds, checking every 100 ms; false after `timeout` seconds.
    public static func wait(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }

    /// The log so far, for failures.
    public var log: String { Self.text(logFile, limit: 64 << 20) }
}
