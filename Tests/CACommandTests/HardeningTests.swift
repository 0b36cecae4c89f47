import CAKit
import Foundation
import TestSupport
import Testing

/// Secrets, concurrency, damaged databases and hostile values, through the built `ca`.
@Suite struct HardeningTests {
    final class Seeded {
        let scratch: Scratch
        let db: String
        let pw: String
        static let passphrase = "correct horse battery"

        init(issue: Bool = true) throws {
            scratch = try Scratch()
            pw = try scratch.write("pw", Seeded.passphrase + "\n")
            db = scratch.file("ca.sqlite3")
            let steps: [[String]] = [["init", "--name", "hard-ca", "--passphrase-file", pw],
                                     ["host", "add", "db1.example.com", "--ip", "192.0.2.10", "--role", "primary"],
                                     ["host", "add", "db2.example.com", "--ip", "192.0.2.11"]]
                + (issue ? [["issue", "db1.example.com", "--passphrase-file", pw], ["issue", "db2.example.com", "--passphrase-file", pw]] : [])
            for step in steps {
                let result = try CABinary.run(step + ["--db", db])
                #expect(result.status == 0, "\(step): \(result.stderr)")
            }
        }
    }

    static func oneLine(_ result: ProcessResult) -> Bool { result.stderr.hasPrefix("error: ") && result.stderr.filter { $0 == "\n" }.count == 1 }

    /// Item 9: a passphrase OpenSSL would silently cut (over 1,023 bytes, or with a NUL) is refused;
    /// the longest accepted one unlocks the CA again; a CRLF passphrase file reads as its first line.
    @Test func passphrasesAreBoundedAndRoundTrip() throws {
        let scratch = try Scratch()
        let long = try scratch.write("long", String(repeating: "x", count: 1024) + "\n")
        let tooLong = try CABinary.run(["init", "--name", "p-ca", "--db", scratch.file("a.sqlite3"), "--passphrase-file", long])
        #expect(tooLong.status == 64 && Self.oneLine(tooLong) && tooLong.stderr.contains("at most 1023"), "\(tooLong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("a.sqlite3")))
        let nul = try CABinary.run(["init", "--name", "p-ca", "--db", scratch.file("b.sqlite3")], environment: ["CA_PASSPHRASE": "abc\u{1}def"])
        #expect(nul.status == 0 || nul.status == 64)
        let withNUL = scratch.file("nul")
        FileManager.default.createFile(atPath: withNUL, contents: Data([0x61, 0x00, 0x62, 0x0A]))
        let refused = try CABinary.run(["init", "--name", "p-ca", "--db", scratch.file("c.sqlite3"), "--passphrase-file", withNUL])
        #expect(refused.status == 64 && refused.stderr.contains("NUL"), "\(refused.stderr)")

        let longest = String(repeating: "y", count: 1023)
        let ok = try scratch.write("ok", longest + "\r\n")
        let db = scratch.file("d.sqlite3")
        #expect(try CABinary.run(["init", "--name", "p-ca", "--db", db, "--passphrase-file", ok]).status == 0)
        #expect(try CABinary.run(["host", "add", "db1.example.com", "--db", db]).status == 0)
        let issued = try CABinary.run(["issue", "db1.example.com", "--db", db], environment: ["CA_PASSPHRASE": longest])
        #expect(issued.status == 0, "the 1,023-byte passphrase (CRLF file) does not unlock the CA: \(issued.stderr)")
    }

