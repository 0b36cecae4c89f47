import Foundation

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
    }

    /// The concatenated CRLs of every trusted CA (what `root.crl` holds), signing any that are due.
    /// Call inside the caller's write transaction.
    public func currentCRLs(now: Date, force: Bool = false) throws -> [CertificateRevocationList] {
        try store.trustedAuthorities().map { try current(for: $0, now: now, force: force) }
    }

    func current(for authority: AuthorityRecord, now: Date, force: Bool) throws -> CertificateRevocationList {
        let days = try store.crlDays(authorityID: authority.id)
        let period = TimeInterval(days) * 86_400
        if !force, let stored = try store.latestCRL(authorityID: authority.id),
           stored.nextUpdate.timeIntervalSince(now) > period / 3,
           (try store.lastRevocation(authorityID: authority.id)).map({ $0 < stored.thisUpdate }) ?? true {
            return try CAError.translatingCrypto { try CertificateRevocationList(pem: stored.pem) }
        }
        let number = (try store.latestCRL(authorityID: authority.id)?.number ?? 0) + 1
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
