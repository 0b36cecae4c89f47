import FoundationEssentials

/// One issued leaf certificate as the inventory holds it.
public struct CertificateRecord: Sendable {
    public var serial: SerialNumber
    public var authorityID: Int64
    public var hostName: String?
    public var kind: CertificateKind
    public var subject: String
    public var names: [String]
    public var keyType: KeyType
    public var notBefore: Date
    public var notAfter: Date
    public var status: CertificateStatus
    public var fingerprint: String
    public var certificatePEM: String
    /// PKCS#8, encrypted under the issuing CA's wrapping secret; nil if ca did not make the key.
    public var keyPEM: String?
    public var createdAt: Date
    /// The certificate this one renewed or re-issued, if any.
    public var replaces: SerialNumber? = nil

    public func isExpired(at now: Date) -> Bool { notAfter <= now }
}
