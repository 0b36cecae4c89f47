import FoundationEssentials
import Glibc

/// `ca demo --postgres`: a primary and a standby really running and replicating over verified TLS
/// with only what ca installed, then a full CA rotation with replication kept up. Narrated through
/// `say`; the servers are left running.
public struct PostgresDemo {
    public struct Result: Sendable {
        public let root: String
        public let database: String
        public let pair: ReplicationPair
    }

    let say: (String) -> Void
    public init(say: @escaping (String) -> Void) { self.say = say }

    public func run(in root: String) throws -> Result {
        guard geteuid() == 0 else { throw CAError.invalid("'ca demo --postgres' runs PostgreSQL as the postgres user, so it must run as root") }
        guard let (binaries, version) = LocalCluster.newestBinaries(), let postgres = SystemAccounts().user("postgres") else {
            throw CAError.invalid("no PostgreSQL server is installed", fix: "apt-get install -y postgresql")
        }
        chmod(root, 0o755)
        for (directory, mode) in [("run", 0o755), ("log", 0o755), ("pg", 0o755), ("pg/db1", 0o700), ("pg/db2", 0o700)] {
            let path = root + "/" + directory
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            chmod(path, mode_t(mode))
            if directory != "pg" { chown(path, postgres.uid, postgres.gid) }
        }
        func cluster(_ name: String) -> LocalCluster {
            LocalCluster(binaries: binaries, dataDirectory: root + "/pg/" + name, socketDirectory: root + "/run",
                         port: LocalCluster.freePort(), logFile: root + "/log/\(name).log")
        }
        let primary = cluster("db1"), standby = cluster("db2")
        let pair = ReplicationPair(primary: primary, standby: standby)
        var started: [LocalCluster] = []
        do {
            let database = root + "/ca.sqlite3"
            let store = try CAStore.openOrCreate(path: database).store
            let vault = KeyVault { nil }
            _ = try Issuer.createRoot(store: store, name: Demo.caName, keyType: .ecP256, days: Validity.defaultRootDays, passphrase: nil, now: Date())
            let names = ["db1.demo.internal", "db2.demo.internal"]
            for (name, role, node) in [(names[0], HostRole.primary, primary), (names[1], HostRole.standby, standby)] {
                let dataDirectory = try AbsolutePath(String(node.dataDirectory.dropFirst(root.count)), what: "data directory")
                let host = try PostgresHost(name: HostName(name), dnsNames: [], ipAddresses: [IPAddress("127.0.0.1")], role: role,
                                            postgresVersion: version, dataDirectory: dataDirectory, configDirectory: dataDirectory,
                                            osUser: "postgres", replicationUser: "replicator", port: node.port)
                try store.write { try store.insertHost(host, at: Date()) }
                _ = try Issuer(store: store, vault: vault).issue(host: name)
            }
            say("1. Made the CA '\(Demo.caName)' in \(database), and for each host a server certificate and a replication client certificate.")

            func install(_ name: String, link: Bool = true, reload: Bool = true) throws {
                _ = try Installer().install(hostName: name, store: store, vault: vault,
                                            options: .init(root: root, link: link, configure: link), reload: reload)
            }

            try primary.initdb()
            started.append(primary)
            try install(names[0], reload: false)
            try primary.start()
            _ = try primary.sql("CREATE ROLE replicator LOGIN REPLICATION")
            _ = try primary.sql("CREATE TABLE probe (label text)")
            say("   Primary db1: initdb, 'install --link --configure' (keys, links, conf.d/ca-ssl.conf, pg_hba.conf), started on 127.0.0.1:\(primary.port).")

            try install(names[1], link: false, reload: false)
            let standbyHost = try store.host(named: names[1])
            let layout = InstallLayout(root: root, caName: Demo.caName, host: standbyHost, osUserHome: postgres.home)
            let config = PostgresConfig(host: standbyHost, peers: try store.hosts().filter { $0.name != standbyHost.name }, layout: layout)
            try LocalCluster.basebackup(binaries: binaries, conninfo: try config.primaryConninfo() ?? "", into: standby.dataDirectory)
            try standby.appendSettings(["port = \(standby.port)", "wal_retrieve_retry_interval = '500ms'"])
            try install(names[1], reload: false)
            try standby.start()
            started.append(standby)
            say("   Standby db2: pg_basebackup over TLS with its replication certificate (sslmode=verify-full, cert auth),")
            say("   then the links pg_basebackup skips and its config, started on 127.0.0.1:\(standby.port).")
            guard pair.waitForStreaming() else { throw CAError.io("the standby did not start streaming; its log:\n\(standby.log.suffix(1500))") }
            try pair.reconnectAndCheck("demo-start")
            say("   Streaming: \(pair.walsenders.first ?? "") (state|ssl|client_dn|client_serial); a row written on db1 arrived on db2.")

            let doctor = try names.map { try Doctor.forHost($0, store: store, root: root).run() }
            say("2. doctor: " + zip(names, doctor).map { "\($0.0) \($0.1.filter { $0.level == .ok }.count) OK, \($0.1.filter { $0.level == .fail }.count) FAIL" }.joined(separator: "; ") + ".")

            let rotation = Rotation(store: store, vault: vault)
            _ = try rotation.start(keyType: nil, days: nil, passphrase: nil)
            try install(names[0]); try install(names[1])
            try pair.reconnectAndCheck("demo-rotate-start")
            say("3. Rotation, stage 1: a new root beside the old; both hosts trust both; replication reconnected and kept streaming.")
            let count = try rotation.reissue()
            try install(names[1]); try pair.reconnectAndCheck("demo-reissue-standby")
            try install(names[0]); try pair.reconnectAndCheck("demo-reissue-primary")
            say("   Stage 2: \(count) certificates re-issued under the new root; standby installed first, then primary; streaming after each.")
            try rotation.finish()
            try install(names[1]); try install(names[0])
            try pair.reconnectAndCheck("demo-rotate-finish")
            say("   Stage 3: the old root retired; both hosts trust the new root alone; still streaming: \(pair.walsenders.first ?? "").")
            return Result(root: root, database: database, pair: pair)
        } catch {
            for node in started.reversed() { node.stop() }
            throw error
        }
    }
}
