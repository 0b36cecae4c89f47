import FoundationEssentials

/// Revocation, renewal and CA renewal. Each operation is one transaction; the CRL is re-signed in
/// the same transaction as a revocation, so the database never holds a revocation its CRL lacks.
public struct Lifecycle {
    public let store: CAStore
    public let vault: KeyVault
    let now: () -> Date

    public init(store: CAStore, vault: KeyVault, now: @escaping () -> Date = Clock.now) {
        self.store = store
        self.vault = vault
        self.now = now
        vault.attach(store)
    }

    /// Certificates named by a serial (or unique prefix) or by a host (its active ones, optionally of one kind).
    public func resolve(_ what: String, kind: CertificateKind? = nil) throws -> [CertificateRecord] {
        if let name = try? HostName(what).value, (try? store.host(named: name)) != nil {
            let records = try store.certificates(CertificateFilter(hostName: name, kind: kind, status: .active))
            guard !records.isEmpty else { throw CAError.invalid("host '\(name)' has no active\(kind.map { " \($0.rawValue)" } ?? "") certificates") }
            return records
        }
        let matches = try store.certificates(serialPrefix: what)
        guard !matches.isEmpty else { throw CAError.unknownCertificate(what) }
        guard matches.count == 1 else { throw CAError.ambiguousSerial(what, matches: matches.count) }
        return matches
    }

    /// Revokes what `what` names (a serial or a host's active certificates), resolved inside the
    /// transaction: a certificate a concurrent renew just made is revoked too, never missed.
    public func revoke(matching what: String, kind: CertificateKind?, reason: RevocationReason) throws -> (revoked: [CertificateRecord], crls: [CertificateRevocationList]) {
        _ = try resolve(what, kind: kind)  // bad input is refused before the CA key is opened
        try vault.unlock(try store.trustedAuthorities())
        return try store.write { try revokeLocked(try resolve(what, kind: kind), reason: reason) }
    }

    /// Revokes and re-signs the CRLs. Returns what was revoked and the new CRLs.
    public func revoke(_ records: [CertificateRecord], reason: RevocationReason) throws -> (revoked: [CertificateRecord], crls: [CertificateRevocationList]) {
        // Decrypt the CA keys before the lock, as issuance does.
        try vault.unlock(try store.trustedAuthorities())
        return try store.write { try revokeLocked(records, reason: reason) }
    }

    private func revokeLocked(_ records: [CertificateRecord], reason: RevocationReason) throws -> (revoked: [CertificateRecord], crls: [CertificateRevocationList]) {
        let now = self.now()
        for record in records {
            if try store.status(of: record) == .revoked { throw CAError.invalid("certificate \(record.serial.hex) is already revoked") }
        }
        do {
            for record in records {
                try store.revoke(record, reason: reason, at: now)
                try store.record("revoke", subject: record.subject, serial: record.serial,
                                 detail: "\(reason.rawValue)\(record.hostName.map { ", host \($0)" } ?? "")", at: now)
            }
            let crls = try CRLPublisher(store: store, vault: vault).currentCRLs(now: now, force: true)
            return (records, crls)
        }
    }

    /// Re-issues active certificates that expire within `window` (or have expired), optionally one
    /// host's. The old ones become superseded, not revoked.
    /// The active certificates `renew` would re-issue now: expiring within `window`, or expired.
    public func dueForRenewal(within window: TimeInterval, hostName: String?, now: Date) throws -> [CertificateRecord] {
        var filter = CertificateFilter(hostName: hostName, status: .active, expiringBefore: now.addingTimeInterval(window), now: now)
        filter.includeExpired = true
        return try store.certificates(filter)
    }

