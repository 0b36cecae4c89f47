import FoundationEssentials

/// One staged CA rotation.
public struct RotationRecord: Sendable {
    public enum Stage: String, Sendable { case started, reissuing, reissued, finished, aborted }
    public var id: Int64
    public var oldAuthorityID: Int64
    public var newAuthorityID: Int64
    public var stage: Stage
    public var startedAt: Date
    public var updatedAt: Date
    public var isOpen: Bool { [.started, .reissuing, .reissued].contains(stage) }
}

extension CAStore {
    public func openRotation() throws -> RotationRecord? {
        try db.query("SELECT * FROM rotations WHERE stage IN ('started', 'reissuing', 'reissued') ORDER BY id DESC LIMIT 1").first.map(rotation)
    }

    public func lastRotation() throws -> RotationRecord? {
        try db.query("SELECT * FROM rotations ORDER BY id DESC LIMIT 1").first.map(rotation)
    }

    func insertRotation(old: Int64, new: Int64, at now: Date) throws {
        try db.query("INSERT INTO rotations (old_authority_id, new_authority_id, stage, started_at, updated_at) VALUES (?, ?, 'started', ?, ?)",
                     [.integer(old), .integer(new), .integer(now.unixSeconds), .integer(now.unixSeconds)])
    }

    func setStage(_ rotation: RotationRecord, _ stage: RotationRecord.Stage, at now: Date) throws {
        try db.query("UPDATE rotations SET stage = ?, updated_at = ? WHERE id = ?", [.text(stage.rawValue), .integer(now.unixSeconds), .integer(rotation.id)])
    }

    func setAuthorityStatus(_ id: Int64, _ status: AuthorityRecord.Status) throws {
        try db.query("UPDATE authorities SET status = ? WHERE id = ?", [.text(status.rawValue), .integer(id)])
    }

    /// Replaces an authority's certificate (same key), keeping the old one in authority_certificates.
    func replaceCertificate(of authority: AuthorityRecord, with certificate: Certificate, at now: Date) throws {
        try db.query("INSERT INTO authority_certificates (authority_id, certificate_pem, replaced_at) VALUES (?, ?, ?)",
                     [.integer(authority.id), .text(authority.certificatePEM), .integer(now.unixSeconds)])
        try db.query("UPDATE authorities SET certificate_pem = ?, serial = ?, not_before = ?, not_after = ? WHERE id = ?",
                     [.text(certificate.pem), .text(certificate.serial.hex), .integer(certificate.notBefore.unixSeconds),
                      .integer(certificate.notAfter.unixSeconds), .integer(authority.id)])
    }

    func setCRLDays(_ days: Int, authorityID: Int64) throws {
        try db.query("UPDATE authorities SET crl_days = ? WHERE id = ?", [.integer(Int64(days)), .integer(authorityID)])
    }

    public func authority(id: Int64) throws -> AuthorityRecord {
        guard let found = try authorities().first(where: { $0.id == id }) else {
            throw CAError.notADatabase(path: path, reason: "authority \(id) is missing")
        }
        return found
    }

    private func rotation(_ row: SQLRow) -> RotationRecord {
        RotationRecord(id: row.int("id"), oldAuthorityID: row.int("old_authority_id"), newAuthorityID: row.int("new_authority_id"),
                       stage: RotationRecord.Stage(rawValue: row.string("stage")) ?? .aborted,
                       startedAt: row.date("started_at"), updatedAt: row.date("updated_at"))
    }
}
