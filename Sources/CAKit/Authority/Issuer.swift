import Dispatch
import FoundationEssentials
import Synchronization

/// Runs issuance in a fixed order: validate → build → sign → store. Keys are generated and
/// certificates signed before the write transaction opens, so the database lock is held only
/// for the inserts.
public final class Issuer {
    public let store: CAStore
    public let vault: KeyVault
    let now: () -> Date
    /// Threads that mint a large batch (issue of many hosts, renew, rotate reissue); 1 mints on the
    /// calling thread only.
    public var threads = Issuer.defaultThreads
    /// One per core, at most 8.
    public static let defaultThreads = Signer.defaultThreads

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
        try issue(hosts: [name], keyType: keyType, days: days)
    }

    /// Many hosts' pairs in one process: the CA key is opened (and its KDF paid) once, the leaves are
    /// minted on every core, and each batch of hosts is stored in one transaction (a host's pair and
    /// the superseding of its earlier certificates always commit together). Every name is checked
    /// before anything is minted: an unknown host or one whose keys are made there changes nothing.
    public func issue(hosts names: [String], keyType: KeyType? = nil, days: Int? = nil,
                      progress: (Rotation.Progress) -> Void = { _ in }) throws -> IssueResult {
        // Many names: read every host once rather than one lookup each.
        let registered = names.count > 8 ? Dictionary(try store.hosts().map { ($0.name.value, $0) }, uniquingKeysWith: { a, _ in a }) : nil
        let hosts = try names.map { name in
            let name = try HostName(name).value
            guard let host = try registered.map({ $0[name] }) ?? store.host(named: name) else { throw CAError.unknownHost(name) }
            return host
        }
        return try issue(registered: hosts, keyType: keyType, days: days, progress: progress)
    }

    /// The same for host records already read from this store (`ca issue --all` reads them all once
    /// to choose): each host's pair, in the order given, a host given twice once. A host whose keys
    /// are made on it is refused before anything is minted.
    public func issue(registered hosts: [PostgresHost], keyType: KeyType? = nil, days: Int? = nil,
                      progress: (Rotation.Progress) -> Void = { _ in }) throws -> IssueResult {
        for host in hosts where host.keyPolicy != .ca { throw KeyPolicy.keysMadeOnHost(host.name.value) }
        var seen = Set<String>()
        let groups = hosts.filter { seen.insert($0.name.value).inserted }.map { host in
            (host.name.value as String?, [Profile.server(host: host), Profile.replicationClient(host: host)].map { ($0, PrivateKeyChoice?.none) })
        }
        return try issue(groups, keyType: keyType, days: days, progress: progress)
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
        return try issue([(host.name.value, items)], keyType: nil, days: days, action: "sign")
    }

    /// Signs a one-off request outside the host model, with the names given here (never the request's).
    public func signOneOff(_ request: CertificateRequest, profile: Profile, days: Int? = nil) throws -> IssueResult {
        let key = try RequestPolicy.check(request, against: profile, what: "the \(profile.kind?.rawValue ?? "") request")
        return try issue([(nil, [(profile, .publicOnly(key))])], keyType: nil, days: days, action: "sign")
    }

    /// A one-off server certificate outside the host model.
    public func issueServer(commonName: String, dnsNames: [String], ipAddresses: [String], keyType: KeyType? = nil,
                            days: Int? = nil) throws -> IssueResult {
        let profile = try Self.serverProfile(commonName: commonName, dnsNames: dnsNames, ipAddresses: ipAddresses)
        return try issue([(nil, [(profile, nil)])], keyType: keyType, days: days)
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
        return try issue([(nil, [(Profile.client(role: role, host: nil), nil)])], keyType: keyType, days: days)
    }

    /// Hosts (or one-offs, host nil) per batch transaction when many are issued at once.
    public static let batchSize = 256

    /// Mints each group's leaves (on every core when there are many), then stores them a batch of
    /// groups per transaction: a group's certificates, its host's seal and the superseding of its
    /// earlier ones commit together.
    private func issue(_ groups: [(hostName: String?, items: [(Profile, PrivateKeyChoice?)])], keyType: KeyType?, days: Int?,
                       action: String = "issue", progress: (Rotation.Progress) -> Void = { _ in }) throws -> IssueResult {
        let now = self.now()
        let signer = try Signer(store: store, vault: vault, now: now, days: days)
        let seals = try vault.sealsOpened()
        var result = IssueResult(certificates: [], superseded: [], warnings: signer.warnings)
        var done = 0
        if groups.count > 1 { progress(Rotation.Progress(done: 0, total: groups.count)) }
        let threads = self.threads
        let batches = stride(from: 0, to: groups.count, by: Self.batchSize).map { groups[$0..<min(groups.count, $0 + Self.batchSize)] }
        @Sendable func mint(_ batch: ArraySlice<(hostName: String?, items: [(Profile, PrivateKeyChoice?)])>) throws -> [CertificateRecord] {
            try signer.mintAll(batch.flatMap { group in
                group.items.map { profile, key in
                    MintJob(profile: profile, key: key ?? .generate(keyType ?? signer.authority.keyType), hostName: group.hostName, replaces: nil)
                }
            }, threads: threads)
        }
        // With more than one minting thread, the next batch is minted while this one is stored: the
        // store is one writer, and waiting for it would leave the cores idle for a third of the time.
        var ahead: Ahead<[CertificateRecord]>? = nil
        defer { _ = try? ahead?.value() }  // a batch still minting when a store fails is waited for, then dropped
        for (index, batch) in batches.enumerated() {
            let minted = ahead
            ahead = nil
            let records = try minted.map { try $0.value() } ?? mint(batch)
            if threads > 1, index + 1 < batches.count {
                let next = batches[index + 1]
                ahead = Ahead { try mint(next) }
            }
            try store.write {
                var next = records.makeIterator()
                for group in batch {
                    let hostName = group.hostName
                    // Issuing approves the host record: its first issue seals it, later ones check the seal.
                    if let hostName, let seals { try seals.approveHost(store, hostName) }
                    if let hostName, action == "sign" { try store.clearRekey(hostName: hostName) }
                    for _ in group.items {
                        guard let record = next.next() else { break }
                        try store.insertCertificate(record)
                        if let hostName {
                            result.superseded += try store.supersede(hostName: hostName, kind: record.kind, keeping: record.serial)
                        }
                        try store.record("\(action) \(record.kind.rawValue)", subject: record.subject, serial: record.serial,
                                         detail: [hostName.map { "host \($0)" }, record.keyPEM == nil ? "key made by the requester, not stored" : nil]
                                            .compactMap { $0 }.joined(separator: ", "), at: now)
                    }
                    if let hostName, action == "sign" { try store.forgetInactiveKeys(hostName: hostName) }
                }
            }
            result.certificates += records
            done += batch.count
            if groups.count > 1 { progress(Rotation.Progress(done: done, total: groups.count)) }
        }
        return result
    }

    /// The successors of `records` under `signer` (minted on `threads` threads): same subject, names,
    /// usage and key type; a new key unless `keepKey`. Nothing is stored.
    func successors(of records: [CertificateRecord], signer: Signer, keepKey: Bool) throws -> [CertificateRecord] {
        // Keys to keep are opened here, on the calling thread: the vault is not shared across threads.
        var kept: [PrivateKey?] = Array(repeating: nil, count: records.count)
        if keepKey {
            for (index, record) in records.enumerated() where record.keyPEM != nil {
                guard let authority = try store.authorities().first(where: { $0.id == record.authorityID }),
                      let existing = try vault.open(record, issuer: authority) else {
                    throw CAError.invalid("certificate \(record.serial.hex) has no stored key to keep", fix: "Renew without --keep-key.")
                }
                kept[index] = existing
            }
        }
        let keys = kept
        return try signer.mintAll(records.count, threads: threads) { index in
            try Self.successorJob(of: records[index], keeping: keys[index])
        }
    }

    /// What the successor of `record` is: its old certificate's subject, names and usage; the same
    /// public key for a key ca never held (the host's own), `kept` if given, else a new key.
    static func successorJob(of record: CertificateRecord, keeping kept: PrivateKey?) throws -> MintJob {
        let old = try CAError.translatingCrypto { try Certificate(pem: record.certificatePEM) }
        let profile = Profile(subject: old.subjectName, isCA: false, extendedKeyUsage: old.extendedKeyUsage,
                              subjectAlternativeNames: old.subjectAlternativeNames, kind: record.kind)
        var key = PrivateKeyChoice.generate(record.keyType)
        if record.keyPEM == nil {
            guard let publicKey = old.publicKey else { throw CAError.invalid("certificate \(record.serial.hex) has no readable public key") }
            key = .publicOnly(publicKey)
        } else if let kept {
            key = .reuse(kept)
        }
        return MintJob(profile: profile, key: key, hostName: record.hostName, replaces: record.serial)
    }
}

