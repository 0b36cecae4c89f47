import Foundation

/// Decrypts authority keys, each at most once per process: the slow KDF is paid once, never
/// per certificate. The passphrase is asked for lazily, only if an encrypted key is needed.
public final class KeyVault {
    private let passphrase: () throws -> String?
    private var cachedPassphrase: String??
    private var keys: [Int64: PrivateKey] = [:]

    /// Label of the secret that wraps leaf keys (see `PrivateKey.wrappingSecret`). Never change it.
    static let leafWrappingLabel = "ca leaf key wrapping v1"

    public init(passphrase: @escaping () throws -> String?) { self.passphrase = passphrase }

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
        return key
    }

    /// Encrypts a leaf key the way the store keeps it: under its issuer's wrapping secret.
    func seal(_ leafKey: PrivateKey, issuer authority: AuthorityRecord) throws -> String {
        let secret = try wrappingSecret(authority)
        return try CAError.translatingCrypto { try leafKey.pkcs8PEM(passphrase: secret, iterations: PrivateKey.wrappingIterations) }
    }

    /// Decrypts a stored leaf key.
    public func open(_ record: CertificateRecord, issuer authority: AuthorityRecord) throws -> PrivateKey? {
        guard let pem = record.keyPEM else { return nil }
        let secret = try wrappingSecret(authority)
        return try CAError.translatingCrypto { try PrivateKey(pem: pem, passphrase: secret) }
    }

    private var secrets: [Int64: String] = [:]
    private func wrappingSecret(_ authority: AuthorityRecord) throws -> String {
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
