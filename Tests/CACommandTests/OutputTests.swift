import CAKit
import Foundation
import TestSupport
import Testing

/// The small things a user notices in ca's output (issue 9, §4), and majors 18 and 19 on the command line.
@Suite struct OutputTests {
    private func ca(_ arguments: [String], db: String, expect status: Int32 = 0) throws -> ProcessResult {
        let result = try CABinary.run(arguments + ["--db", db])
        #expect(result.status == status, "ca \(arguments.joined(separator: " ")): \(result.stderr)")
        return result
    }

    /// A CA's common name is what the user typed, spaces and all; its files take a safe stem.
    @Test(arguments: [("Acme Replication CA", "acme-replication-ca"), ("Réplication Été 2026", "r-plication-t-2026"), ("e2e-ca", "e2e-ca"), ("Ops/DB CA", "ops-db-ca")])
    func aCommonNameWithSpacesKeepsItsCNAndGetsAStem(_ name: String, _ stem: String) throws {
        let scratch = try Scratch()
        let db = scratch.file("ca.sqlite3")
        let made = try ca(["init", "--name", name, "--no-passphrase"], db: db)
        #expect(made.stdout.contains("'\(name)'"))
        let bundle = try ca(["bundle"], db: db).stdout
        let pem = try scratch.write("ca.crt", bundle)
        let subject = try ProcessResult.run("/usr/bin/openssl", ["x509", "-in", pem, "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus"])
        #expect(subject.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "subject=CN=\(name)", "\(subject.stdout)")
        let status = try ca(["status", "--json"], db: db).stdout
        #expect(status.contains("\"name\" : \"\(stem)\""), "\(status)")
        // Rotation keeps the CN the user typed and numbers it.
        _ = try ca(["rotate", "start"], db: db)
        let next = try ca(["bundle", "--json"], db: db).stdout
        #expect(next.contains("\(name) G2"), "\(next)")
        let explicit = try ca(["init", "--name", name, "--file-name", "my-ca", "--no-passphrase"], db: scratch.file("b.sqlite3"))
        #expect(explicit.stdout.contains("files named 'my-ca'"), "\(explicit.stdout)")
    }

    @Test func labelsNameTheHostAndPgConfigEndsItsLines() throws {
        let scratch = try Scratch()
        let db = scratch.file("ca.sqlite3")
        _ = try ca(["init", "--name", "out-ca", "--no-passphrase"], db: db)
        for (name, role, version) in [("db1.example", "primary", "18"), ("db2.example", "standby", "19"), ("db3.example", "standby", "9.6")] {
            let added = try ca(["host", "add", name, "--role", role, "--pg-version", version, "--ip", "192.0.2.\(name.dropFirst(2).prefix(1))"], db: db)
            #expect(added.stdout.contains("PostgreSQL \(version)"))
        }
        let record = try ca(["host", "show", "db2.example", "--json"], db: db).stdout
        #expect(record.contains("/var/lib/postgresql/19/main") && record.contains("/etc/postgresql/19/main"), "\(record)")
        _ = try ca(["issue", "db1.example"], db: db)
        let serial = try #require(try JSONSerialization.jsonObject(with: Data(try ca(["list", "--json"], db: db).stdout.utf8)) as? [[String: Any]])
            .first?["serial"] as? String
        for arguments in [["show", "db1.example"], ["host", "show", "db1.example"], ["show", try #require(serial)]] {
            let out = try ca(arguments, db: db).stdout
            #expect(!out.contains("PostgresHost"), "\(arguments): \(out)")
            #expect(out.split(separator: "\n").contains { $0.hasPrefix("Host:") }, "\(arguments): \(out)")
        }
        for host in ["db1.example", "db2.example", "db3.example"] {
            for json in [false, true] {
                let out = try ca(["pg-config", host] + (json ? ["--json"] : []), db: db).stdout
                #expect(out.hasSuffix("\n") && !out.hasSuffix("\n\n"), "pg-config \(host) json=\(json) ends \(Array(out.suffix(3)))")
            }
        }
        let refused = try ca(["host", "add", "db9.example", "--pg-version", "20"], db: db, expect: 64)
        #expect(refused.stderr.components(separatedBy: "10–19").count == 2, "the range once: \(refused.stderr)")
    }
}
