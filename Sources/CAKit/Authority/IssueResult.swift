/// What an issuance produced.
public struct IssueResult: Sendable {
    public var certificates: [CertificateRecord]
    /// Serials that the new certificates replace (now `superseded`).
    public var superseded: [SerialNumber]
    public var warnings: [String]
}
