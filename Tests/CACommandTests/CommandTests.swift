import CAKit
import Foundation
import TestSupport
import Testing

/// The built `ca` binary: output, exit codes, and that bad input changes nothing.
@Suite struct CommandTests {
    /// A database with an encrypted CA and one primary host, plus the passphrase file.
    final class Seeded {
        let scratch: Scratch
        let db: String
        let pw: String
        static let passphrase = "correct horse battery"

        init() throws {
            scratch = try Scratch()
            pw = try scratch.write("pw", Seeded.passphrase + "\n")
            db = scratch.file("ca.sqlite3")
            let initialise = try CABinary.run(["init", "--name", "cli-ca", "--db", db, "--passphrase-file", pw])
            #expect(initialise.status == 0, "\(initialise.stderr)")
            let add = try CABinary.run(["host", "add", "db1.example.com", "--dns", "db1", "--ip", "192.0.2.10", "--role", "primary", "--db", db])
            #expect(add.status == 0, "\(add.stderr)")
        }
    }

    static func digest(_ path: String) -> [UInt8]? {
        (try? Data(contentsOf: URL(fileURLWithPath: path))).map { Digest.sha256(Array($0)) }
    }

    @Test func initCreatesAPrivateDatabaseAndRefusesASecond() throws {
        let seed = try Seeded(); let (db, pw) = (seed.db, seed.pw)
        var info = stat()
        #expect(stat(db, &info) == 0 && info.st_mode & 0o777 == 0o600)
        let before = Self.digest(db)
        let again = try CABinary.run(["init", "--name", "other", "--db", db, "--passphrase-file", pw])
        #expect(again.status == 64)
        #expect(again.stderr == "error: '\(db)' already holds the CA 'cli-ca'; init refuses to replace it. Use another --db, or 'ca rotate' to replace the CA key.\n")
        #expect(Self.digest(db) == before)
    }