    /// Item 10: while ca waits at its passphrase prompt it holds no database lock. Each command is
    /// run on a real terminal (a pty); while it waits at the prompt another ca writes to the database.
    @Test(arguments: [["export", "db1.example.com", "--plain-keys"], ["crl"], ["issue", "db1.example.com"], ["revoke", "db2.example.com"]])
    func thePassphrasePromptHoldsNoLock(_ command: [String]) throws {
        let seed = try Seeded()
        let driver = """
        import os, pty, subprocess, sys, time, json
        ca, db, passphrase = sys.argv[1], sys.argv[2], sys.argv[3].encode()
        command = json.loads(sys.argv[4])
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(ca, [ca] + command + ["--db", db])
        seen = b""
        deadline = time.time() + 20
        while b"assphrase" not in seen and time.time() < deadline:
            seen += os.read(fd, 1024)
        started = time.time()
        other = subprocess.run([ca, "host", "add", "db9.example.com", "--db", db], capture_output=True)
        waited = time.time() - started
        os.write(fd, passphrase + b"\\n")
        output = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"other": other.returncode, "waited": waited, "status": os.waitstatus_to_exitcode(status), "stderr": other.stderr.decode()}))
        """
        let script = try seed.scratch.write("drive.py", driver)
        let commandJSON = String(decoding: try JSONSerialization.data(withJSONObject: command), as: UTF8.self)
        let result = try ProcessResult.run("/usr/bin/env", ["python3", script, CABinary.path, seed.db, Seeded.passphrase, commandJSON])
        let report = try #require((try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any], "\(result.stdout) \(result.stderr)")
        #expect(report["other"] as? Int == 0, "\(command): another ca could not write while this one asked: \(report)")
        #expect((report["waited"] as? Double ?? 99) < 5, "\(command): \(report)")
        #expect(report["status"] as? Int == 0, "\(command): \(report)")
    }

    /// Concurrent revoke and renew of one host: never "UNIQUE constraint failed", never a revoke
    /// that reports success and leaves an active certificate of the host behind it.
    @Test func concurrentRevokeAndRenewOfOneHost() throws {
        for round in 0..<6 {
            let seed = try Seeded()
            let renewers = try (0..<3).map { _ in
                try CABinary.launch(["renew", "--within", "400d", "--host", "db2.example.com", "--db", seed.db, "--passphrase-file", seed.pw])
            }
            let revoker = try CABinary.launch(["revoke", "db2.example.com", "--db", seed.db, "--passphrase-file", seed.pw])
            let results = renewers.map { $0.wait() }
            let revoked = revoker.wait()
            for result in results + [revoked] {
                #expect(result.status == 0 || result.status == 64, "round \(round): exit \(result.status): \(result.stderr)")
                #expect(!result.stderr.contains("UNIQUE"), "round \(round): \(result.stderr)")
            }
            let store = try CAStore.open(path: seed.db)
            let all = try store.certificates(CertificateFilter(hostName: "db2.example.com"))
            // At most one active certificate per kind, and a successful revoke left none that it saw.
            for kind in CertificateKind.allCases {
                #expect(all.filter { $0.kind == kind && $0.status == .active }.count <= 1, "round \(round): doubled \(kind)")
            }
            let successors = all.compactMap(\.replaces)
            #expect(Set(successors).count == successors.count, "round \(round): a certificate was renewed twice")
            // Nothing revoked has an active successor made from it after its revocation.
            for record in all where record.status == .revoked {
                let next = all.first { $0.replaces == record.serial }
                #expect(next == nil || next!.createdAt <= record.createdAt.addingTimeInterval(3600), "round \(round)")
            }
        }
    }

