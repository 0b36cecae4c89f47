import CAKit
import Foundation
import TestSupport
import Testing

/// A database written before migration 0011 (each leaf's PEM inline in `certificates`) opens into
/// the current layout with every record, key and revocation as it was, its references and indexes
/// whole, and no second copy of a sealed key left behind in the file.
@Suite struct MigrationTests {
    static let sqlite = "/usr/bin/sqlite3"

    /// Turns a current database back into what migrations 0001–0010 left: the table as 0001 made
    /// it (plus 0004's `replaces`, which ALTER TABLE appended), the same indexes (0011 made them as
    /// 0001–0010 had, so they are read from the file and made again), no `certificate_material`.
    /// VACUUM so the file holds each key once, as an old one would.
    static func backTo0010(_ path: String) throws -> String {
        let indexes = try sql(path, "SELECT sql || ';' FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'certificates' AND sql IS NOT NULL;")
        return """
        PRAGMA foreign_keys = OFF;
        BEGIN;
        CREATE TABLE certificates_0010 (
            authority_id    INTEGER NOT NULL REFERENCES authorities (id),
            serial          TEXT    NOT NULL,
            host_id         INTEGER REFERENCES hosts (id) ON DELETE SET NULL,
            host_name       TEXT,
            kind            TEXT    NOT NULL CHECK (kind IN ('server', 'client')),
            subject         TEXT    NOT NULL,
            names           TEXT    NOT NULL,
            key_type        TEXT    NOT NULL,
            not_before      INTEGER NOT NULL,
            not_after       INTEGER NOT NULL,
            status          TEXT    NOT NULL CHECK (status IN ('active', 'superseded', 'revoked')),
            fingerprint     TEXT    NOT NULL,
            certificate_pem TEXT    NOT NULL,
            key_pem         TEXT,
            created_at      INTEGER NOT NULL,
            replaces        TEXT,
            PRIMARY KEY (authority_id, serial)
        );
        INSERT INTO certificates_0010
            SELECT c.authority_id, c.serial, host_id, host_name, kind, subject, names, key_type, not_before, not_after,
                   status, fingerprint, m.certificate_pem, m.key_pem, created_at, replaces
            FROM certificates c JOIN certificate_material m USING (authority_id, serial) ORDER BY c.rowid;
        DROP TABLE certificate_material;
        DROP TABLE certificates;
        ALTER TABLE certificates_0010 RENAME TO certificates;
        \(indexes)
        DELETE FROM schema_migrations WHERE name = '0011_certificate_material';
        COMMIT;
        VACUUM;
        """
    }

    static func sql(_ path: String, _ statements: String) throws -> String {
        let result = try ProcessResult.run(sqlite, ["-bail", path, statements])
        #expect(result.status == 0, "sqlite3: \(result.stderr)")
        return result.stdout
    }

    /// Every field of every record, the PEM and sealed key included, as one comparable line.
    static func lines(_ store: CAStore) throws -> [String] {
        try store.certificates(CertificateFilter()).map { r in
            [r.serial.hex, String(r.authorityID), r.hostName ?? "-", r.kind.rawValue, r.subject, r.names.joined(separator: ","),
             r.keyType.rawValue, "\(r.notBefore)", "\(r.notAfter)", r.status.rawValue, r.fingerprint, r.certificatePEM,
             r.keyPEM ?? "no key", "\(r.createdAt)", r.replaces?.hex ?? "-"].joined(separator: "|")
        }.sorted()
    }

    /// How many times each sealed key's first line of base64 appears in the file.
    static func copies(of keys: [String], in path: String) throws -> [Int] {
        let file = try Data(contentsOf: URL(fileURLWithPath: path))
        return keys.map { pem in
            let line = Data(pem.split(separator: "\n")[1].utf8)
            var count = 0, from = file.startIndex
            while let found = file.range(of: line, in: from..<file.endIndex) { count += 1; from = found.upperBound }
            return count
        }
    }

