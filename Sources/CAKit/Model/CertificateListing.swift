import FoundationEssentials

/// One certificate as an inventory shows it: the columns `list` prints, no PEM, nothing parsed
/// that a listing does not print (the SAN names stay one string until asked for).
public struct CertificateListing: Sendable {
    /// Uppercase hex, as `SerialNumber.hex`.
    public let serial: String
    public let kind: CertificateKind
    public let hostName: String?
    public let subject: String
    private let namesText: String
    public let keyType: KeyType
    public let notBefore: Date
    public let notAfter: Date
    public let status: CertificateStatus
    public let fingerprint: String
    public let authorityID: Int64

    init(serial: String, kind: CertificateKind, hostName: String?, subject: String, namesText: String, keyType: KeyType,
         notBefore: Date, notAfter: Date, status: CertificateStatus, fingerprint: String, authorityID: Int64) {
        self.serial = serial
        self.kind = kind
        self.hostName = hostName
        self.subject = subject
        self.namesText = namesText
        self.keyType = keyType
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.status = status
        self.fingerprint = fingerprint
        self.authorityID = authorityID
    }

    /// A record as a listing (what `show HOST` prints through the same table as `list`).
    public init(_ record: CertificateRecord) {
        self.init(serial: record.serial.hex, kind: record.kind, hostName: record.hostName, subject: record.subject,
                  namesText: record.names.joined(separator: "\n"), keyType: record.keyType, notBefore: record.notBefore,
                  notAfter: record.notAfter, status: record.status, fingerprint: record.fingerprint, authorityID: record.authorityID)
    }

    /// The SAN names, as `CertificateRecord.names`.
    public var names: [String] { Self.names(namesText) }

    /// The stored one-name-per-line text as names. Split on the byte, not the Character: a name
    /// ending in "\r" would join the "\n" after it into one grapheme and swallow the next name.
    static func names(_ text: String) -> [String] {
        text.isEmpty ? [] : text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    public func isExpired(at now: Date) -> Bool { notAfter <= now }
}
