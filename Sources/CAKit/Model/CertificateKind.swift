/// What an issued leaf is for.
public enum CertificateKind: String, CaseIterable, Codable, Sendable {
    /// TLS server certificate: CN = host, SAN = its names and addresses, EKU serverAuth.
    case server
    /// Replication client certificate: CN = the replication role, EKU clientAuth.
    case client
}
