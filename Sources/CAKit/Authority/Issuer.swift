import Foundation

/// Runs issuance in a fixed order: validate → build → sign → store. Keys are generated and
/// certificates signed before the write transaction opens, so the database lock is held only
/// for the inserts.
public final class Issuer {
    public let store: CAStore
    public let vault: KeyVault
    let now: () -> Date

    public init(store: CAStore, vault: KeyVault, now: @escaping () -> Date = Clock.now) {
        self.store = store
        self.vault = vault
        self.now = now
        vault.attach(store)
    }

    /// Creates the root CA in an empty database.
    public static func createRoot(store: CAStore, name: String, commonName: String? = nil, keyType: KeyType, days: Int,
                                  passphrase: String?, now: Date) throws -> AuthorityRecord {
        let name = try CAName.validate(name)
        let validity = try Validity.root(now: now, days: days)
        if let existing = try? store.activeAuthority() {
            throw CAError.alreadyInitialized(path: store.path, name: existing.name)
        }
        let (certificate, keyPEM, key) = try makeRoot(commonName: try commonName.map(CAName.commonName) ?? name, keyType: keyType, validity: validity, passphrase: passphrase)
        return try store.write {
            if let existing = try? store.activeAuthority() {  // a concurrent init won the race
                throw CAError.alreadyInitialized(path: store.path, name: existing.name)
            }
            let id = try store.insertAuthority(name: name, certificate: certificate, keyType: keyType, keyPEM: keyPEM,
                                               keyEncrypted: passphrase != nil, status: .active, at: now)
            _ = try Seals.adopt(store, keys: [(id, key)])
            try store.record("init", subject: certificate.subject, serial: certificate.serial,
                             detail: "\(keyType.rawValue), expires \(certificate.notAfter.iso8601)\(passphrase == nil ? ", key NOT encrypted (--no-passphrase)" : "")",
                             at: now)
            return try store.activeAuthority().with(id: id)
        }
    }

    /// A self-signed root and its key as stored (encrypted under `passphrase` unless nil).
    static func makeRoot(commonName: String, keyType: KeyType, validity: Validity, passphrase: String?) throws -> (Certificate, String, PrivateKey) {
        try CAError.translatingCrypto { () -> (Certificate, String, PrivateKey) in
            let key = try PrivateKey(generating: keyType)
            let template = Profile.root(name: commonName).template(serial: try SerialNumber.random(), validity: validity)
            let pem = try key.pkcs8PEM(passphrase: passphrase)
            // Read it back at once: a key that cannot be decrypted with this passphrase must never be stored.
            guard try PrivateKey(pem: pem, passphrase: passphrase).publicKeyFingerprint == key.publicKeyFingerprint else {
                throw CryptoError.openssl(operation: "read back the new CA key", details: [])
            }
            return (try Certificate.sign(template, subjectKey: key, issuer: nil), pem, key)
        }
    }

    /// The host's server certificate and replication client certificate. Earlier active
    /// certificates of the host are marked superseded.
    public func issue(host name: String, keyType: KeyType? = nil, days: Int? = nil) throws -> IssueResult {
        let hostName = try HostName(name)
        let host = try store.host(named: hostName.value)
        guard host.keyPolicy == .ca else { throw KeyPolicy.keysMadeOnHost(host.name.value) }
        return try issue([Profile.server(host: host), Profile.replicationClient(host: host)].map { ($0, nil) }, hostName: host.name.value,
                         keyType: keyType, days: days)
    }

    /// Signs a host's own requests (`ca request` there): the certificates say what the host record
    /// says, on the keys the requests carry; ca stores no key. Either request may be absent (a
    /// single `--csr` for one kind); the other certificate is left as it is.
    public func sign(host name: String, server: CertificateRequest?, replication: CertificateRequest?, days: Int? = nil) throws -> IssueResult {
        let host = try store.host(named: try HostName(name).value)
        guard host.keyPolicy == .host else { throw KeyPolicy.keysMadeByCA(host.name.value) }
        var items: [(Profile, PrivateKeyChoice?)] = []
        if let server {
            let profile = Profile.server(host: host)
            items.append((profile, .publicOnly(try RequestPolicy.check(server, against: profile, what: "the server request for '\(host.name)'"))))
        }
        if let replication {
            let profile = Profile.replicationClient(host: host)
            items.append((profile, .publicOnly(try RequestPolicy.check(replication, against: profile, what: "the replication request for '\(host.name)'"))))
        }
        return try issue(items, hostName: host.name.value, keyType: nil, days: days, action: "sign")
    }

