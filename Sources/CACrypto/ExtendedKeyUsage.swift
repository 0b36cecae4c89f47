/// The extended key usages `ca` issues.
public enum ExtendedKeyUsage: String, Hashable, Codable, Sendable {
    case serverAuth
    case clientAuth
}