/// Whether a new leaf gets a fresh key or keeps one.
enum PrivateKeyChoice: Sendable {
    case generate(KeyType)
    case reuse(PrivateKey)
    /// A public key whose private half ca never sees (a host's own); nothing is stored for it.
    case publicOnly(PublicKey)
}

/// One leaf for `Signer.mint`.
struct MintJob: Sendable {
    let profile: Profile
    let key: PrivateKeyChoice
    let hostName: String?
    let replaces: SerialNumber?
}

/// Signs leaves under the signing authority with one validity rule; decrypts the CA key once. A
/// Signer holds no mutable state, so one can mint on several threads at once: OpenSSL signs
/// concurrently with one shared key, and each mint makes its own certificate and leaf key.
struct Signer: Sendable {
    let authority: AuthorityRecord
    let certificate: Certificate
    let key: PrivateKey
    let validity: Validity
    let now: Date
    /// What seals leaf keys under this authority (`KeyVault.seal`), resolved once here.
    private let sealSecret: String

    /// Threads for a large batch: one per core, at most 8.
    static let defaultThreads = max(1, min(8, ProcessInfo.processInfo.activeProcessorCount))
    /// Below this many leaves a batch is minted on the calling thread alone.
    static let parallelThreshold = 16

    init(store: CAStore, vault: KeyVault, now: Date, days: Int?, authority: AuthorityRecord? = nil) throws {
        let authority = try authority ?? store.activeAuthority()
        self.authority = authority
        certificate = try authority.certificate()
        validity = try Validity.leaf(now: now, days: days, issuer: certificate)
        key = try vault.key(of: authority)
        sealSecret = try vault.wrappingSecret(authority)
        self.now = now
    }