    /// Item 11: a copy that fails PRAGMA quick_check is never written to, however much of it still reads.
    @Test func aDamagedDatabaseIsNeverWrittenTo() throws {
        let seed = try Seeded()
        let original = try Data(contentsOf: URL(fileURLWithPath: seed.db))
        var generator = SeededGenerator(seed: 20261202)
        var damaged = 0, refused = 0
        for trial in 0..<40 {
            var bytes = Array(original)
            let page = 4096
            let pages = bytes.count / page
            guard pages > 2 else { break }
            // Damage a few bytes of one page after the first (the header stays valid).
            let target = Int.random(in: 1..<pages, using: &generator) * page
            for _ in 0..<8 { bytes[target + Int.random(in: 0..<page, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator) }
            let copy = seed.scratch.file("damaged-\(trial).sqlite3")
            try Data(bytes).write(to: URL(fileURLWithPath: copy))
            let check = try ProcessResult.run("/usr/bin/sqlite3", [copy, "PRAGMA quick_check"])
            guard check.stdout.trimmingCharacters(in: .whitespacesAndNewlines) != "ok" else { continue }
            damaged += 1
            let before = try Data(contentsOf: URL(fileURLWithPath: copy))
            let result = try CABinary.run(["issue", "db1.example.com", "--db", copy, "--passphrase-file", seed.pw])
            #expect(result.status != 0, "trial \(trial): a damaged copy accepted a certificate")
            #expect(result.status < 128, "trial \(trial): trapped (\(result.status))")
            if result.status != 0 { refused += 1 }
            #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == before, "trial \(trial): the damaged copy was written")
        }
        print("hardening: \(damaged) damaged copies failed quick_check; ca refused to write to \(refused)")
        #expect(damaged > 0)
    }

    /// Out-of-range values a damaged or hand-edited database can hold: a clear error, never a trap or a hang.
    @Test(arguments: [
        "UPDATE crls SET number = 9223372036854775807",
        "UPDATE crls SET next_update = 9223372036854775807, this_update = -9223372036854775808",
        "UPDATE certificates SET not_after = 9223372036854775807, not_before = -9223372036854775808",
        "UPDATE certificates SET created_at = 9223372036854775807",
        "UPDATE authorities SET crl_days = 3650, not_after = 9223372036854775807",
        "PRAGMA ignore_check_constraints = ON; UPDATE hosts SET port = 99999",
        "UPDATE hosts SET data_dir = '/etc'",
        "UPDATE hosts SET os_user = 'root'",
        "UPDATE certificates SET serial = 'ZZ' || serial",
        "UPDATE certificate_material SET certificate_pem = 'garbage'",
        "UPDATE certificate_material SET key_pem = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'",
        "DELETE FROM certificate_material",
        "UPDATE authorities SET certificate_pem = 'garbage'",
        "UPDATE events SET at = 9223372036854775807",
        "UPDATE deployments SET at = -9223372036854775808",
        "INSERT INTO authorities (name, key_id, serial, key_type, status, key_encrypted, not_before, not_after, certificate_pem, key_pem, created_at) SELECT name, key_id, serial, key_type, 'next', key_encrypted, not_before, not_after, certificate_pem, key_pem, created_at FROM authorities",
    ])
    func damagedValuesAreClearErrorsNotTraps(_ sql: String) throws {
        let seed = try Seeded()
        _ = try CABinary.run(["crl", "--db", seed.db, "--passphrase-file", seed.pw])
        _ = try CABinary.run(["export", "db1.example.com", "--plain-keys", "--db", seed.db, "--passphrase-file", seed.pw])
        let edit = try ProcessResult.run("/usr/bin/sqlite3", [seed.db, sql])
        #expect(edit.status == 0, "\(edit.stderr)")
        let commands: [[String]] = [["list"], ["list", "--json"], ["status"], ["status", "--json"], ["show", "db1.example.com"], ["host", "list"],
                                    ["log"], ["bundle"], ["crl"], ["export", "db1.example.com", "--plain-keys"], ["issue", "db2.example.com"],
                                    ["renew", "--within", "1000d"], ["revoke", "db2.example.com"], ["rotate", "status"], ["pg-config", "db2.example.com"]]
        for command in commands {
            let started = Date()
            let result = try CABinary.run(command + ["--db", seed.db, "--passphrase-file", seed.pw])
            #expect(Date().timeIntervalSince(started) < 20, "\(sql) / \(command): too slow")
            #expect(result.status < 128, "\(sql) / \(command): trapped with \(result.status): \(result.stderr.suffix(300))")
            if result.status != 0 { #expect(Self.oneLine(result), "\(sql) / \(command): \(result.stderr)") }
        }
    }

    /// Bad input on the command line: one error line, exit 64, whatever the value holds.
    @Test(arguments: [
        ["host", "add", "db\n9"], ["host", "add", "192.168.1.20"], ["host", "add", "127.1"], ["host", "add", "db9", "--dns", "10.0.0.1"],
        ["issue", "--days", "abc", "db1.example.com"], ["revoke", "db1.example.com", "--reason", "bad\nreason"], ["list", "--kind", "x\ny"],
        ["host", "add", "db9", "--data-dir", "/"], ["host", "add", "db9", "--data-dir", "/etc"], ["host", "add", "db9", "--config-dir", "/etc/ssl/private"],
        ["host", "add", "db9", "--os-user", "root"], ["host", "add", "ca-certificates"], ["init", "--name", "ca-certificates", "--no-passphrase"],
        ["show", "--pem", "zz\u{1b}[31m"],
    ])
    func badValuesAreOneLine(_ arguments: [String]) throws {
        let seed = try Seeded(issue: false)
        let result = try CABinary.run(arguments + ["--db", seed.db], environment: ["CA_PASSPHRASE": Seeded.passphrase])
        #expect(result.status == 64, "\(arguments): \(result.status) \(result.stderr)")
        #expect(Self.oneLine(result), "\(arguments): \(result.stderr)")
        #expect(!result.stderr.contains("\u{1b}"))
    }

    /// Bad PEM from outside is bad input (64), not an internal error (70).
    @Test func badPEMInABundleIs64() throws {
        let seed = try Seeded()
        let export = try CABinary.run(["export", "db1.example.com", "--plain-keys", "--db", seed.db, "--passphrase-file", seed.pw])
        let broken = export.stdout.replacingOccurrences(of: "MII", with: "###")
        let result = try CABinary.run(["install", "--bundle", "-", "--root", seed.scratch.path, "--dry-run",
                                       "--ca-fingerprint", try CABinary.caFingerprint(db: seed.db)], stdin: broken)
        #expect(result.status == 64, "\(result.status): \(result.stderr)")
        #expect(Self.oneLine(result))
    }

    /// export -o replaces a file with a new one of its own (0600), never writes into an existing one.
    @Test func exportToAFileReplacesItNeverWritesIntoIt() throws {
        let seed = try Seeded()
        let target = try seed.scratch.write("out.json", "old\n", mode: 0o644)
        let other = seed.scratch.file("hardlink.json")
        #expect(link(target, other) == 0)
        let result = try CABinary.run(["export", "db1.example.com", "--plain-keys", "-o", target, "--db", seed.db, "--passphrase-file", seed.pw])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try String(contentsOfFile: other, encoding: .utf8) == "old\n", "the other name of the old file got the keys")
        #expect(InstallFixture.attributes(target)?.mode == 0o600)
        let viaLink = seed.scratch.file("link.json")
        #expect(symlink(seed.scratch.file("elsewhere.json"), viaLink) == 0)
        let refused = try CABinary.run(["export", "db1.example.com", "--plain-keys", "-o", viaLink, "--db", seed.db, "--passphrase-file", seed.pw])
        #expect(refused.status == 64)
        #expect(!FileManager.default.fileExists(atPath: seed.scratch.file("elsewhere.json")))
    }

    /// After a revocation, installs do not re-sign the CRL again and again: the second export reuses it.
    @Test func theCRLIsNotReSignedOnEveryExportAfterARevocation() throws {
        let seed = try Seeded()
        #expect(try CABinary.run(["revoke", "db2.example.com", "--kind", "client", "--db", seed.db, "--passphrase-file", seed.pw]).status == 0)
        for _ in 0..<3 {
            #expect(try CABinary.run(["export", "db1.example.com", "--plain-keys", "--db", seed.db, "--passphrase-file", seed.pw]).status == 0)
        }
        let log = try CABinary.run(["log", "--json", "--db", seed.db])
        let events = try #require(try JSONSerialization.jsonObject(with: Data(log.stdout.utf8)) as? [[String: Any]])
        let crls = events.filter { $0["action"] as? String == "crl" }
        #expect(crls.count == 1, "\(crls.count) CRLs signed: \(crls)")
    }
}

/// Item 7: rows that decide trust and paths are sealed under a secret only the CA key unwraps.
@Suite struct SealTests {
    static func sql(_ db: String, _ statement: String) throws {
        let result = try ProcessResult.run("/usr/bin/sqlite3", [db, statement])
        #expect(result.status == 0, "\(statement): \(result.stderr)")
    }

