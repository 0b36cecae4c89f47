import FoundationEssentials

/// Everything one host needs, in memory: its record and peers, the trust bundle, the CRLs, and
/// its two certificates with their keys (plain PKCS#8 here; encrypted at rest and in bundles).
/// A host that makes its own keys (`--keys host`) gets certificates without keys, and before its
/// first request is signed no certificates at all: then the material only tells `ca request` what
/// to make and where.
public struct HostMaterial: Sendable {
    public struct Pair: Codable, Sendable {
        public var certificatePEM: String
        /// Nil when the key is the host's own: install pairs the certificate with the key on disk.
        public var keyPEM: String?

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
    public var server: Pair?
    public var client: Pair?

    /// Collects a host's material from the database; signs a fresh CRL if one is due, so call it
    /// inside a write transaction.
    public static func assemble(hostName: String, store: CAStore, vault: KeyVault, now: Date) throws -> HostMaterial {
        vault.attach(store)
        let host = try store.host(named: hostName)
        let active = try store.certificates(CertificateFilter(hostName: hostName, status: .active))
        // The record decides where root writes on the host: it must be the one that was issued. A
        // host that makes its own keys is approved when its record is first sent to it for a request.
        let seals = try vault.sealsOpened()
        if host.keyPolicy == .host && active.isEmpty { try seals?.approveHost(store, hostName) }
        try seals?.verifyHost(store, hostName)
        let authorities = try store.authorities()
        func pair(_ kind: CertificateKind) throws -> Pair? {
            guard let record = active.last(where: { $0.kind == kind }) else {
                if host.keyPolicy == .host { return nil }
                throw CAError.invalid("host '\(hostName)' has no active \(kind.rawValue) certificate", fix: "Run 'ca issue \(hostName)' first.")
            }
            // A host-keys host is never sent a private key, even one ca made before its policy changed.
            if host.keyPolicy == .host || record.keyPEM == nil { return Pair(certificatePEM: record.certificatePEM, keyPEM: nil) }
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
        guard let server, let client else {
            throw CAError.invalid("host '\(host.name)' has no certificates yet", fix: "Sign its request first: 'ca deploy \(host.name)', or 'ca request' there and 'ca sign \(host.name)'.")
        }
        let trust = try CAError.translatingCrypto { try Certificate.all(inPEM: trustPEM) }
        return Deployment(hostName: host.name.value, at: now, via: via,
                          trustKeyIDs: trust.compactMap { $0.subjectKeyIdentifier?.hexString },
                          serverSerial: try CAError.translatingCrypto { try Certificate(pem: server.certificatePEM).serial.hex },
                          clientSerial: try CAError.translatingCrypto { try Certificate(pem: client.certificatePEM).serial.hex },
                          materialDigest: try digest())
    }

    /// SHA-256 over everything the host is given that is not secret: its record and its peers', the
    /// trust bundle, the CRLs and both certificates (a key is bound by its certificate). Two equal
    /// digests mean a host that installed one has nothing to install for the other.
    public func digest() throws -> String {
        try Self.digest(host: host, peers: peers, trustPEM: trustPEM, crlPEM: crlPEM,
                        certificates: [server?.certificatePEM, client?.certificatePEM].compactMap { $0 })
    }

    /// Both pairs, or why the host cannot be installed yet.
    public func pairs() throws -> (server: Pair, client: Pair) {
        guard let server, let client else {
            let fix = host.keyPolicy == .host
                ? "Its keys are made on the host: run 'ca request' there and 'ca sign \(host.name)' on the CA (or 'ca deploy \(host.name)'), then install."
                : "Run 'ca issue \(host.name)' first."
            throw CAError.invalid("host '\(host.name)' has no \(server == nil ? "server" : "replication") certificate yet", fix: fix)
        }
        return (server, client)
    }

    /// What every host's digest shares: the hosts, the trust bundle and the latest CRLs, read once.
    public struct DigestContext: Sendable {
        let hosts: [PostgresHost]
        let trustPEM: String
        let crlPEM: String?
        /// subjectKeyIdentifiers (hex) of the trusted CA certificates, as deployments record them.
        public let trustKeyIDs: [String]

        public init(store: CAStore) throws {
            hosts = try store.hosts()
            let trusted = try store.trustedAuthorities()
            trustPEM = trusted.map(\.certificatePEM).joined()
            trustKeyIDs = try trusted.compactMap { try $0.certificate().subjectKeyIdentifier?.hexString }
            var crls: [String] = []
            for authority in trusted {
                guard let crl = try store.latestCRL(authorityID: authority.id) else { crlPEM = nil; return }
                crls.append(crl.pem)
            }
            crlPEM = crls.joined()
        }
    }

    /// The digest `assemble` would give now, from the database alone (no key opened, no CRL signed):
    /// for `status`, which runs without the passphrase. Nil when the host lacks a certificate or a CRL.
    public static func currentDigest(hostName: String, store: CAStore, context: DigestContext) throws -> String? {
        guard let host = context.hosts.first(where: { $0.name.value == hostName }), let crlPEM = context.crlPEM else { return nil }
        let active = try store.certificates(CertificateFilter(hostName: hostName, status: .active))
        guard let server = active.last(where: { $0.kind == .server }), let client = active.last(where: { $0.kind == .client }) else { return nil }
        return try digest(host: host, peers: context.hosts.filter { $0.name != host.name }, trustPEM: context.trustPEM,
                          crlPEM: crlPEM, certificates: [server.certificatePEM, client.certificatePEM])
    }

    static func digest(host: PostgresHost, peers: [PostgresHost], trustPEM: String, crlPEM: String, certificates: [String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var bytes: [UInt8] = Array("ca-host-material/1\n".utf8)
        for part in [Array(try encoder.encode(host)), Array(try encoder.encode(peers)), Array(trustPEM.utf8), Array(crlPEM.utf8)]
            + certificates.map({ Array($0.utf8) }) {
            // Length-prefixed, so no two different inputs concatenate to the same bytes.
            bytes += Array("\(part.count):".utf8) + part
        }
        return Digest.sha256(bytes).hexString.lowercased()
    }
}
