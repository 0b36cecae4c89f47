import CAKit
import Foundation
import Testing

/// A version literal known to be valid.
private func pv(_ text: String) -> PostgresVersion { try! PostgresVersion(text) }

/// pg-config's lines against the reference's version matrix (postgres-tls.md §4, §5, §8).
@Suite struct PgConfigTests {
    static func config(_ version: String, role: HostRole) throws -> PostgresConfig {
        let v = try PostgresVersion(version)
        let primary = try PostgresHost(name: HostName("db1.example.com"), dnsNames: [], ipAddresses: [IPAddress("192.0.2.1")], role: .primary,
                                       postgresVersion: v, dataDirectory: nil, configDirectory: nil, osUser: "postgres", replicationUser: "replicator")
        let standby = try PostgresHost(name: HostName("db2.example.com"), dnsNames: [], ipAddresses: [IPAddress("192.0.2.2"), IPAddress("2001:db8::2")],
                                       role: .standby, postgresVersion: v, dataDirectory: nil, configDirectory: nil, osUser: "postgres", replicationUser: "replicator")
        let host = role == .primary ? primary : standby
        let layout = InstallLayout(root: "", caName: "acme", host: host, osUserHome: "/var/lib/postgresql")
        return PostgresConfig(host: host, peers: [primary, standby].filter { $0.name != host.name }, layout: layout)
    }

    @Test(arguments: ["9.1", "9.2", "9.6", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19"])
    func standbyConfigFollowsTheVersionMatrix(_ version: String) throws {
        let v = try PostgresVersion(version)
        let config = try Self.config(version, role: .standby)
        let settings = try config.serverSettings().joined(separator: "\n")
        let recovery = try config.recoveryConf()
        // recovery.conf up to 11; standby.signal + primary_conninfo as a setting from 12.
        if v < pv("12") {
            let lines = try #require(recovery)
            #expect(lines.contains("standby_mode = 'on'"))
            #expect(lines.contains { $0.hasPrefix("primary_conninfo = 'host=db1.example.com hostaddr=192.0.2.1 port=5432 user=replicator") })
            #expect(!config.needsStandbySignal)
            #expect(!settings.contains("primary_conninfo"))
        } else {
            #expect(recovery == nil)
            #expect(config.needsStandbySignal)
            #expect(settings.contains("primary_conninfo = 'host=db1.example.com"))
        }
        let conninfo = try #require(try config.primaryConninfo())
        #expect(conninfo.contains("sslmode=verify-full"))
        #expect(!conninfo.contains("verify-ca"))
        for key in ["sslcert=/etc/ssl/certs/db2.example.com-replication.crt", "sslkey=/etc/ssl/private/db2.example.com-replication.key",
                    "sslrootcert=/etc/ssl/certs/acme.crt", "sslcrl=/etc/ssl/crl/acme.crl"] {
            #expect(conninfo.contains(key))
        }
        // ssl_*_file exist from 9.2; 9.1 reads fixed names in the data directory.
        #expect(settings.contains("ssl_cert_file = '/var/lib/postgresql/\(version)/main/server.crt'") == (v >= pv("9.2")))
        #expect(settings.contains("ssl_crl_file") == (v >= pv("9.2")))
        #expect(!settings.contains("ssl_crl_dir"))
        // ssl_min_protocol_version from 12.
        #expect(settings.contains("ssl_min_protocol_version = 'TLSv1.2'") == (v >= pv("12")))
        // 9.x needs WAL settings for replication at all; 10+ defaults suffice.
        #expect(settings.contains("wal_level = hot_standby") == (v < pv("10")))
        #expect(settings.contains("hot_standby = on") == (v < pv("10")))
        // clientcert: 1 up to 11, verify-full from 12 (1 is refused from 14).
        if v >= pv("12") {
            #expect(config.twoFactorExample.hasSuffix("scram-sha-256 clientcert=verify-full"))
        } else {
            #expect(config.twoFactorExample.hasSuffix("md5 clientcert=1"))
        }
    }

    @Test func hbaAllowsCertificateReplicationFromPeersOnlyAndRefusesPlaintext() throws {
        let primary = try Self.config("15", role: .primary)
        #expect(primary.hbaLines() == [
            "# TYPE   DATABASE     USER         ADDRESS          METHOD",
            "hostssl  replication  replicator  192.0.2.2/32  cert",
            "hostssl  replication  replicator  2001:db8::2/128  cert",
            "hostnossl replication all 0.0.0.0/0 reject",
            "hostnossl replication all ::/0 reject",
        ])
        #expect(try primary.primaryConninfo() == nil)
        #expect(try primary.recoveryConf() == nil)
        #expect(!primary.needsStandbySignal)
    }