    static let forgedNext = "INSERT INTO authorities (name, key_id, serial, key_type, status, key_encrypted, not_before, not_after, certificate_pem, key_pem, created_at) SELECT name, key_id, serial, key_type, 'next', key_encrypted, not_before, not_after, certificate_pem, key_pem, created_at FROM authorities"

    @Test(arguments: ["next without rotation", "next with forged rotation", "host data dir", "host os user", "plain leaf key", "seal keys deleted"])
    func editsOutsideCaAreRefused(_ edit: String) throws {
        let seed = try HardeningTests.Seeded()
        switch edit {
        case "next without rotation":
            try Self.sql(seed.db, Self.forgedNext)
        case "next with forged rotation":
            try Self.sql(seed.db, Self.forgedNext + "; INSERT INTO rotations (old_authority_id, new_authority_id, stage, started_at, updated_at) VALUES (1, 2, 'started', 0, 0)")
        case "host data dir":
            try Self.sql(seed.db, "UPDATE hosts SET data_dir = '/srv/pg/elsewhere' WHERE name = 'db2.example.com'")
        case "host os user":
            try Self.sql(seed.db, "UPDATE hosts SET os_user = 'nobody' WHERE name = 'db2.example.com'")
        case "plain leaf key":
            let export = try CABinary.run(["show", "db2.example.com", "--pem", "--with-key", "--db", seed.db, "--passphrase-file", seed.pw])
            let key = try #require(export.stdout.components(separatedBy: "-----BEGIN PRIVATE KEY-----").last.map { "-----BEGIN PRIVATE KEY-----" + $0 })
            try Self.sql(seed.db, """
                UPDATE certificate_material SET key_pem = '\(key)' WHERE (authority_id, serial) IN
                    (SELECT authority_id, serial FROM certificates WHERE host_name = 'db2.example.com' AND kind = 'server' AND status = 'active')
                """)
        default:
            try Self.sql(seed.db, "DELETE FROM seal_keys")
        }
        let commands: [[String]] = edit.hasPrefix("host") ? [["export", "db2.example.com", "--plain-keys"], ["issue", "db2.example.com"]]
            : edit == "plain leaf key" ? [["export", "db2.example.com", "--plain-keys"]]
            : [["export", "db2.example.com", "--plain-keys"], ["issue", "db2.example.com"], ["crl"]]
        for command in commands {
            let result = try CABinary.run(command + ["--db", seed.db, "--passphrase-file", seed.pw])
            #expect(result.status == 64, "\(edit) / \(command): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains("outside ca") || result.stderr.contains("restore it from a backup"), "\(edit) / \(command): \(result.stderr)")
            #expect(HardeningTests.oneLine(result))
        }
        if edit.hasPrefix("next without") {
            let status = try CABinary.run(["status", "--db", seed.db])
            #expect(status.status == 64 && status.stderr.contains("no CA rotation is open"), "\(status.stderr)")
        }
    }

