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

    /// `list --json` is written as the rows stream by (issue 13); it must stay byte for byte what
    /// JSONEncoder makes of the records, whatever a row holds: odd characters in every string, no
    /// host, no names, dates at the ends of what X.509 can say and before the Gregorian reform. The
    /// expected bytes come from the records the test stored, not from ca's own output.
    @Test(arguments: [UInt64(1), 2, 3])
    func listJSONIsWhatJSONEncoderWritesAndTheTableLinesUp(_ seed: UInt64) throws {
        struct Mirror: Codable, Equatable {
            let authorityId: Int64, expired: Bool, fingerprintSha256: String, host: String?, keyType: String, kind: String
            let names: [String], notAfter: Date, notBefore: Date, serial: String, status: String, subject: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        let scratch = try Scratch()
        let db = scratch.file("ca.sqlite3")
        _ = try ca(["init", "--name", "json-ca", "--no-passphrase"], db: db)
        #expect(try ca(["list", "--json"], db: db).stdout == String(decoding: try encoder.encode([Mirror]()), as: UTF8.self) + "\n")

        var random = SeededGenerator(seed: seed)
        let pieces = ["a", "Z", "/", "\\", "\"", "\n", "\r", "\t", "\u{08}", "\u{0C}", "\u{01}", "\u{1F}", "\u{7F}", "é", "😀", "\u{2028}", " ", "=", ","]
        func text(_ most: Int) -> String { (0..<Int.random(in: 0...most, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined() }
        let instants: [TimeInterval] = [-62_135_596_800, -12_219_292_801, -12_219_292_800, -1, 0, 951_782_399, 1_709_251_199, 1_798_761_600, 253_402_300_799]
        let now = Date()
        var stored: [String: Mirror] = [:]
        do {
            let store = try CAStore.open(path: db)
            let template = try Issuer(store: store, vault: KeyVault { nil }).issueClient(role: "app").certificates[0]
            stored[template.serial.hex] = Mirror(authorityId: template.authorityID, expired: false, fingerprintSha256: template.fingerprint, host: nil,
                                                 keyType: template.keyType.rawValue, kind: template.kind.rawValue, names: template.names,
                                                 notAfter: template.notAfter, notBefore: template.notBefore, serial: template.serial.hex,
                                                 status: template.status.rawValue, subject: template.subject)
            try store.write {
                for i in 0..<40 {
                    var record = template
                    record.serial = try SerialNumber.random()
                    record.hostName = i % 3 == 0 ? nil : "h" + text(6)
                    record.kind = i % 2 == 0 ? .server : .client
                    record.subject = "CN=" + text(12)
                    record.names = i % 4 == 0 ? [] : (0..<Int.random(in: 1...3, using: &random)).map { _ in
                        "n" + String(String.UnicodeScalarView(text(5).unicodeScalars.filter { $0 != "\n" }))  // the store keeps names one per line
                    }
                    record.notBefore = Date(timeIntervalSince1970: instants.randomElement(using: &random)!)
                    record.notAfter = Date(timeIntervalSince1970: instants.randomElement(using: &random)!)
                    record.status = [.active, .superseded, .revoked][i % 3]
                    record.createdAt = Date(timeIntervalSince1970: 1_700_000_000 + Double(i % 5))
                    try store.insertCertificate(record)
                    stored[record.serial.hex] = Mirror(authorityId: record.authorityID, expired: record.notAfter <= now, fingerprintSha256: record.fingerprint,
                                                       host: record.hostName, keyType: record.keyType.rawValue, kind: record.kind.rawValue,
                                                       names: record.names, notAfter: record.notAfter, notBefore: record.notBefore,
                                                       serial: record.serial.hex, status: record.status.rawValue, subject: record.subject)
                }
            }
        }
        let listed = try ca(["list", "--json"], db: db).stdout
        let order = try #require(try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [[String: Any]]).compactMap { $0["serial"] as? String }
        #expect(Set(order) == Set(stored.keys) && order.count == stored.count, "every stored row once")
        let expected = String(decoding: try encoder.encode(order.compactMap { stored[$0] }), as: UTF8.self) + "\n"
        #expect(listed == expected, "seed \(seed): first difference at byte \(zip(listed.utf8, expected.utf8).prefix { $0 == $1 }.count)")

        // The table: the same rows in the same order, columns two spaces apart, widths in bytes.
        let rows = [["SERIAL", "KIND", "HOST", "SUBJECT", "EXPIRES", "STATUS"]] + order.compactMap { stored[$0] }.map { m in
            [m.serial, m.kind, m.host ?? "-", m.subject, day(m.notAfter),
             m.expired && m.status == "active" ? "expired" : m.status]
        }
        func day(_ date: Date) -> String {
            var seconds = time_t(date.timeIntervalSince1970)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            return String(format: "%04d-%02d-%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday)
        }
        let widths = (0..<6).map { c in rows.map { $0[c].utf8.count }.max()! }
        let table = rows.map { row in
            row.enumerated().map { c, cell in c == 5 ? cell : cell + String(repeating: " ", count: widths[c] - cell.utf8.count + 2) }.joined()
        }.joined(separator: "\n") + "\n"
        #expect(try ca(["list"], db: db).stdout == table, "seed \(seed)")
    }
}
