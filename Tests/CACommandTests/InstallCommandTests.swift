import CAKit
import Foundation
import TestSupport
import Testing

/// export → install --bundle with no CA database, as on a real standby; pg-config; doctor's exit codes.
@Suite(.serialized, .enabled(if: InstallFixture.enabled, "needs root and the postgres user"))
struct InstallCommandTests {
    final class Setup {
        let scratch: Scratch
        let db: String
        let pw: String
        let bundlePW: String
        let root: String
        var fingerprint = ""

        init() throws {
            scratch = try Scratch()
            chmod(scratch.path, 0o755)
            db = scratch.file("ca.sqlite3")
            pw = try scratch.write("pw", "ca passphrase\n")
            bundlePW = try scratch.write("bpw", "bundle passphrase\n")
            root = scratch.file("standby-root")
            let steps: [[String]] = [
                ["init", "--name", "cli-ca", "--passphrase-file", pw],
                ["host", "add", "db1.example.com", "--ip", "192.0.2.1", "--role", "primary", "--data-dir", "/srv/pg/db1", "--config-dir", "/srv/pg/db1"],
                ["host", "add", "db2.example.com", "--ip", "192.0.2.2", "--role", "standby", "--data-dir", "/srv/pg/db2", "--config-dir", "/srv/pg/db2"],
                ["issue", "db1.example.com", "--passphrase-file", pw],
                ["issue", "db2.example.com", "--passphrase-file", pw],
            ]
            for step in steps {
                let result = try CABinary.run(step + ["--db", db])
                #expect(result.status == 0, "\(step): \(result.stderr)")
            }
            fingerprint = try CABinary.caFingerprint(db: db)
            let standby = try PostgresHost(name: HostName("db2.example.com"), dnsNames: [], ipAddresses: [], role: .standby, postgresVersion: .default,
                                           dataDirectory: AbsolutePath("/srv/pg/db2", what: "d"), configDirectory: AbsolutePath("/srv/pg/db2", what: "c"),
                                           osUser: "postgres", replicationUser: "replicator")
            try Demo.stageCluster(standby, root: root)
        }
    }

    @Test func exportThenInstallTheBundleWithoutADatabase() throws {
        let setup = try Setup()
        let bundle = setup.scratch.file("db2.bundle")
        let export = try CABinary.run(["export", "db2.example.com", "-o", bundle, "--db", setup.db, "--passphrase-file", setup.pw,
                                       "--bundle-passphrase-file", setup.bundlePW])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(InstallFixture.attributes(bundle)?.mode == 0o600)
        let text = try String(contentsOfFile: bundle, encoding: .utf8)
        #expect(text.components(separatedBy: "BEGIN ENCRYPTED PRIVATE KEY").count == 3)
        #expect(!text.contains("BEGIN PRIVATE KEY"))

        let noDB = ["CA_DB": setup.scratch.file("absent.sqlite3")]
        let wrong = try CABinary.run(["install", "--bundle", bundle, "--root", setup.root, "--link", "--configure", "--ca-fingerprint", setup.fingerprint,
                                      "--bundle-passphrase-file", try setup.scratch.write("wrong", "nope")], environment: noDB)
        #expect(wrong.status == 77, "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: setup.root + "/etc/ssl"))

        let install = try CABinary.run(["install", "--bundle", bundle, "--root", setup.root, "--link", "--configure", "--ca-fingerprint", setup.fingerprint, "--json",
                                        "--bundle-passphrase-file", setup.bundlePW], environment: noDB)
        #expect(install.status == 0, "\(install.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(install.stdout.utf8)) as? [String: Any])
        #expect(report["changed"] as? Bool == true)
        #expect(!FileManager.default.fileExists(atPath: setup.scratch.file("absent.sqlite3")))

        let doctor = try CABinary.run(["doctor", "db2.example.com", "--root", setup.root, "--data-dir", "/srv/pg/db2"], environment: noDB)
        #expect(doctor.status == 0, "\(doctor.stdout)")
        #expect(doctor.stdout.contains("0 FAIL"))

        // The same bundle through a pipe, as `ca export db2 | ssh db2 ca install --bundle -`: nothing left to change.
        // No pin needed any more: the host now trusts the CA it installed.
        let again = try CABinary.run(["install", "--bundle", "-", "--root", setup.root, "--link", "--configure", "--bundle-passphrase-file", setup.bundlePW],
                                     environment: noDB, stdin: text)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.hasSuffix(").\n") && again.stdout.split(separator: "\n").last?.hasPrefix("Nothing changed for") == true, "\(again.stdout)")