    /// What ca itself does keeps every seal valid: a full rotation, renew-ca, revocations, renewals.
    @Test func caKeepsItsOwnSealsValid() throws {
        let seed = try HardeningTests.Seeded()
        let steps: [[String]] = [["revoke", "db1.example.com", "--kind", "client"], ["issue", "db1.example.com"], ["renew", "--within", "400d"], ["rotate", "start"],
                                 ["export", "db2.example.com", "--plain-keys"], ["rotate", "reissue"], ["export", "db1.example.com", "--plain-keys"],
                                 ["export", "db2.example.com", "--plain-keys"],
                                 ["rotate", "finish"], ["renew-ca", "--days", "400"], ["export", "db2.example.com", "--plain-keys"],
                                 ["host", "add", "db3.example.com"], ["issue", "db3.example.com"], ["export", "db3.example.com", "--plain-keys"], ["crl"]]
        for step in steps {
            let result = try CABinary.run(step + ["--db", seed.db], environment: ["CA_PASSPHRASE": HardeningTests.Seeded.passphrase])
            #expect(result.status == 0, "\(step): \(result.stderr)")
        }
        let unsealed = try ProcessResult.run("/usr/bin/sqlite3", [seed.db, "SELECT count(*) FROM authorities WHERE seal IS NULL"])
        #expect(unsealed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }
}
