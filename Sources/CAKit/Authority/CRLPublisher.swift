import FoundationEssentials

/// Keeps each trusted CA's CRL current. A stored CRL is reused while it has more than a third of
/// its period left and no revocation came after it; otherwise a new one is signed with the next
/// crlNumber. An expired CRL makes PostgreSQL refuse every certificate, so this runs on every
/// export and install.
public struct CRLPublisher {
    public let store: CAStore
    public let vault: KeyVault

    public init(store: CAStore, vault: KeyVault) {
        self.store = store
        self.vault = vault
        vault.attach(store)
    }

    /// The concatenated CRLs of every trusted CA (what `root.crl` holds), signing any that are due.
    /// Call inside the caller's write transaction.
    public func currentCRLs(now: Date, force: Bool = false) throws -> [CertificateRevocationList] {
        try store.trustedAuthorities().map { try current(for: $0, now: now, force: force) }
    }

    /// The trusted CAs whose CRL would be signed anew now (none stored, a third of its period or less
    /// left, or a revocation it lacks), without signing anything.
    public func due(now: Date) throws -> [AuthorityRecord] {
        try store.trustedAuthorities().filter { try stillCurrent($0, now: now) == nil }
    }

    /// The stored CRL while it has more than a third of its period left and lists exactly the
    /// revocations stored (not "signed after the last revocation": thisUpdate is backdated, which made
    /// every install re-sign for five minutes after a revocation).
    func stillCurrent(_ authority: AuthorityRecord, now: Date) throws -> CertificateRevocationList? {
        let period = TimeInterval(try store.crlDays(authorityID: authority.id)) * 86_400
        guard let stored = try store.latestCRL(authorityID: authority.id), stored.nextUpdate.timeIntervalSince(now) > period / 3,
              let crl = try? CertificateRevocationList(pem: stored.pem),
              Set(crl.revokedSerials) == Set(try store.revocations(authorityID: authority.id).map(\.serial)) else { return nil }
        return crl
    }

    func current(for authority: AuthorityRecord, now: Date, force: Bool) throws -> CertificateRevocationList {
        let days = try store.crlDays(authorityID: authority.id)
        let period = TimeInterval(days) * 86_400
        let latest = try store.latestCRL(authorityID: authority.id)
        if !force, let crl = try stillCurrent(authority, now: now) { return crl }
        let (number, overflow) = (latest?.number ?? 0).addingReportingOverflow(1)
        guard !overflow, number > 0 else {
            throw CAError.notADatabase(path: store.path, reason: "the last CRL number of '\(authority.name)' is out of range (\(latest?.number ?? 0))")
        }
        let key = try vault.key(of: authority)
        let certificate = try authority.certificate()
        let thisUpdate = now.addingTimeInterval(-Validity.backdate)
        let nextUpdate = min(now.addingTimeInterval(period), certificate.notAfter)
        let crl = try CAError.translatingCrypto {
            try CertificateRevocationList.sign(issuer: certificate, key: key, number: number, thisUpdate: thisUpdate,
                                               nextUpdate: nextUpdate, revoked: try store.revocations(authorityID: authority.id))
        }
        try store.insertCRL(CAStore.StoredCRL(authorityID: authority.id, number: number, thisUpdate: thisUpdate,
                                              nextUpdate: nextUpdate, pem: crl.pem))
        try store.record("crl", subject: certificate.subject, detail: "crlNumber \(number), next update \(nextUpdate.iso8601)", at: now)
        return crl
    }
}
