import FoundationEssentials

/// Seals on the rows that decide trust and paths. Anyone who can write the SQLite file (a restored
/// backup, shared storage) could otherwise add a CA that every trust bundle then ships, or move the
/// data directory root writes into. A seal is HMAC-SHA256 over a row's fields under a 256-bit secret
/// stored only wrapped under each trusted CA's key, so only a holder of the CA passphrase can make
/// one; every command that opens a CA key checks every authority and rotation row, and a host's row
/// before it is issued to, exported or installed.
///
/// Sealed: an authority's name, key id, key type, certificate and key (not its status, which
/// `rotate finish` changes without the key; states that cannot arise are refused by
/// `CAStore.checkConsistency`); a rotation's roots and start; every field of a host. A host row
/// is sealed by its first issue (the operator's approval); after that a change or a lost seal is refused.
/// Certificates need no seal: each is signed by its CA, and its key is sealed under the CA's
/// wrapping secret (an unencrypted key where a sealed one belongs is refused).
public struct Seals {
    static let wrapLabel = "ca row seal wrap v1"
    static let checkLabel = Array("ca row seal check v1".utf8)
    let secret: [UInt8]

    static func seal(_ secret: [UInt8], _ fields: [String]) -> String {
        // Length-prefixed fields: no two different rows encode alike.
        var message: [UInt8] = []
        for field in fields {
            let bytes = Array(field.utf8)
            message += withUnsafeBytes(of: UInt64(bytes.count).bigEndian, Array.init) + bytes
        }
        return Digest.hmacSHA256(key: secret, message).hexString
    }

    func seal(_ fields: [String]) -> String { Self.seal(secret, fields) }

    /// The key that wraps the secret for one authority: derived from its private value.
    static func wrapKey(_ key: PrivateKey) throws -> [UInt8] {
        let hex = try CAError.translatingCrypto { try key.wrappingSecret(label: wrapLabel) }
        return Array(hex: hex) ?? []
    }

    static func wrapped(_ secret: [UInt8], under key: PrivateKey, authorityID: Int64) throws -> CAStore.SealKeyRow {
        let pad = try wrapKey(key)
        return CAStore.SealKeyRow(authorityID: authorityID, wrapped: zip(secret, pad).map { $0 ^ $1 }.hexString,
                                  checkValue: Digest.hmacSHA256(key: secret, checkLabel).hexString)
    }

    /// The secret, unwrapped with one authority's key; nil if the stored check does not hold.
    static func unwrap(_ row: CAStore.SealKeyRow, with key: PrivateKey) throws -> [UInt8]? {
        guard let wrapped = Array(hex: row.wrapped), wrapped.count == 32 else { return nil }
        let secret = zip(wrapped, try wrapKey(key)).map { $0 ^ $1 }
        return Digest.hmacSHA256(key: secret, checkLabel).hexString == row.checkValue ? secret : nil
    }

    static func tampered(_ store: CAStore, _ what: String) -> CAError {
        .notADatabase(path: store.path, reason: "\(what). It was changed outside ca (a CA key or a path that ca did not write); restore it from a backup")
    }

    /// Every authority and rotation row must carry a valid seal.
    func verifyAuthorities(_ store: CAStore) throws {
        for row in try store.authoritySealFields() where row.seal != seal(row.fields) {
            throw Self.tampered(store, "authority \(row.id) has \(row.seal == nil ? "no" : "a wrong") seal")
        }
        for row in try store.rotationSealFields() where row.seal != seal(row.fields) {
            throw Self.tampered(store, "rotation \(row.id) has \(row.seal == nil ? "no" : "a wrong") seal")
        }
    }

    /// A host about to be exported or installed: sealed, and the seal holds.
    func verifyHost(_ store: CAStore, _ name: String) throws {
        guard let row = try store.hostSealFields(named: name) else { return }
        if row.seal == nil {
            if row.issued { throw Self.tampered(store, "host '\(name)' has certificates but no seal") }
            throw CAError.invalid("host '\(name)' has not been issued yet", fix: "Run 'ca issue \(name)' first.")
        }
        if row.seal != seal(row.fields) { throw Self.tampered(store, "host '\(name)' differs from what was issued (its seal does not hold)") }
    }

    /// A host about to be issued to: a new host is sealed now (the operator approves it by issuing);
    /// one already sealed must still match. Call inside the write transaction.
    func approveHost(_ store: CAStore, _ name: String) throws {
        guard let row = try store.hostSealFields(named: name) else { return }
        if let existing = row.seal {
            if existing != seal(row.fields) { throw Self.tampered(store, "host '\(name)' differs from what was issued (its seal does not hold)") }
            return
        }
        if row.issued { throw Self.tampered(store, "host '\(name)' has certificates but no seal") }
        try store.setSeal(table: "hosts", id: row.id, seal(row.fields))
    }

    /// Seals every row of a database made before seals (or a new one), under a new secret wrapped
    /// for each of `keys`. Call inside a write transaction.
    static func adopt(_ store: CAStore, keys: [(Int64, PrivateKey)]) throws -> Seals {
        let seals = Seals(secret: try CAError.translatingCrypto { try SecureRandom.bytes(32) })
        for (id, key) in keys { try store.insertSealKey(try wrapped(seals.secret, under: key, authorityID: id)) }
        try store.clearSealPending()
        for row in try store.authoritySealFields() { try store.setSeal(table: "authorities", id: row.id, seals.seal(row.fields)) }
        for row in try store.rotationSealFields() { try store.setSeal(table: "rotations", id: row.id, seals.seal(row.fields)) }
        for name in try store.hostNames() {
            if let row = try store.hostSealFields(named: name), row.issued || row.seal != nil {
                try store.setSeal(table: "hosts", id: row.id, seals.seal(row.fields))
            }
        }
        return seals
    }

    func resealAuthority(_ store: CAStore, id: Int64) throws {
        for row in try store.authoritySealFields() where row.id == id { try store.setSeal(table: "authorities", id: id, seal(row.fields)) }
    }

    func resealRotations(_ store: CAStore) throws {
        for row in try store.rotationSealFields() where row.seal == nil { try store.setSeal(table: "rotations", id: row.id, seal(row.fields)) }
    }
}
