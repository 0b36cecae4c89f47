import FoundationEssentials

/// Everything that distinguishes one certificate from another before it is signed.
/// Key usage follows from `isCA` and the subject key's algorithm; it is not a free choice.
public struct CertificateTemplate: Sendable {
    public var subject: DistinguishedName
    public var serial: SerialNumber
    public var notBefore: Date
    public var notAfter: Date
    public var isCA: Bool
    public var extendedKeyUsage: [ExtendedKeyUsage]
    public var subjectAlternativeNames: [GeneralName]

    public init(subject: DistinguishedName, serial: SerialNumber, notBefore: Date, notAfter: Date,
                isCA: Bool, extendedKeyUsage: [ExtendedKeyUsage] = [], subjectAlternativeNames: [GeneralName] = []) {
        self.subject = subject
        self.serial = serial
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.isCA = isCA
        self.extendedKeyUsage = extendedKeyUsage
        self.subjectAlternativeNames = subjectAlternativeNames
    }
}