    /// Each bad input: exit 64, one line on stderr naming the value, nothing on stdout, database unchanged.
    @Test(arguments: [
        (["host", "add", "a/b"], "'a/b'"),
        (["host", "add", "../etc"], "'../etc'"),
        (["host", "add", "db 1"], "'db 1'"),
        (["host", "add", "--", "-db1"], "'-db1'"),
        (["host", "add", String(repeating: "a", count: 60) + "." + String(repeating: "b.", count: 100) + "c"], "limit is 253"),
        (["host", "add", "a..b"], "empty label"),
        (["host", "add", "db9", "--ip", "10.0.0.300"], "'10.0.0.300'"),
        (["host", "add", "db9", "--ip", "fe80::1::2"], "'fe80::1::2'"),
        (["host", "add", "db9", "--dns", "ok.example", "--dns", "bad_name"], "'bad_name'"),
        (["host", "add", "db9", "--pg-version", "8.4"], "'8.4'"),
        (["host", "add", "db9", "--role", "leader"], "'leader'"),
        (["host", "add", "db9", "--data-dir", "relative/path"], "'relative/path'"),
        (["host", "add", "db9", "--replication-user", "Repl;drop"], "'Repl;drop'"),
        (["host", "add", "db1.example.com"], "'db1.example.com' already exists"),
        (["issue", "ghost"], "'ghost'"),
        (["issue", "db1.example.com", "--days", "0"], "--days 0"),
        (["issue", "db1.example.com", "--days", "-5"], "--days -5"),
        (["issue", "db1.example.com", "--days", "5000"], "--days 5000"),
        (["issue", "db1.example.com", "--key", "dsa-1024"], "'dsa-1024'"),
        (["issue", "server", "bad/name"], "'bad/name'"),
        (["issue", "client", "Bad Role"], "'Bad Role'"),
        (["init", "--name", "x", "--key", "rsa-1024", "--no-passphrase"], "'rsa-1024'"),
        (["init", "--name", "x", "--days", "0", "--no-passphrase"], "--days 0"),
        (["init", "--name", "!!!", "--no-passphrase"], "'!!!'"),
        (["init", "--name", " Acme CA", "--no-passphrase"], "' Acme CA'"),
        (["init", "--name", "Acme\tCA", "--no-passphrase"], "control"),
        (["init", "--name", "Acme CA", "--file-name", "a/b", "--no-passphrase"], "'a/b'"),
        (["init", "--name", "Acme CA", "--file-name", "ca-certificates", "--no-passphrase"], "reserved"),
        (["list", "--expiring", "soon"], "'soon'"),
        (["list", "--status", "lost"], "'lost'"),
        (["show", "FFFF"], "'FFFF'"),
        (["probe"], "no host to probe"),
        (["probe", "db1.example.com", "--all"], "--all"),
        (["probe", "db1.example.com", "--address", "bad/addr"], "'bad/addr'"),
        (["probe", "db1.example.com", "--timeout", "0"], "--timeout 0"),
        (["probe", "ghost.example.com"], "'ghost.example.com'"),
        (["deploy"], "no host to deploy"),
        (["deploy", "db1.example.com", "--all"], "--all"),
        (["deploy", "db1.example.com", "--force"], "--force"),
        (["deploy", "--all", "--parallel", "0"], "--parallel 0"),
        (["deploy", "--all", "--timeout", "0"], "--timeout 0"),
        (["deploy", "ghost.example.com"], "'ghost.example.com'"),
        (["deploy", "bad/name"], "'bad/name'"),
        (["deploy", "db1.example.com", "--ssh", "/nonexistent/ssh"], "'/nonexistent/ssh'"),
        (["deploy", "db1.example.com", "--remote-ca", " "], "--remote-ca"),
        (["deploy", "db1.example.com", "--new-key"], "'db1.example.com' has its keys made by the CA"),
        (["host", "add", "db9", "--keys", "both"], "'both'"),
        (["host", "set", "db1.example.com", "--keys", "maybe"], "'maybe'"),
        (["host", "set", "ghost.example.com", "--keys", "host"], "'ghost.example.com'"),
        (["request", "db1.example.com"], "'db1.example.com' keeps its keys in the CA"),
        (["request"], "give a host or --bundle FILE, not neither"),
        (["request", "db1.example.com", "--bundle", "x.json"], "not both"),
        (["request", "--bundle", "/nonexistent/bundle.json"], "'/nonexistent/bundle.json'"),
        (["request", "--bundle", "/dev/null", "--key", "dsa-1024"], "'dsa-1024'"),
        (["request", "--bundle", "/nonexistent/b.json", "--ca-fingerprint", "abc"], "'abc'"),
        (["sign", "db1.example.com", "--csr", "/dev/null", "--kind", "server"], "'db1.example.com' keeps its keys in the CA"),
        (["sign"], "give --request FILE"),
        (["sign", "--request", "r.json"], "--request needs the HOST"),
        (["sign", "ghost.example.com", "--request", "r.json"], "'ghost.example.com'"),
        (["sign", "--csr", "x.csr", "--profile", "admin"], "'admin'"),
        (["sign", "--csr", "/nonexistent/x.csr", "--profile", "client", "--role", "replicator"], "'/nonexistent/x.csr'"),
        (["sign", "db1.example.com", "--csr", "x.csr", "--profile", "server"], "--profile"),
        (["sign", "--csr", "x.csr", "--profile", "client", "--role", "Bad Role"], "'Bad Role'"),
        (["sign", "--csr", "x.csr", "--profile", "server", "--dns", "bad/name"], "'bad/name'"),
        (["maintain", "--within", "soon"], "'soon'"),
        (["maintain", "--parallel", "0"], "--parallel 0"),
        (["maintain", "--timeout", "0"], "--timeout 0"),
        (["maintain", "--ssh", "/nonexistent/ssh"], "'/nonexistent/ssh'"),
        (["metrics", "-o", "/tmp/ca-metrics.txt"], "'/tmp/ca-metrics.txt'"),
        (["systemd", "--on-calendar", "daily;reboot"], "'daily;reboot'"),
        (["systemd", "--user", "Bad User"], "'Bad User'"),
        (["systemd", "--metrics", "relative.prom"], "'relative.prom'"),
    ])
    func badInputIsOneLineAndChangesNothing(_ arguments: [String], _ quoted: String) throws {
        let seed = try Seeded(); let (db, pw) = (seed.db, seed.pw)
        let before = Self.digest(db)
        let result = try CABinary.run(arguments, environment: ["CA_DB": db, "CA_PASSPHRASE": Seeded.passphrase])
        #expect(result.status == 64, "\(arguments): \(result.stderr)")
        _ = pw
        #expect(result.stderr.hasPrefix("error: "), "\(result.stderr)")
        #expect(result.stderr.filter { $0 == "\n" }.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(quoted), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(Self.digest(db) == before, "\(arguments) changed the database")
    }

