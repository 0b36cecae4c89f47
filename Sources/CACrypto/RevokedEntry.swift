import FoundationEssentials

/// One line of a CRL.
public struct RevokedEntry: Hashable, Sendable {
    public let serial: SerialNumber
    public let revokedAt: Date
    public let reason: RevocationReason

    public init(serial: SerialNumber, revokedAt: Date, reason: RevocationReason) {
        self.serial = serial
        self.revokedAt = revokedAt
        self.reason = reason
    }
}
