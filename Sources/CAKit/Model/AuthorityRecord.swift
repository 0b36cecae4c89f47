import FoundationEssentials

/// A CA certificate the database holds, with its key (encrypted unless created with --no-passphrase).
public struct AuthorityRecord: Sendable {
    public enum Status: String, Codable, Sendable {
        /// Signs new certificates; in the trust bundle.
        case active
        /// The next root during a rotation: in the trust bundle, not yet signing.
        case next
        /// No longer trusted.
        case retired
    }

    public var id: Int64
    public var name: String
    public var keyType: KeyType
    public var status: Status
    public var keyEncrypted: Bool
    public var certificatePEM: String
    public var keyPEM: String
    public var createdAt: Date

    public func certificate() throws -> Certificate { try CAError.translatingCrypto { try Certificate(pem: certificatePEM) } }
}