    /// status is one screen: the 20 soonest of many expiring certificates, the count, and where the rest are.
    @Test func statusShowsTheSoonestExpiringAndCountsTheRest() throws {
        let seed = try Seeded()
        let store = try CAStore.open(path: seed.db)
        let issuer = Issuer(store: store, vault: KeyVault { Seeded.passphrase })
        var serials: [(days: Int, serial: String)] = []
        for index in 0..<25 {
            let days = 29 - index
            serials.append((days, try issuer.issueClient(role: "app_\(index)", days: days).certificates[0].serial.hex))
        }
        let result = try CABinary.run(["status", "--db", seed.db])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let listed = lines.filter { line in line.hasPrefix("  ") && serials.contains { line.contains($0.serial) } }
        let soonest = serials.sorted { $0.days < $1.days }.prefix(20).map(\.serial)
        #expect(lines.contains("Expiring within 30d: 25") && lines.contains("  … and 5 more: ca list --expiring 30d"), "\(result.stdout)")
        #expect(listed.count == 20 && zip(listed, soonest).allSatisfy { $0.contains($1) }, "\(listed)")
        #expect(result.stdout.contains("warning: 25 active certificate(s) expire within 30d"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(try CABinary.run(["status", "--json", "--db", seed.db]).stdout.utf8)) as? [String: Any])
        #expect((json["expiring_soon"] as? [[String: Any]])?.count == 25, "--json lists them all")
    }

    @Test func badDatabasePathsAreRefusedUntouched() throws {
        let scratch = try Scratch()
        let directory = try CABinary.run(["list", "--db", scratch.path])
        #expect(directory.status == 64 && directory.stderr.contains("it is a directory"))
        let initDirectory = try CABinary.run(["init", "--name", "x", "--no-passphrase", "--db", scratch.path])
        #expect(initDirectory.status == 64)

        let text = try scratch.write("notes.txt", "just some text that is long enough to have a header\n")
        let before = Self.digest(text)
        for arguments in [["list"], ["init", "--name", "x", "--no-passphrase"], ["status"]] {
            let result = try CABinary.run(arguments + ["--db", text])
            #expect(result.status == 64, "\(arguments)")
            #expect(result.stderr == "error: cannot use '\(text)' as the CA database: the file is not an SQLite database.\n")
        }
        #expect(Self.digest(text) == before)

        let missing = try CABinary.run(["list", "--db", scratch.file("absent.sqlite3")])
        #expect(missing.status == 64 && missing.stderr.contains("no CA database at"))
        #expect(!FileManager.default.fileExists(atPath: scratch.file("absent.sqlite3")))
    }

