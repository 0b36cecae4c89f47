import FoundationEssentials

/// Decrypts authority keys, each at most once per process: the slow KDF is paid once, never
/// per certificate. The passphrase is asked for lazily, only if an encrypted key is needed.
public final class KeyVault {
    private let passphrase: () throws -> String?
    private var cachedPassphrase: String??
    private var keys: [Int64: PrivateKey] = [:]

    /// Label of the secret that wraps leaf keys (see `PrivateKey.wrappingSecret`). Never change it.
    static let leafWrappingLabel = "ca leaf key wrapping v1"

    public init(passphrase: @escaping () throws -> String?) { self.passphrase = passphrase }

    /// The store whose row seals this vault checks the first time it opens a CA key (every part
    /// of ca that takes a store and a vault attaches it).
    private var store: CAStore?
    /// The seal secret, once a CA key opened it and every authority and rotation row checked out.
    private(set) var seals: Seals?
    private var openingSeals = false

    public func attach(_ store: CAStore) { if self.store == nil { self.store = store } }

    /// The row seals, opening the signing CA's key (and the passphrase) if need be.
    func sealsOpened() throws -> Seals? {
        if seals == nil, let store { _ = try key(of: try store.activeAuthority()) }
        return seals
    }

    /// Checks the rows with the secret this key unwraps; seals a database from before seals.
    private func openSeals(_ store: CAStore, _ authority: AuthorityRecord, _ key: PrivateKey) throws {
        try store.checkConsistency()
        let rows = try store.sealKeys()
        if rows.isEmpty {
            guard try store.sealPending() else { throw Seals.tampered(store, "its seal keys are missing") }
            let trusted = try store.trustedAuthorities()
            let keys = try trusted.map { ($0.id, try self.key(of: $0)) }
            seals = try store.write {
                let seals = try Seals.adopt(store, keys: keys)
                try store.record("seal", subject: "database", detail: "sealed the rows of a database from before seals", at: Clock.now())
                return seals
            }
            return
        }
        guard let row = rows.first(where: { $0.authorityID == authority.id }) else {
            if authority.status == .retired { return }  // retired before seals: another key opens them
            throw Seals.tampered(store, "authority \(authority.id) ('\(authority.name)') has no seal key")
        }
        guard let secret = try Seals.unwrap(row, with: key) else {
            throw Seals.tampered(store, "the seal key of authority \(authority.id) does not open with that authority's key")
        }
        let opened = Seals(secret: secret)
        try opened.verifyAuthorities(store)
        seals = opened
    }

    /// Decrypts these authorities' keys now, asking for the passphrase if needed. Call it before a
    /// write transaction: a person typing a passphrase must not hold the database lock.
    public func unlock(_ authorities: [AuthorityRecord]) throws {
        for authority in authorities { _ = try key(of: authority) }
    }

    public func key(of authority: AuthorityRecord) throws -> PrivateKey {
        if let key = keys[authority.id] { return key }
        let secret: String? = authority.keyEncrypted ? try resolvedPassphrase() : nil
        let key = try CAError.translatingCrypto { try PrivateKey(pem: authority.keyPEM, passphrase: secret) }
        keys[authority.id] = key
        if seals == nil, !openingSeals, let store {
            openingSeals = true
            defer { openingSeals = false }
            do { try openSeals(store, authority, key) } catch { keys[authority.id] = nil; throw error }
        }
        return key
    }

    /// Encrypts a leaf key the way the store keeps it: under its issuer's wrapping secret.
    /// (`secret` is the issuer's `wrappingSecret`; safe on any thread.)
    static func seal(_ leafKey: PrivateKey, secret: String) throws -> String {
        try CAError.translatingCrypto { try leafKey.pkcs8PEM(passphrase: secret, iterations: PrivateKey.wrappingIterations) }
    }

    /// Decrypts a stored leaf key.
    public func open(_ record: CertificateRecord, issuer authority: AuthorityRecord) throws -> PrivateKey? {
        guard let pem = record.keyPEM else { return nil }
        // ca stores every leaf key sealed; a plain key here was put there by someone else.
        guard pem.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----") else {
            throw CAError.notADatabase(path: store?.path ?? "the CA database",
                                       reason: "the key of certificate \(record.serial.hex) is not sealed; ca never stores a plain key. It was changed outside ca: restore it from a backup")
        }
        let secret = try wrappingSecret(authority)
        return try CAError.translatingCrypto { try PrivateKey(pem: pem, passphrase: secret) }
    }

    private var secrets: [Int64: String] = [:]
    func wrappingSecret(_ authority: AuthorityRecord) throws -> String {
        if let secret = secrets[authority.id] { return secret }
        let secret = try CAError.translatingCrypto { try key(of: authority).wrappingSecret(label: KeyVault.leafWrappingLabel) }
        secrets[authority.id] = secret
        return secret
    }

    private func resolvedPassphrase() throws -> String {
        if let cached = cachedPassphrase { if let value = cached { return value } else { throw CAError.passphraseRequired } }
        let value = try passphrase()
        cachedPassphrase = .some(value)
        guard let value else { throw CAError.passphraseRequired }
        return value
    }
}
