import Foundation

/// Everything one host needs, in memory: its record and peers, the trust bundle, the CRLs, and
/// its two certificates with their keys (plain PKCS#8 here; encrypted at rest and in bundles).
public struct HostMaterial: Sendable {
    public struct Pair: Codable, Sendable {
        public var certificatePEM: String
        public var keyPEM: String

        // Spelled so snake_case conversion round-trips ("certificate_pem").
        enum CodingKeys: String, CodingKey {
            case certificatePEM = "certificatePem"
            case keyPEM = "keyPem"
        }
    }

    public var caName: String
    public var host: PostgresHost
    public var peers: [PostgresHost]
    public var trustPEM: String
    public var crlPEM: String
    public var server: Pair
    public var client: Pair

    /// Collects a host's material from the database; signs a fresh CRL if one is due, so call it
    /// inside a write transaction.
    public static func assemble(hostName: String, store: CAStore, vault: KeyVault, now: Date) throws -> HostMaterial {
        vault.attach(store)
        let host = try store.host(named: hostName)
        // The record decides where root writes on the host: it must be the one that was issued.
        try vault.sealsOpened()?.verifyHost(store, hostName)
        let active = try store.certificates(CertificateFilter(hostName: hostName, status: .active))
        let authorities = try store.authorities()
        func pair(_ kind: CertificateKind) throws -> Pair {
            guard let record = active.last(where: { $0.kind == kind }) else {
                throw CAError.invalid("host '\(hostName)' has no active \(kind.rawValue) certificate", fix: "Run 'ca issue \(hostName)' first.")
            }
            guard let authority = authorities.first(where: { $0.id == record.authorityID }),
                  let key = try vault.open(record, issuer: authority) else {
                throw CAError.invalid("the key of certificate \(record.serial.hex) is not in the database", fix: "Run 'ca issue \(hostName)' to mint a new pair.")
            }
            return Pair(certificatePEM: record.certificatePEM, keyPEM: try CAError.translatingCrypto { try key.pkcs8PEM(passphrase: nil) })
        }
        let crls = try CRLPublisher(store: store, vault: vault).currentCRLs(now: now)
        return HostMaterial(caName: try store.activeAuthority().name, host: host,
                            peers: try store.hosts().filter { $0.name != host.name },
                            trustPEM: try store.trustedAuthorities().map(\.certificatePEM).joined(), crlPEM: crls.map(\.pem).joined(),
                            server: try pair(.server), client: try pair(.client))
    }

    /// What the deployments table records about this material.
    public func deployment(via: Deployment.Via, at now: Date) throws -> Deployment {
        let trust = try CAError.translatingCrypto { try Certificate.all(inPEM: trustPEM) }
        return Deployment(hostName: host.name.value, at: now, via: via,
                          trustKeyIDs: trust.compactMap { $0.subjectKeyIdentifier?.hexString },
                          serverSerial: try CAError.translatingCrypto { try Certificate(pem: server.certificatePEM).serial.hex },
                          clientSerial: try CAError.translatingCrypto { try Certificate(pem: client.certificatePEM).serial.hex })
    }
}