    @Test func aDatabaseWithInlinePEMUpgradesWhole() throws {
        let scratch = try Scratch()
        let path = scratch.file("ca.sqlite3")
        let names = (0..<300).map { "db\($0).example.com" }
        let before: [String]
        do {
            let store = try CAStore.openOrCreate(path: path).store
            _ = try Issuer.createRoot(store: store, name: "old-ca", keyType: .ecP256, days: 3650, passphrase: nil, now: Date())
            try store.write {
                for (index, name) in names.enumerated() {
                    try store.insertHost(PostgresHost(name: HostName(name), dnsNames: [], ipAddresses: [IPAddress("10.9.\(index / 200).\(index % 200 + 1)")],
                                                      role: index == 0 ? .primary : .standby, postgresVersion: .default, dataDirectory: nil,
                                                      configDirectory: nil, osUser: "postgres", replicationUser: "replicator"), at: Date())
                }
            }
            let vault = KeyVault { nil }
            _ = try Issuer(store: store, vault: vault).issue(hosts: names)
            _ = try Issuer(store: store, vault: vault).issue(hosts: Array(names.prefix(5)))  // five pairs superseded
            try store.write { try store.forgetInactiveKeys(hostName: names[0]) }             // two of them keyless
            let revoked = try Lifecycle(store: store, vault: vault).revoke(matching: names[7], kind: .server, reason: .keyCompromise).revoked
            #expect(revoked.count == 1)
            before = try Self.lines(store)
        }
        #expect(before.count == 610)
        #expect(before.filter { $0.contains("|no key|") }.count == 2)

        _ = try Self.sql(path, try Self.backTo0010(path))
        let oldColumns = try Self.sql(path, "SELECT group_concat(name) FROM pragma_table_info('certificates');")
        #expect(oldColumns.contains("certificate_pem,key_pem"))
        let keys = try Self.sql(path, "SELECT key_pem FROM certificates WHERE key_pem IS NOT NULL ORDER BY serial;")
            .components(separatedBy: "-----END ENCRYPTED PRIVATE KEY-----").dropLast().map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(keys.count == 608)
        #expect(try Self.copies(of: keys, in: path).allSatisfy { $0 == 1 })

        do {
            let store = try CAStore.open(path: path)
            #expect(try Self.lines(store) == before)
            #expect(try store.integrityProblem(full: true) == nil)
        }
        #expect(try Self.sql(path, "PRAGMA foreign_key_check;") == "")
        #expect(try Self.sql(path, "SELECT count(*) FROM revocations JOIN certificates USING (authority_id, serial) WHERE status = 'revoked';") == "1\n")
        #expect(try Self.sql(path, "SELECT group_concat(name) FROM pragma_table_info('certificates');").contains("pem") == false)
        let indexes = try Self.sql(path, "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'certificates' AND sql IS NOT NULL ORDER BY name;")
        #expect(indexes.split(separator: "\n") == ["certificates_by_authority", "certificates_by_expiry", "certificates_by_host", "certificates_by_host_name",
                                                   "certificates_by_not_after", "certificates_by_serial", "certificates_in_issue_order", "certificates_one_successor"])
        // The old table's pages were zeroed when it was dropped: each sealed key is in the file once.
        #expect(try Self.copies(of: keys, in: path).allSatisfy { $0 == 1 })
    }

    /// A reference already broken in the old file (a revocation of a certificate that is not there,
    /// written with foreign keys off) would be carried into the rebuilt table unnoticed: the upgrade
    /// refuses with one clear error and leaves the file in its old layout.
    @Test func anUpgradeThatWouldBreakAReferenceChangesNothing() throws {
        let scratch = try Scratch()
        let path = scratch.file("ca.sqlite3")
        do {
            let store = try CAStore.openOrCreate(path: path).store
            _ = try Issuer.createRoot(store: store, name: "old-ca", keyType: .ecP256, days: 3650, passphrase: nil, now: Date())
        }
        _ = try Self.sql(path, try Self.backTo0010(path))
        _ = try Self.sql(path, "PRAGMA foreign_keys = OFF; INSERT INTO revocations (authority_id, serial, reason, revoked_at) VALUES (1, 'AB', 1, 0);")
        let schema = try Self.sql(path, "SELECT sql FROM sqlite_schema ORDER BY name; SELECT name FROM schema_migrations ORDER BY name;")
        let error = #expect(throws: CAError.self) { try CAStore.open(path: path) }
        #expect(error.map { "\($0)" }?.contains("would break a reference (revocations row") == true, "\(String(describing: error))")
        #expect(try Self.sql(path, "SELECT sql FROM sqlite_schema ORDER BY name; SELECT name FROM schema_migrations ORDER BY name;") == schema)
        #expect(schema.contains("certificate_pem TEXT    NOT NULL"))
    }
}
