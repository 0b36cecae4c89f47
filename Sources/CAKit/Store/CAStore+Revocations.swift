import FoundationEssentials

extension CAStore {
    /// Records a revocation and marks the certificate revoked.
    public func revoke(_ record: CertificateRecord, reason: RevocationReason, at now: Date) throws {
        try db.query("INSERT INTO revocations (authority_id, serial, revoked_at, reason) VALUES (?, ?, ?, ?)",
                     [.integer(record.authorityID), .text(record.serial.hex), .integer(now.unixSeconds), .text(reason.rawValue)])
        try db.query("UPDATE certificates SET status = 'revoked' WHERE authority_id = ? AND serial = ?",
                     [.integer(record.authorityID), .text(record.serial.hex)])
    }

    /// Every revocation under one CA, for its CRL.
    public func revocations(authorityID: Int64) throws -> [RevokedEntry] {
        try db.query("SELECT serial, revoked_at, reason FROM revocations WHERE authority_id = ? ORDER BY serial",
                     [.integer(authorityID)]).compactMap { row in
            guard let serial = SerialNumber(hex: row.string("serial")) else { return nil }
            return RevokedEntry(serial: serial, revokedAt: row.date("revoked_at"),
                                reason: RevocationReason(rawValue: row.string("reason")) ?? .unspecified)
        }
    }

    /// The newest revocation time under one CA, to tell whether its last CRL is stale.
    func lastRevocation(authorityID: Int64) throws -> Date? {
        guard let row = try db.query("SELECT max(revoked_at) AS at FROM revocations WHERE authority_id = ?", [.integer(authorityID)]).first,
              case .integer = row["at"] else { return nil }
        return row.date("at")
    }

    public struct StoredCRL: Sendable {
        public let authorityID: Int64
        public let number: Int64
        public let thisUpdate: Date
        public let nextUpdate: Date
        public let pem: String
    }

    public func latestCRL(authorityID: Int64) throws -> StoredCRL? {
        try db.query("SELECT * FROM crls WHERE authority_id = ? ORDER BY number DESC LIMIT 1", [.integer(authorityID)]).first.map {
            StoredCRL(authorityID: $0.int("authority_id"), number: $0.int("number"), thisUpdate: $0.date("this_update"),
                      nextUpdate: $0.date("next_update"), pem: $0.string("pem"))
        }
    }

    public func insertCRL(_ crl: StoredCRL) throws {
        try db.query("INSERT INTO crls (authority_id, number, this_update, next_update, pem) VALUES (?, ?, ?, ?, ?)",
                     [.integer(crl.authorityID), .integer(crl.number), .integer(crl.thisUpdate.unixSeconds),
                      .integer(crl.nextUpdate.unixSeconds), .text(crl.pem)])
    }

    public func crlDays(authorityID: Int64) throws -> Int {
        Int(try db.query("SELECT crl_days FROM authorities WHERE id = ?", [.integer(authorityID)]).first?.int("crl_days") ?? 30)
    }
}