        chmod(setup.root + "/etc/ssl/private/db2.example.com.key", 0o644)
        let broken = try CABinary.run(["doctor", "db2.example.com", "--root", setup.root, "--data-dir", "/srv/pg/db2"], environment: noDB)
        #expect(broken.status == 1)
        #expect(broken.stdout.contains("FAIL  ssl_key_file"))
    }

    @Test func plainKeysAndDryRun() throws {
        let setup = try Setup()
        let plain = try CABinary.run(["export", "db2.example.com", "--plain-keys", "--db", setup.db, "--passphrase-file", setup.pw])
        #expect(plain.status == 0)
        #expect(plain.stdout.components(separatedBy: "BEGIN PRIVATE KEY").count == 3)
        let dry = try CABinary.run(["install", "--bundle", "-", "--root", setup.root, "--link", "--configure", "--ca-fingerprint", setup.fingerprint, "--dry-run"], stdin: plain.stdout)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("would: created  root:ssl-cert      0640  \(setup.root)/etc/ssl/ca-managed/hosts/db2.example.com/current/server.key"), "\(dry.stdout)")
        #expect(dry.stdout.contains("would: created  root:root          link  \(setup.root)/etc/ssl/private/db2.example.com.key -> ../ca-managed/hosts/db2.example.com/current/server.key"))
        #expect(!FileManager.default.fileExists(atPath: setup.root + "/etc/ssl"))
        let garbage = try CABinary.run(["install", "--bundle", "-", "--root", setup.root], stdin: "{\"format\": \"something else\"}")
        #expect(garbage.status == 64 && garbage.stderr.hasPrefix("error: "))
        let both = try CABinary.run(["install", "db2.example.com", "--bundle", "-", "--db", setup.db])
        #expect(both.status == 64)
    }

    @Test func pgConfigPrintsTheVersionsLines() throws {
        let setup = try Setup()
        let result = try CABinary.run(["pg-config", "db2.example.com", "--db", setup.db])
        #expect(result.status == 0)
        #expect(result.stdout.contains("primary_conninfo = 'host=db1.example.com hostaddr=192.0.2.1 port=5432"))
        #expect(result.stdout.contains("hostssl  replication  replicator  192.0.2.1/32  cert"))
        #expect(result.stdout.contains("standby.signal"))
        let json = try CABinary.run(["pg-config", "db1.example.com", "--json", "--db", setup.db])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["standby_signal"] as? Bool == false)
        #expect((object["pg_hba_conf"] as? [String])?.contains("hostssl  replication  replicator  192.0.2.2/32  cert") == true)
    }

    /// Item 6: a bundle must come from the CA the host trusts. Another CA's complete bundle, a
    /// document edited after signing, a wrong pin, an unsigned (version 1) bundle: refused, nothing written.
    @Test func bundlesAreAuthenticated() throws {
        let setup = try Setup()
        let ours = try CABinary.run(["export", "db2.example.com", "--plain-keys", "--db", setup.db, "--passphrase-file", setup.pw]).stdout
        // Another CA with a host of the same name and layout.
        let otherDB = setup.scratch.file("other.sqlite3")
        for step in [["init", "--name", "cli-ca", "--no-passphrase"],
                     ["host", "add", "db1.example.com", "--ip", "192.0.2.1", "--role", "primary", "--data-dir", "/srv/pg/db1", "--config-dir", "/srv/pg/db1"],
                     ["host", "add", "db2.example.com", "--ip", "192.0.2.2", "--data-dir", "/srv/pg/db2", "--config-dir", "/srv/pg/db2"],
                     ["issue", "db1.example.com"], ["issue", "db2.example.com"]] {
            #expect(try CABinary.run(step + ["--db", otherDB]).status == 0, "\(step)")
        }
        let theirs = try CABinary.run(["export", "db2.example.com", "--plain-keys", "--db", otherDB]).stdout
        let install = ["install", "--bundle", "-", "--root", setup.root, "--link", "--configure"]

        // A first install with the wrong pin, and with theirs pinned against our fingerprint.
        let wrongPin = try CABinary.run(install + ["--ca-fingerprint", String(repeating: "ab", count: 32)], stdin: ours)
        #expect(wrongPin.status == 64 && wrongPin.stderr.contains("not signed by a CA this host trusts") || wrongPin.stderr.contains("trusts no CA"), "\(wrongPin.stderr)")
        let theirsPinnedOurs = try CABinary.run(install + ["--ca-fingerprint", setup.fingerprint], stdin: theirs)
        #expect(theirsPinnedOurs.status == 64, "\(theirsPinnedOurs.stderr)")
        #expect(!FileManager.default.fileExists(atPath: setup.root + "/etc/ssl"))

        // Installed once with the right pin; then theirs is refused without any pin.
        #expect(try CABinary.run(install + ["--ca-fingerprint", setup.fingerprint], stdin: ours).status == 0)
        let before = try String(contentsOfFile: setup.root + "/etc/ssl/ca-managed/trust/cli-ca.crt", encoding: .utf8)
        let foreign = try CABinary.run(install, stdin: theirs)
        #expect(foreign.status == 64 && foreign.stderr.contains("not signed by a CA this host trusts"), "\(foreign.stderr)")
        #expect(try String(contentsOfFile: setup.root + "/etc/ssl/ca-managed/trust/cli-ca.crt", encoding: .utf8) == before)

        // Our bundle with its document edited after signing (the data directory moved to /srv/pg/evil).
        let edited = ours.replacingOccurrences(of: "/srv/pg/db2", with: "/srv/pg/evil")
        #expect(edited != ours)
        let tampered = try CABinary.run(install, stdin: edited)
        #expect(tampered.status == 64 && tampered.stderr.contains("not signed by a CA this host trusts"), "\(tampered.stderr)")

        // A version-1 bundle (unsigned) is refused outright.
        let v1 = try CABinary.run(install, stdin: "{\"format\": \"ca-host-bundle/1\", \"host\": {}}")
        #expect(v1.status == 64 && v1.stderr.contains("unsupported host bundle format"), "\(v1.stderr)")
    }
}
