/// The subject or issuer name of a certificate, as the few attributes `ca` writes.
/// Values are typed here and passed to OpenSSL as UTF-8 bytes, never through a config string.
public struct DistinguishedName: Hashable, Codable, Sendable {
    public var commonName: String
    public var organizationalUnit: String?
    public var organization: String?

    public init(commonName: String, organizationalUnit: String? = nil, organization: String? = nil) {
        self.commonName = commonName
        self.organizationalUnit = organizationalUnit
        self.organization = organization
    }

    /// Attributes in the order they are encoded (most significant first).
    public var attributes: [(String, String)] {
        var out: [(String, String)] = []
        if let organization { out.append(("O", organization)) }
        if let organizationalUnit { out.append(("OU", organizationalUnit)) }
        out.append(("CN", commonName))
        return out
    }
}