    public func renew(within window: TimeInterval, hostName: String?, keepKey: Bool, days: Int?) throws -> IssueResult {
        let now = self.now()
        // A key ca never held is renewed with a new one only by its host: mark the host for its next
        // deploy (request, sign, install). --keep-key re-signs the key the host has, here and now.
        let all = try dueForRenewal(within: window, hostName: hostName, now: now)
        let waiting = keepKey ? [] : all.filter { $0.keyPEM == nil }
        let due = keepKey ? all : all.filter { $0.keyPEM != nil }
        if !waiting.isEmpty {
            let hosts = Set(waiting.compactMap(\.hostName))
            try store.write {
                for host in hosts.sorted() {
                    try store.requestRekey(hostName: host, at: now)
                    try store.record("renew requested", subject: host, detail: "new keys to be made on the host at its next deploy", at: now)
                }
            }
        }
        let oneOff = waiting.filter { $0.hostName == nil }.map {
            "certificate \($0.serial.hex.prefix(16))… was signed from a request: renew it with 'ca renew --keep-key' (same key) or sign a new request"
        }
        guard !due.isEmpty else { return IssueResult(certificates: [], superseded: [], warnings: oneOff, waitingForHost: waiting) }
        let issuer = Issuer(store: store, vault: vault, now: { now })
        let signer = try Signer(store: store, vault: vault, now: now, days: days)
        let successors = try issuer.successors(of: due, signer: signer, keepKey: keepKey)
        var renewed: [(CertificateRecord, CertificateRecord)] = []
        try store.write {
            renewed = []
            for (old, new) in zip(due, successors) {
                // A concurrent revoke or renew got there first: this one is no longer ours to replace.
                guard try store.status(of: old) == .active else { continue }
                renewed.append((old, new))
                try store.insertCertificate(new)
                try store.supersede(old)
                try store.record("renew", subject: new.subject, serial: new.serial, detail: "replaces \(old.serial.hex)\(keepKey ? ", same key" : "")", at: now)
            }
        }
        let skipped = due.count - renewed.count
        return IssueResult(certificates: renewed.map(\.1), superseded: renewed.map(\.0.serial),
                           warnings: signer.warnings + oneOff + (skipped > 0 ? ["\(skipped) certificate(s) changed meanwhile (revoked or renewed by another ca); left alone"] : []),
                           waitingForHost: waiting)
    }

    /// A new certificate for the signing CA on the same key. Before it commits, every active leaf
    /// is verified with OpenSSL against the new CA certificate alone.
    public func renewAuthority(days: Int) throws -> AuthorityRecord {
        let now = self.now()
        let authority = try store.activeAuthority()
        let key = try vault.key(of: authority)
        let old = try authority.certificate()
        let validity = try Validity.root(now: now, days: days)
        let renewed = try CAError.translatingCrypto {
            try Certificate.sign(CertificateTemplate(subject: old.subjectName, serial: try SerialNumber.random(), notBefore: validity.notBefore,
                                                     notAfter: validity.notAfter, isCA: true), subjectKey: key, issuer: nil)
        }
        guard renewed.subjectKeyIdentifier == old.subjectKeyIdentifier, renewed.subject == old.subject else {
            throw CAError.crypto("the renewed CA certificate's name or key id differs from the old one", details: [])
        }
        let leaves = try store.activeCertificates(authorityID: authority.id)
        for leaf in leaves {
            let certificate = try CAError.translatingCrypto { try Certificate(pem: leaf.certificatePEM) }
            if leaf.isExpired(at: now) { continue }
            if let why = ChainVerifier.failure(of: certificate, trusted: [renewed], purpose: leaf.kind == .server ? .server : .client, at: now) {
                throw CAError.crypto("refusing to renew the CA: certificate \(leaf.serial.hex) would not verify under the renewed CA (\(why))", details: [])
            }
        }
        let seals = try vault.sealsOpened()
        return try store.write {
            try store.replaceCertificate(of: authority, with: renewed, at: now)
            try seals?.resealAuthority(store, id: authority.id)
            try store.record("renew-ca", subject: renewed.subject, serial: renewed.serial,
                             detail: "same key, expires \(renewed.notAfter.iso8601); \(leaves.count) active leaves verified", at: now)
            return try store.activeAuthority()
        }
    }

    /// Sets how long CRLs stay valid (their nextUpdate) for the signing CA.
    public func setCRLDays(_ days: Int) throws {
        guard (1...3650).contains(days) else { throw CAError.invalid("invalid --days \(days) for CRLs: from 1 to 3650") }
        let authority = try store.activeAuthority()
        try store.write {
            try store.setCRLDays(days, authorityID: authority.id)
            if let rotation = try store.openRotation() { try store.setCRLDays(days, authorityID: rotation.newAuthorityID) }
        }
    }
}
