import FoundationEssentials

/// The stored fields that row seals cover, and the seals themselves. The store reads and writes
/// them; `Seals` computes and checks them.
extension CAStore {
    public struct SealKeyRow: Sendable {
        public let authorityID: Int64
        public let wrapped: String
        public let checkValue: String
    }

    public func sealKeys() throws -> [SealKeyRow] {
        try db.query("SELECT authority_id, wrapped, check_value FROM seal_keys").map {
            SealKeyRow(authorityID: $0.int("authority_id"), wrapped: $0.string("wrapped"), checkValue: $0.string("check_value"))
        }
    }

    /// True while a database from before seals waits for its rows to be sealed.
    func sealPending() throws -> Bool {
        try !db.query("SELECT 1 FROM seal_pending").isEmpty
            && db.query("SELECT 1 FROM authorities WHERE seal IS NOT NULL LIMIT 1").isEmpty
    }

    func clearSealPending() throws { try db.query("DELETE FROM seal_pending") }

    func insertSealKey(_ row: SealKeyRow) throws {
        try db.query("INSERT OR REPLACE INTO seal_keys (authority_id, wrapped, check_value) VALUES (?, ?, ?)",
                     [.integer(row.authorityID), .text(row.wrapped), .text(row.checkValue)])
    }

    /// Per authority: the fields its seal covers (never its status or CRL period, which change
    /// without the key), and the seal.
    func authoritySealFields() throws -> [(id: Int64, fields: [String], seal: String?)] {
        try db.query("SELECT id, name, key_id, key_type, key_encrypted, certificate_pem, key_pem, seal FROM authorities ORDER BY id").map { row in
            (row.int("id"), ["authority", String(row.int("id")), row.string("name"), row.string("key_id"), row.string("key_type"),
                             String(row.int("key_encrypted")), row.string("certificate_pem"), row.string("key_pem")],
             row.optionalString("seal"))
        }
    }

    func rotationSealFields() throws -> [(id: Int64, fields: [String], seal: String?)] {
        try db.query("SELECT id, old_authority_id, new_authority_id, started_at, seal FROM rotations ORDER BY id").map { row in
            (row.int("id"), ["rotation", String(row.int("id")), String(row.int("old_authority_id")), String(row.int("new_authority_id")),
                             String(row.int("started_at"))], row.optionalString("seal"))
        }
    }

    /// A host's fields as stored (every one: its names, paths, user and role), its seal, and
    /// whether any certificate was ever issued to this row.
    func hostSealFields(named name: String) throws -> (id: Int64, fields: [String], seal: String?, issued: Bool)? {
        guard let row = try db.query("SELECT * FROM hosts WHERE name = ?", [.text(name)]).first else { return nil }
        let id = row.int("id")
        let names = try db.query("SELECT kind, value FROM host_names WHERE host_id = ? ORDER BY position", [.integer(id)])
            .map { "\($0.string("kind")):\($0.string("value"))" }
        let issued = try !db.query("SELECT 1 FROM certificates WHERE host_id = ? LIMIT 1", [.integer(id)]).isEmpty
        let fields = ["host", String(id), row.string("name"), row.string("role"), row.string("pg_version"), row.string("data_dir"),
                      row.string("config_dir"), row.string("os_user"), row.string("replication_user"), String(row.int("port"))] + names
        return (id, fields, row.optionalString("seal"), issued)
    }

    func hostNames() throws -> [String] { try db.query("SELECT name FROM hosts ORDER BY id").map { $0.string("name") } }

    func setSeal(table: String, id: Int64, _ seal: String) throws {
        precondition(["authorities", "hosts", "rotations"].contains(table))
        try db.query("UPDATE \(table) SET seal = ? WHERE id = ?", [.text(seal), .integer(id)])
    }

    /// States ca never produces, whatever the seals say: more than one signing CA, a `next` root
    /// without an open rotation, two open rotations.
    public func checkConsistency() throws {
        let authorities = try db.query("SELECT id, status FROM authorities")
        let active = authorities.filter { $0.string("status") == "active" }
        if active.count > 1 { throw CAError.notADatabase(path: path, reason: "it has \(active.count) signing CAs; ca keeps one. It was changed outside ca: restore it from a backup") }
        let open = try db.query("SELECT old_authority_id, new_authority_id, stage FROM rotations WHERE stage IN ('started', 'reissuing', 'reissued')")
        if open.count > 1 { throw CAError.notADatabase(path: path, reason: "it has \(open.count) open CA rotations; ca keeps at most one. It was changed outside ca: restore it from a backup") }
        for row in authorities where row.string("status") == "next" {
            let id = row.int("id")
            let explained = open.contains { $0.int("new_authority_id") == id || $0.int("old_authority_id") == id }
            if !explained {
                throw CAError.notADatabase(path: path, reason: "authority \(id) is trusted as the next root, but no CA rotation is open for it. It was changed outside ca: restore it from a backup")
            }
        }
    }
}
