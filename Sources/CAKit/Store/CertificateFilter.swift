import FoundationEssentials

/// Which certificates `ca list` shows. Every field narrows the result; all are optional.
public struct CertificateFilter: Sendable {
    public var hostName: String?
    public var kind: CertificateKind?
    public var status: CertificateStatus?
    /// Certificates whose notAfter falls before this instant (and that are not yet expired, unless `includeExpired`).
    public var expiringBefore: Date?
    public var now: Date
    public var limit: Int?
    /// With `expiringBefore`: also those already expired (renew wants them, list does not).
    public var includeExpired = false
    /// Load the PEM columns (certificate and key). Inventory listings leave them out.
    public var includePEM = true
    /// Soonest notAfter first (with `limit`: the few that expire first), instead of the order of issue.
    public var soonestFirst = false

    public init(hostName: String? = nil, kind: CertificateKind? = nil, status: CertificateStatus? = nil,
                expiringBefore: Date? = nil, now: Date = Clock.now(), limit: Int? = nil) {
        self.hostName = hostName
        self.kind = kind
        self.status = status
        self.expiringBefore = expiringBefore
        self.now = now
        self.limit = limit
    }
}