    /// Signs a one-off request outside the host model, with the names given here (never the request's).
    public func signOneOff(_ request: CertificateRequest, profile: Profile, days: Int? = nil) throws -> IssueResult {
        let key = try RequestPolicy.check(request, against: profile, what: "the \(profile.kind?.rawValue ?? "") request")
        return try issue([(profile, .publicOnly(key))], hostName: nil, keyType: nil, days: days, action: "sign")
    }

    /// A one-off server certificate outside the host model.
    public func issueServer(commonName: String, dnsNames: [String], ipAddresses: [String], keyType: KeyType? = nil,
                            days: Int? = nil) throws -> IssueResult {
        let profile = try Self.serverProfile(commonName: commonName, dnsNames: dnsNames, ipAddresses: ipAddresses)
        return try issue([(profile, nil)], hostName: nil, keyType: keyType, days: days)
    }

    /// A one-off server profile: CN and first DNS name `commonName`, then the other names, validated.
    public static func serverProfile(commonName: String, dnsNames: [String], ipAddresses: [String]) throws -> Profile {
        let cn = try HostName(commonName, what: "server name")
        var names: [GeneralName] = [.dnsName(cn.value)]
        for dns in try dnsNames.map({ try HostName($0, what: "DNS name") }) where !names.contains(.dnsName(dns.value)) {
            names.append(.dnsName(dns.value))
        }
        for ip in try ipAddresses.map({ try IPAddress($0) }) where !names.contains(.ipAddress(ip.bytes)) {
            names.append(.ipAddress(ip.bytes))
        }
        return Profile.server(commonName: cn.value, names: names)
    }

    /// A one-off client certificate for a database role.
    public func issueClient(role: String, keyType: KeyType? = nil, days: Int? = nil) throws -> IssueResult {
        let role = try Identifier.role(role)
        return try issue([(Profile.client(role: role, host: nil), nil)], hostName: nil, keyType: keyType, days: days)
    }

    private func issue(_ items: [(Profile, PrivateKeyChoice?)], hostName: String?, keyType: KeyType?, days: Int?,
                       action: String = "issue") throws -> IssueResult {
        let now = self.now()
        let signer = try Signer(store: store, vault: vault, now: now, days: days)
        let records = try items.map { profile, key in
            try signer.mint(profile, key: key ?? .generate(keyType ?? signer.authority.keyType), hostName: hostName, replaces: nil)
        }
        let seals = try vault.sealsOpened()
        let superseded = try store.write { () -> [SerialNumber] in
            // Issuing approves the host record: its first issue seals it, later ones check the seal.
            if let hostName, let seals { try seals.approveHost(store, hostName) }
            if let hostName, action == "sign" { try store.clearRekey(hostName: hostName) }
            var superseded: [SerialNumber] = []
            for record in records {
                try store.insertCertificate(record)
                if let hostName {
                    superseded += try store.supersede(hostName: hostName, kind: record.kind, keeping: record.serial)
                }
                try store.record("\(action) \(record.kind.rawValue)", subject: record.subject, serial: record.serial,
                                 detail: [hostName.map { "host \($0)" }, record.keyPEM == nil ? "key made by the requester, not stored" : nil]
                                    .compactMap { $0 }.joined(separator: ", "), at: now)
            }
            if let hostName, action == "sign" { try store.forgetInactiveKeys(hostName: hostName) }
            return superseded
        }
        return IssueResult(certificates: records, superseded: superseded, warnings: signer.warnings)
    }

