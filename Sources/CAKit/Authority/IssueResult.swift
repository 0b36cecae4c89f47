/// What an issuance produced.
public struct IssueResult: Sendable {
    public var certificates: [CertificateRecord]
    /// Serials that the new certificates replace (now `superseded`).
    public var superseded: [SerialNumber]
    public var warnings: [String]
    /// Certificates due whose new key must come from their host (`--keys host`): their hosts are
    /// marked, and the next `ca deploy` makes the keys there and installs the renewal.
    public var waitingForHost: [CertificateRecord] = []
}
