import FoundationEssentials
import Glibc

/// The README's first command: a scratch CA with a primary and a standby, all under one directory.
public enum Demo {
    public struct Result: Sendable {
        public let database: String
        public let bundlePath: String
        public let hosts: [PostgresHost]
        public let certificates: [CertificateRecord]
        /// Per host, what install did and what doctor found; empty when not run as root.
        public let installs: [(host: String, report: Installer.Report, findings: [Finding])]
        /// Why nothing was installed, when that is so.
        public let skippedInstall: String?
    }

    public static let caName = "demo-replication-ca"

    /// A new scratch directory, or `directory` if it is absent or empty.
    public static func prepare(directory: String?) throws -> String {
        guard let directory else {
            var template = Array("/tmp/ca-demo.XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw CAError.io("cannot create a scratch directory in /tmp: \(String(cString: strerror(errno)))") }
            return String(cString: made)
        }
        let path = try AbsolutePath(directory.hasPrefix("/") ? directory : FileManager.default.currentDirectoryPath + "/" + directory,
                                    what: "demo directory").value
        if let contents = try? FileManager.default.contentsOfDirectory(atPath: path), !contents.isEmpty {
            throw CAError.invalid("the demo directory '\(path)' is not empty", fix: "Give a new or empty directory, or leave out --dir.")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CAError.io("cannot create the demo directory '\(path)': \(error.message)")
        }
        return path
    }

    public static func run(in root: String, now: @escaping () -> Date = Clock.now) throws -> Result {
        let database = root + "/ca.sqlite3"
        let (store, _) = try CAStore.openOrCreate(path: database)
        _ = try Issuer.createRoot(store: store, name: caName, keyType: .ecP256, days: Validity.defaultRootDays, passphrase: nil, now: now())
        let hosts = [
            try PostgresHost(name: HostName("db1.demo.internal"), dnsNames: [], ipAddresses: [IPAddress("127.0.0.1")],
                     role: .primary, postgresVersion: .default, dataDirectory: AbsolutePath("/var/lib/postgresql/15/db1", what: "data"),
                     configDirectory: AbsolutePath("/etc/postgresql/15/db1", what: "config"),
                     osUser: "postgres", replicationUser: "replicator", port: 55432),
            try PostgresHost(name: HostName("db2.demo.internal"), dnsNames: [], ipAddresses: [IPAddress("127.0.0.1")],
                     role: .standby, postgresVersion: .default, dataDirectory: AbsolutePath("/var/lib/postgresql/15/db2", what: "data"),
                     configDirectory: AbsolutePath("/etc/postgresql/15/db2", what: "config"),
                     osUser: "postgres", replicationUser: "replicator", port: 55433),
        ]
        try store.write {
            for host in hosts {
                try store.insertHost(host, at: now())
                try store.record("host add", subject: host.name.value, detail: "demo \(host.role.rawValue)", at: now())
            }
        }
        let issuer = Issuer(store: store, vault: KeyVault { nil }, now: now)
        var certificates: [CertificateRecord] = []
        for host in hosts { certificates += try issuer.issue(host: host.name.value).certificates }

        let bundlePath = root + "/\(caName).crt"
        let bundle = try store.trustedAuthorities().map(\.certificatePEM).joined()
        guard FileManager.default.createFile(atPath: bundlePath, contents: Data(bundle.utf8), attributes: [.posixPermissions: 0o644]) else {
            throw CAError.io("cannot write '\(bundlePath)'")
        }
        var installs: [(host: String, report: Installer.Report, findings: [Finding])] = []
        var skipped: String?
        if geteuid() != 0 {
            skipped = "not run as root: ca can set the owners PostgreSQL requires only as root"
        } else if SystemAccounts().user("postgres") == nil {
            skipped = "there is no 'postgres' OS user: install PostgreSQL (apt-get install postgresql) to see the install step"
        } else {
            // The scratch tree must be searchable by postgres, as /var/lib and /etc are.
            chmod(root, 0o755)
            for host in hosts {
                try stageCluster(host, root: root)
                let report = try Installer().install(hostName: host.name.value, store: store, vault: KeyVault { nil },
                                                     options: .init(root: root, link: true, configure: true, now: now()))
                installs.append((host.name.value, report, try Doctor.forHost(host.name.value, store: store, root: root, now: now()).run()))
            }
        }
        return Result(database: database, bundlePath: bundlePath, hosts: hosts, certificates: certificates,
                      installs: installs, skippedInstall: skipped)
    }

    /// What `pg_createcluster` leaves behind, in miniature: a data directory with PG_VERSION, and a
    /// Debian config directory whose postgresql.conf names the snakeoil files and includes conf.d.
    public static func stageCluster(_ host: PostgresHost, root: String) throws {
        guard let postgres = SystemAccounts().user(host.osUser) else { return }
        let data = host.dataDirectory.under(root), config = host.configDirectory.under(root)
        for (directory, mode) in [(data, 0o700), (config, 0o755)] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            chmod(directory, mode_t(mode))
            chown(directory, postgres.uid, postgres.gid)
        }
        var conf = ["data_directory = '\(data)'", "port = \(host.port)", "ssl = on"]
        if host.postgresVersion >= PostgresVersion(uncheckedMajor: 9, minor: 2) {
            conf += ["ssl_cert_file = '/etc/ssl/certs/ssl-cert-snakeoil.pem'", "ssl_key_file = '/etc/ssl/private/ssl-cert-snakeoil.key'"]
        }
        if host.postgresVersion >= PostgresVersion(uncheckedMajor: 9, minor: 3) { conf.append("include_dir = 'conf.d'") }
        let files: [(String, String)] = [
            (data + "/PG_VERSION", "\(host.postgresVersion)\n"),
            (config + "/postgresql.conf", conf.joined(separator: "\n") + "\n"),
            (config + "/pg_hba.conf", """
                local   all             postgres                                peer
                local   all             all                                     peer
                host    all             all             127.0.0.1/32            scram-sha-256
                local   replication     all                                     peer
                host    replication     all             127.0.0.1/32            scram-sha-256

                """),
        ]
        for (path, text) in files {
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o640]) else {
                throw CAError.io("cannot write '\(path)'")
            }
            chown(path, postgres.uid, postgres.gid)
        }
    }
}