    var warnings: [String] {
        validity.cappedToIssuer ? ["validity capped to the CA's expiry (\(validity.notAfter.iso8601)): renew or rotate the CA soon"] : []
    }

    func mint(_ job: MintJob, keys: KeyGenerators = KeyGenerators()) throws -> CertificateRecord {
        try mint(job.profile, key: job.key, hostName: job.hostName, replaces: job.replaces, keys: keys)
    }

    /// The key generators of one thread, one a key type, kept for its batch.
    final class KeyGenerators {
        private var byType: [KeyType: KeyGenerator] = [:]
        func key(_ type: KeyType) throws -> PrivateKey {
            if let generator = byType[type] { return try generator.generate() }
            let generator = try KeyGenerator(type)
            byType[type] = generator
            return try generator.generate()
        }
    }

    func mintAll(_ jobs: [MintJob], threads: Int) throws -> [CertificateRecord] {
        try mintAll(jobs.count, threads: threads) { jobs[$0] }
    }

    /// Mints `count` leaves, the job of each made by `job(index)` on the thread that mints it, on up
    /// to `threads` threads; results in index order, the first error (by index) thrown.
    func mintAll(_ count: Int, threads: Int, _ job: @escaping @Sendable (Int) throws -> MintJob) throws -> [CertificateRecord] {
        let workers = count < Self.parallelThreshold ? 1 : max(1, min(threads, count))
        if workers == 1 {
            let keys = KeyGenerators()
            return try (0..<count).map { try mint(job($0), keys: keys) }
        }
        let results = Results<CertificateRecord>(count: count)
        // Each worker takes the next leaf when it is free, not every n-th: a worker that loses its
        // core for a while (the store of the previous batch runs beside them) would otherwise leave
        // the others idle at the end with its share still to do.
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            let keys = KeyGenerators()
            while !results.failed {
                let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < count else { return }
                results.set(index, Result { try mint(job(index), keys: keys) })
            }
        }
        return try results.values()
    }

    func mint(_ profile: Profile, key choice: PrivateKeyChoice, hostName: String?, replaces: SerialNumber?,
              keys: KeyGenerators = KeyGenerators()) throws -> CertificateRecord {
        let (certificate, leafKey, keyType) = try CAError.translatingCrypto { () -> (Certificate, PrivateKey?, KeyType) in
            let template = profile.template(serial: try SerialNumber.random(), validity: validity)
            let leafKey: PrivateKey
            switch choice {
            case .generate(let type): leafKey = try keys.key(type)
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
            keyPEM: try leafKey.map { try KeyVault.seal($0, secret: sealSecret) }, createdAt: now)
        record.replaces = replaces
        return record
    }

    /// Results filled in by worker threads, each slot by one thread.
    private final class Results<Value>: @unchecked Sendable {
        private let lock = Mutex(())
        private var slots: [Result<Value, Error>?]
        private var anyFailed = false
        init(count: Int) { slots = Array(repeating: nil, count: count) }
        var failed: Bool { lock.withLock { _ in anyFailed } }
        func set(_ index: Int, _ result: Result<Value, Error>) {
            lock.withLock { _ in
                slots[index] = result
                if case .failure = result { anyFailed = true }
            }
        }
        func values() throws -> [Value] {
            var slots: [Result<Value, Error>?] = []
            lock.withLock { _ in slots = self.slots }
            var out: [Value] = []
            out.reserveCapacity(slots.count)
            for slot in slots {
                switch slot {
                case .success(let value): out.append(value)
                case .failure(let error): throw error
                case nil: throw CAError.invalid("a batch stopped at an earlier failure")  // unreachable: a failure comes first
                }
            }
            return out
        }
    }
}

extension AuthorityRecord {
    func with(id: Int64) -> AuthorityRecord { var copy = self; copy.id = id; return copy }
}