    @Test func theMarkedBlockGoesFirstAndIsReplacedInPlace() {
        let original = "# Debian\nhost replication all 127.0.0.1/32 scram-sha-256\n"
        let once = PostgresConfig.withBlock(["hostssl a b c cert"], in: original, atTop: true)
        #expect(once.hasPrefix(PostgresConfig.beginMarker + "\nhostssl a b c cert\n" + PostgresConfig.endMarker + "\n\n# Debian"))
        let twice = PostgresConfig.withBlock(["hostssl x y z cert"], in: once, atTop: true)
        #expect(twice.components(separatedBy: PostgresConfig.beginMarker).count == 2)
        #expect(twice.contains("hostssl x y z cert") && !twice.contains("hostssl a b c cert"))
        #expect(twice.hasSuffix("host replication all 127.0.0.1/32 scram-sha-256\n"))
    }

    @Test func includeIsAddedOnlyWhenConfDIsNotAlreadyIncluded() throws {
        let config = try Self.config("15", role: .primary)
        #expect(config.includeBlock(for: "include_dir = 'conf.d'\n") == nil)
        #expect(config.includeBlock(for: "#include_dir = 'conf.d'\n") == ["include_if_exists = 'conf.d/ca-ssl.conf'"])
        #expect(try Self.config("9.1", role: .primary).includeBlock(for: "") == ["include 'conf.d/ca-ssl.conf'"])
    }

    @Test func settingsFollowIncludesAndTheLastValueWins() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pgset-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/conf.d", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "ssl = off\nssl_cert_file = '/etc/ssl/certs/ssl-cert-snakeoil.pem' # Debian\ninclude_dir = 'conf.d'\n".write(toFile: dir + "/postgresql.conf", atomically: true, encoding: .utf8)
        try "ssl = on\nssl_cert_file = 'server.crt'\n".write(toFile: dir + "/conf.d/ca-ssl.conf", atomically: true, encoding: .utf8)
        try "primary_conninfo = 'host=x user=''quoted'''\n".write(toFile: dir + "/postgresql.auto.conf", atomically: true, encoding: .utf8)
        let me = Account(name: "me", uid: geteuid(), gid: getegid(), home: "/", groups: [])
        let settings = PostgresSettings(configFile: dir + "/postgresql.conf", dataDirectory: dir, root: try FileRoot(), account: me)
        #expect(settings.problem == nil)
        #expect(settings["ssl"] == "on")
        #expect(settings.path("ssl_cert_file", dataDirectory: "/data") == "/data/server.crt")
        #expect(settings["primary_conninfo"] == "host=x user='quoted'")
    }

    @Test func keyFileRulesMatchPostgreSQL() throws {
        let v15 = pv("15"), v95 = pv("9.5")
        #expect(KeyFileRule.serverProblem(version: v15, ownerUID: 0, mode: 0o640, isRegular: true, serverUID: 101) == nil)
        #expect(KeyFileRule.serverProblem(version: v15, ownerUID: 101, mode: 0o600, isRegular: true, serverUID: 101) == nil)
        #expect(KeyFileRule.serverProblem(version: v15, ownerUID: 101, mode: 0o640, isRegular: true, serverUID: 101) != nil)
        #expect(KeyFileRule.serverProblem(version: v15, ownerUID: 0, mode: 0o644, isRegular: true, serverUID: 101) != nil)
        #expect(KeyFileRule.serverProblem(version: v15, ownerUID: 0, mode: 0o660, isRegular: true, serverUID: 101) != nil)
        #expect(KeyFileRule.serverProblem(version: v15, ownerUID: 65534, mode: 0o600, isRegular: true, serverUID: 101) != nil)
        #expect(KeyFileRule.serverProblem(version: v15, ownerUID: 0, mode: 0o600, isRegular: false, serverUID: 101) != nil)
        #expect(KeyFileRule.serverProblem(version: v95, ownerUID: 0, mode: 0o640, isRegular: true, serverUID: 101) != nil)
        #expect(KeyFileRule.serverProblem(version: v95, ownerUID: 65534, mode: 0o600, isRegular: true, serverUID: 101) == nil)
        #expect(KeyFileRule.clientProblem(ownerUID: 0, mode: 0o640, isRegular: true) == nil)
        #expect(KeyFileRule.clientProblem(ownerUID: 101, mode: 0o640, isRegular: true) != nil)
        #expect(KeyFileRule.clientProblem(ownerUID: 101, mode: 0o400, isRegular: true) == nil)
    }

    /// A config file that includes itself many times: a clear problem, fast, not a hang (100^10 reads).
    @Test func anIncludeLoopIsAProblemNotAHang() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pgloop-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try (String(repeating: "include 'postgresql.conf'\n", count: 100) + "ssl = on\n").write(toFile: dir + "/postgresql.conf", atomically: true, encoding: .utf8)
        let me = Account(name: "me", uid: geteuid(), gid: getegid(), home: "/", groups: [])
        let started = Date()
        let settings = PostgresSettings(configFile: dir + "/postgresql.conf", dataDirectory: dir, root: try FileRoot(), account: me)
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(settings.problem?.contains("include") == true, "\(settings.problem ?? "no problem")")
    }
}
