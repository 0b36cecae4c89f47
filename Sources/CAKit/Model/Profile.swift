import FoundationEssentials

/// Certificate presets: one source of truth for what each kind of certificate contains.
public struct Profile: Sendable {
    public let subject: DistinguishedName
    public let isCA: Bool
    public let extendedKeyUsage: [ExtendedKeyUsage]
    public let subjectAlternativeNames: [GeneralName]
    public let kind: CertificateKind?

    /// The self-signed root: CA:TRUE, keyCertSign + cRLSign, no EKU.
    public static func root(name: String) -> Profile {
        Profile(subject: DistinguishedName(commonName: name), isCA: true, extendedKeyUsage: [], subjectAlternativeNames: [], kind: nil)
    }

    /// A host's TLS server certificate.
    public static func server(host: PostgresHost) -> Profile {
        server(commonName: host.name.value, names: host.subjectAlternativeNames)
    }

    public static func server(commonName: String, names: [GeneralName]) -> Profile {
        Profile(subject: DistinguishedName(commonName: commonName), isCA: false, extendedKeyUsage: [.serverAuth],
                subjectAlternativeNames: names, kind: .server)
    }

    /// A replication client certificate: CN is the role (PostgreSQL's `cert` method matches it),
    /// OU names the host, so `pg_stat_ssl.client_dn` tells which standby is connected.
    public static func replicationClient(host: PostgresHost) -> Profile {
        client(role: host.replicationUser, host: host.name.value)
    }

    public static func client(role: String, host: String?) -> Profile {
        Profile(subject: DistinguishedName(commonName: role, organizationalUnit: host), isCA: false,
                extendedKeyUsage: [.clientAuth], subjectAlternativeNames: [], kind: .client)
    }

    public func template(serial: SerialNumber, validity: Validity) -> CertificateTemplate {
        CertificateTemplate(subject: subject, serial: serial, notBefore: validity.notBefore, notAfter: validity.notAfter,
                            isCA: isCA, extendedKeyUsage: extendedKeyUsage, subjectAlternativeNames: subjectAlternativeNames)
    }
}
