import FoundationEssentials

extension CAStore {
    private static let authorityColumns = "id, name, key_type, status, key_encrypted, certificate_pem, key_pem, created_at"

    public func insertAuthority(name: String, certificate: Certificate, keyType: KeyType, keyPEM: String,
                                keyEncrypted: Bool, status: AuthorityRecord.Status, at now: Date) throws -> Int64 {
        try db.query("""
            INSERT INTO authorities (name, key_id, serial, key_type, status, key_encrypted, not_before, not_after,
                                     certificate_pem, key_pem, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(name), .text(certificate.subjectKeyIdentifier?.hexString ?? ""), .text(certificate.serial.hex),
                  .text(keyType.rawValue), .text(status.rawValue), .integer(keyEncrypted ? 1 : 0),
                  .integer(certificate.notBefore.unixSeconds), .integer(certificate.notAfter.unixSeconds),
                  .text(certificate.pem), .text(keyPEM), .integer(now.unixSeconds)])
        return try db.query("SELECT last_insert_rowid() AS id").first?.int("id") ?? 0
    }

    /// The CA that signs: there is exactly one once `init` has run.
    public func activeAuthority() throws -> AuthorityRecord {
        guard let row = try db.query("SELECT \(CAStore.authorityColumns) FROM authorities WHERE status = 'active'").first else {
            throw CAError.notInitialized(path: path)
        }
        return try authority(row)
    }

    /// Every authority, oldest first.
    public func authorities() throws -> [AuthorityRecord] {
        try db.query("SELECT \(CAStore.authorityColumns) FROM authorities ORDER BY id").map(authority)
    }

    /// The CA certificates clients must trust now: the active root and, during a rotation, the next.
    public func trustedAuthorities() throws -> [AuthorityRecord] {
        try authorities().filter { $0.status != .retired }
    }

    private func authority(_ row: SQLRow) throws -> AuthorityRecord {
        guard let keyType = KeyType(rawValue: row.string("key_type")),
              let status = AuthorityRecord.Status(rawValue: row.string("status")) else {
            throw CAError.notADatabase(path: path, reason: "authority \(row.int("id")) has an unknown key type or status")
        }
        return AuthorityRecord(id: row.int("id"), name: row.string("name"), keyType: keyType, status: status,
                               keyEncrypted: row.int("key_encrypted") == 1, certificatePEM: row.string("certificate_pem"),
                               keyPEM: row.string("key_pem"), createdAt: row.date("created_at"))
    }
}

extension Date {
    var unixSeconds: Int64 { Int64(timeIntervalSince1970.rounded(.down)) }
}