    /// The successor of `record` under `signer`: same subject, names, usage and key type; a new key
    /// unless `keepKey`. Nothing is stored.
    func successor(of record: CertificateRecord, signer: Signer, keepKey: Bool) throws -> CertificateRecord {
        let old = try CAError.translatingCrypto { try Certificate(pem: record.certificatePEM) }
        let profile = Profile(subject: old.subjectName, isCA: false, extendedKeyUsage: old.extendedKeyUsage,
                              subjectAlternativeNames: old.subjectAlternativeNames, kind: record.kind)
        var key = PrivateKeyChoice.generate(record.keyType)
        if record.keyPEM == nil {
            // A key ca never held (the host's own): the successor certifies the same public key.
            guard let publicKey = old.publicKey else { throw CAError.invalid("certificate \(record.serial.hex) has no readable public key") }
            key = .publicOnly(publicKey)
        } else if keepKey {
            guard let authority = try store.authorities().first(where: { $0.id == record.authorityID }),
                  let existing = try vault.open(record, issuer: authority) else {
                throw CAError.invalid("certificate \(record.serial.hex) has no stored key to keep", fix: "Renew without --keep-key.")
            }
            key = .reuse(existing)
        }
        return try signer.mint(profile, key: key, hostName: record.hostName, replaces: record.serial)
    }
}

/// Whether a new leaf gets a fresh key or keeps one.
enum PrivateKeyChoice {
    case generate(KeyType)
    case reuse(PrivateKey)
    /// A public key whose private half ca never sees (a host's own); nothing is stored for it.
    case publicOnly(PublicKey)
}

/// Signs leaves under the signing authority with one validity rule; decrypts the CA key once.
struct Signer {
    let authority: AuthorityRecord
    let certificate: Certificate
    let key: PrivateKey
    let validity: Validity
    let vault: KeyVault
    let now: Date

    init(store: CAStore, vault: KeyVault, now: Date, days: Int?, authority: AuthorityRecord? = nil) throws {
        let authority = try authority ?? store.activeAuthority()
        self.authority = authority
        certificate = try authority.certificate()
        validity = try Validity.leaf(now: now, days: days, issuer: certificate)
        key = try vault.key(of: authority)
        self.vault = vault
        self.now = now
    }

    var warnings: [String] {
        validity.cappedToIssuer ? ["validity capped to the CA's expiry (\(validity.notAfter.iso8601)): renew or rotate the CA soon"] : []
    }

    func mint(_ profile: Profile, key choice: PrivateKeyChoice, hostName: String?, replaces: SerialNumber?) throws -> CertificateRecord {
        let (certificate, leafKey, keyType) = try CAError.translatingCrypto { () -> (Certificate, PrivateKey?, KeyType) in
            let template = profile.template(serial: try SerialNumber.random(), validity: validity)
            let leafKey: PrivateKey
            switch choice {
            case .generate(let type): leafKey = try PrivateKey(generating: type)
            case .reuse(let existing): leafKey = existing
            case .publicOnly(let publicKey):
                guard let type = publicKey.type else { throw CryptoError.unsupportedKey(publicKey.algorithm) }
                return (try Certificate.sign(template, subjectPublicKey: publicKey, issuer: (self.certificate, key)), nil, type)
            }
            return (try Certificate.sign(template, subjectKey: leafKey, issuer: (self.certificate, key)), leafKey, leafKey.type)
        }
        var record = CertificateRecord(
            serial: certificate.serial, authorityID: authority.id, hostName: hostName, kind: profile.kind ?? .server,
            subject: certificate.subject, names: certificate.subjectAlternativeNames.map(\.description),
            keyType: keyType, notBefore: certificate.notBefore, notAfter: certificate.notAfter, status: .active,
            fingerprint: certificate.fingerprint, certificatePEM: certificate.pem,
            keyPEM: try leafKey.map { try vault.seal($0, issuer: authority) }, createdAt: now)
        record.replaces = replaces
        return record
    }
}

extension AuthorityRecord {
    func with(id: Int64) -> AuthorityRecord { var copy = self; copy.id = id; return copy }
}