    @Test func aCorruptDatabaseIsRefusedUntouched() throws {
        let seed = try Seeded(); let db = seed.db
        // Keep the 100-byte header, wreck the schema page and what follows.
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: db)))
        for index in 100..<min(bytes.count, 8192) { bytes[index] = UInt8(truncatingIfNeeded: index &* 31) }
        try Data(bytes).write(to: URL(fileURLWithPath: db))
        let before = Self.digest(db)
        for arguments in [["list"], ["issue", "db1.example.com"], ["status"]] {
            let result = try CABinary.run(arguments + ["--db", db], environment: ["CA_PASSPHRASE": Seeded.passphrase])
            #expect(result.status == 64, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("error: cannot use '\(db)' as the CA database:"), "\(result.stderr)")
            #expect(result.stderr.filter { $0 == "\n" }.count == 1)
        }
        #expect(Self.digest(db) == before)
    }

    @Test func wrongOrMissingPassphraseIsOneLine() throws {
        let seed = try Seeded(); let (scratch, db) = (seed.scratch, seed.db)
        let before = Self.digest(db)
        let wrong = try CABinary.run(["issue", "db1.example.com", "--db", db, "--passphrase-file", try scratch.write("bad", "nope")])
        #expect(wrong.status == 77)
        #expect(wrong.stderr == "error: wrong passphrase: the CA key could not be decrypted.\n")
        let none = try CABinary.run(["issue", "db1.example.com", "--db", db])
        #expect(none.status == 64 && none.stderr.contains("no passphrase was given"))
        let env = try CABinary.run(["issue", "db1.example.com", "--db", db], environment: ["CA_PASSPHRASE": "correct horse battery"])
        #expect(env.status == 0, "\(env.stderr)")
        #expect(Self.digest(db) != before)
    }

    @Test func fourIssuesAtOnceAllSucceedWithDistinctSerials() throws {
        let seed = try Seeded(); let (db, pw) = (seed.db, seed.pw)
        for name in ["db2", "db3", "db4"] {
            #expect(try CABinary.run(["host", "add", name, "--db", db]).status == 0)
        }
        let running = try ["db1.example.com", "db2", "db3", "db4"].map {
            try CABinary.launch(["issue", $0, "--json", "--db", db, "--passphrase-file", pw])
        }
        let results = running.map { $0.wait() }
        var serials: [String] = []
        for result in results {
            #expect(result.status == 0, "\(result.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            let issued = object?["issued"] as? [[String: Any]] ?? []
            #expect(issued.count == 2)
            serials += issued.compactMap { $0["serial"] as? String }
        }
        #expect(serials.count == 8)
        #expect(Set(serials).count == 8)
        let list = try CABinary.run(["list", "--json", "--status", "active", "--db", db])
        let rows = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(Set(rows.compactMap { $0["serial"] as? String }) == Set(serials))
    }

    /// `issue HOST…` and `issue --all`: one process, the passphrase read once, one line per host; a bad
    /// name anywhere in the list and a `--keys host` host are refused with nothing written.
    @Test func batchIssueOfManyHostsAndAllOrNothingOnABadName() throws {
        let seed = try Seeded(); let (db, pw) = (seed.db, seed.pw)
        let names = (2...25).map { "db\($0).example.com" }
        for name in names { #expect(try CABinary.run(["host", "add", name, "--db", db]).status == 0) }
        #expect(try CABinary.run(["host", "add", "own.example.com", "--keys", "host", "--db", db]).status == 0)
        let list = { try CABinary.run(["list", "--json", "--db", db]).stdout }
        let before = try list()
        for bad in [["db2.example.com", "nope.example.com"], ["db2.example.com", "own.example.com"], ["db2.example.com", "bad_name!"], []] {
            let result = try CABinary.run(["issue"] + bad + ["--db", db, "--passphrase-file", pw])
            #expect(result.status == 64, "\(bad): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }.count == 1, "\(result.stderr)")
            #expect(try list() == before)
        }
        let some = try CABinary.run(["issue", "db2.example.com", "db3.example.com", "--db", db, "--passphrase-file", pw])
        #expect(some.status == 0, "\(some.stderr)")
        #expect(some.stdout.contains("Issued 4 certificates for 2 hosts."))
        let all = try CABinary.run(["issue", "--all", "--json", "--db", db, "--passphrase-file", pw])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.stderr.contains("own.example.com"))
        let object = try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as? [String: Any]
        let issued = object?["issued"] as? [[String: Any]] ?? []
        #expect(issued.count == 2 * (names.count + 1))
        #expect((object?["superseded"] as? [String])?.count == 4)
        let hosts = Set(issued.compactMap { $0["host"] as? String })
        #expect(hosts == Set(names + ["db1.example.com"]))
    }

    @Test func showPrintsTheKeyOnlyWhenAsked() throws {
        let seed = try Seeded(); let (db, pw) = (seed.db, seed.pw)
        let issued = try CABinary.run(["issue", "db1.example.com", "--db", db, "--passphrase-file", pw])
        #expect(issued.status == 0)
        let pem = try CABinary.run(["show", "db1.example.com", "--pem", "--db", db])
        #expect(pem.status == 0)
        #expect(pem.stdout.components(separatedBy: "BEGIN CERTIFICATE").count == 3)
        #expect(!pem.stdout.contains("PRIVATE KEY"))
        let text = try CABinary.run(["show", "db1.example.com", "--db", db])
        #expect(!text.stdout.contains("PRIVATE KEY") && text.stdout.contains("Replication role:  replicator"))
        let withKey = try CABinary.run(["show", "db1.example.com", "--pem", "--with-key", "--db", db, "--passphrase-file", pw])
        #expect(withKey.status == 0, "\(withKey.stderr)")
        #expect(withKey.stdout.components(separatedBy: "-----BEGIN PRIVATE KEY-----").count == 3)
        #expect(withKey.stderr.contains("warning: printed the unencrypted private key"))
    }

    @Test func inventoryCommandsSpeakJSON() throws {
        let seed = try Seeded(); let (db, pw) = (seed.db, seed.pw)
        #expect(try CABinary.run(["issue", "db1.example.com", "--db", db, "--passphrase-file", pw]).status == 0)
        let list = try CABinary.run(["list", "--json", "--db", db])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 2)
        #expect(Set(rows[0].keys) == ["serial", "kind", "host", "subject", "names", "key_type", "not_before", "not_after", "status",
                                     "expired", "fingerprint_sha256", "authority_id"])
        let serial = try #require(rows.first { $0["kind"] as? String == "server" }?["serial"] as? String)
        let show = try CABinary.run(["show", String(serial.prefix(10)), "--json", "--db", db])
        let shown = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        #expect(shown["serial"] as? String == serial)
        #expect(shown["names"] as? [String] == ["DNS:db1.example.com", "DNS:db1", "IP:192.0.2.10"])

        let status = try CABinary.run(["status", "--json", "--db", db])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(report["hosts"] as? Int == 1)
        #expect((report["certificates"] as? [String: Int])?["active"] == 2)
        #expect((report["authorities"] as? [[String: Any]])?.first?["key_encrypted"] as? Bool == true)

        let log = try CABinary.run(["log", "--json", "--db", db])
        let events = try #require(try JSONSerialization.jsonObject(with: Data(log.stdout.utf8)) as? [[String: Any]])
        #expect(events.compactMap { $0["action"] as? String } == ["init", "host add", "issue server", "issue client"])
        #expect(events.allSatisfy { ($0["os_user"] as? String)?.isEmpty == false })

        let bundle = try CABinary.run(["bundle", "--db", db])
        #expect(bundle.stdout.hasPrefix("-----BEGIN CERTIFICATE-----") && bundle.stdout.components(separatedBy: "BEGIN").count == 2)

        let expiring = try CABinary.run(["list", "--expiring", "30d", "--json", "--db", db])
        #expect(expiring.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" || expiring.stdout.contains("[]"))
        let soon = try CABinary.run(["list", "--expiring", "400d", "--json", "--db", db])
        #expect((try JSONSerialization.jsonObject(with: Data(soon.stdout.utf8)) as? [Any])?.count == 2)
    }

    @Test func removingAHostKeepsItsCertificates() throws {
        let seed = try Seeded(); let (db, pw) = (seed.db, seed.pw)
        #expect(try CABinary.run(["issue", "db1.example.com", "--db", db, "--passphrase-file", pw]).status == 0)
        let refused = try CABinary.run(["host", "remove", "db1.example.com", "--db", db])
        #expect(refused.status == 64 && refused.stderr.contains("still has 2 active certificates"))
        let removed = try CABinary.run(["host", "remove", "db1.example.com", "--force", "--db", db])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(try CABinary.run(["host", "show", "db1.example.com", "--db", db]).status == 64)
        let list = try CABinary.run(["list", "--host", "db1.example.com", "--json", "--db", db])
        #expect((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [Any])?.count == 2)
        #expect(try CABinary.run(["host", "remove", "db1.example.com", "--db", db]).status == 64)
    }

    @Test func statusWarnsAboutAnUnencryptedKey() throws {
        let scratch = try Scratch()
        let db = scratch.file("demo.sqlite3")
        let made = try CABinary.run(["init", "--name", "plain", "--no-passphrase", "--db", db])
        #expect(made.status == 0 && made.stderr.contains("warning: the CA key is stored unencrypted"))
        let status = try CABinary.run(["status", "--db", db])
        #expect(status.status == 0)
        #expect(status.stdout.contains("warning: the CA key is stored unencrypted"))
    }

    @Test func demoBuildsAVerifiableScratchCA() throws {
        let scratch = try Scratch()
        chmod(scratch.path, 0o755)  // the postgres user must be able to reach the staged tree
        let root = scratch.file("demo")
        let demo = try CABinary.run(["demo", "--dir", root, "--json"])
        #expect(demo.status == 0, "\(demo.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(demo.stdout.utf8)) as? [String: Any])
        if InstallFixture.enabled {
            let doctor = try #require(report["doctor"] as? [[String: Any]])
            #expect(doctor.count == 2)
            #expect(doctor.allSatisfy { $0["fail"] as? Int == 0 && ($0["ok"] as? Int ?? 0) > 5 }, "\(doctor)")
            #expect(FileManager.default.fileExists(atPath: root + "/var/lib/postgresql/15/db2/standby.signal"))
        }
        let bundle = try #require(report["bundle"] as? String)
        #expect((report["hosts"] as? [[String: Any]])?.compactMap { $0["role"] as? String } == ["primary", "standby"])
        let db = try #require(report["database"] as? String)
        for host in ["db1.demo.internal", "db2.demo.internal"] {
            let pem = try CABinary.run(["show", host, "--pem", "--db", db]).stdout
            let certificates = try Certificate.all(inPEM: pem)
            #expect(certificates.count == 2)
            for (index, certificate) in certificates.enumerated() {
                let file = try scratch.write("\(host)-\(index).pem", certificate.pem)
                let purpose = index == 0 ? "sslserver" : "sslclient"
                let verified = try OpenSSLTool.run(["verify", "-x509_strict", "-purpose", purpose, "-CAfile", bundle, file])
                #expect(verified.status == 0, "\(host) \(purpose): \(verified.stderr)")
            }
        }
        let again = try CABinary.run(["demo", "--dir", root])
        #expect(again.status == 64 && again.stderr.contains("is not empty"))
    }

    @Test(arguments: [[], ["init"], ["host"], ["host", "add"], ["issue"], ["issue", "server"], ["issue", "client"], ["list"], ["show"],
                      ["bundle"], ["status"], ["log"], ["demo"]])
    func everyCommandHasHelp(_ path: [String]) throws {
        let result = try CABinary.run(path + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE:"))
    }
}
