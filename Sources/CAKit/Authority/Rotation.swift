import FoundationEssentials
import Glibc

/// Staged CA rotation (DESIGN.md §5). Authority statuses carry the stage: `next` is trusted but does
/// not sign. start: new root `next`, bundle old + new. reissue: the roots swap (new signs, old stays
/// trusted) and every active leaf of the old root is re-issued, in small transactions, resumable.
/// finish: the old root is retired once nothing depends on it. abort: back to the old root alone.
public struct Rotation {
    public let store: CAStore
    public let vault: KeyVault
    let now: () -> Date

    /// Leaves re-issued per transaction: small enough that a crash loses little, large enough to be fast.
    public static let batchSize = 2_000

    public init(store: CAStore, vault: KeyVault, now: @escaping () -> Date = Clock.now) {
        self.store = store
        self.vault = vault
        self.now = now
        vault.attach(store)
    }

    public struct Progress: Sendable {
        public let done: Int
        public let total: Int
    }

    /// Per host: what it has installed and what it must install next.
    public struct HostState: Sendable {
        public let host: String
        public let next: String?
        /// False for a host ca never installed: nothing there depends on a root ca shipped.
        public var blocking: Bool = true
    }

    public struct Status: Sendable {
        public let rotation: RotationRecord?
        public let old: AuthorityRecord?
        public let new: AuthorityRecord?
        public let leavesOnOld: Int
        public let leavesOnNew: Int
        public let hosts: [HostState]
    }

    // MARK: Stages

    public func start(keyType: KeyType?, days: Int?, passphrase: String?) throws -> AuthorityRecord {
        let now = self.now()
        if let open = try store.openRotation() { throw CAError.invalid("a rotation is already \(open.stage.rawValue)", fix: "See 'ca rotate status'; finish or abort it first.") }
        let old = try store.activeAuthority()
        let oldCertificate = try old.certificate()
        let generation = try store.authorities().count + 1
        // The new root's CN: the old one's, generation number replaced ('Acme CA' → 'Acme CA G2').
        let base = oldCertificate.subjectName.commonName.replacing(#/ G[0-9]+$/#, with: "")
        let name = "\(base.isEmpty ? old.name : base) G\(generation)"
        let validity = try Validity.root(now: now, days: days ?? Validity.defaultRootDays)
        if old.keyEncrypted && passphrase == nil { throw CAError.passphraseRequired }
        _ = try vault.key(of: old)  // proves the passphrase before a new key is made under it
        let (certificate, keyPEM, newKey) = try Issuer.makeRoot(commonName: name, keyType: keyType ?? old.keyType, validity: validity, passphrase: passphrase)
        let seals = try vault.sealsOpened()
        return try store.write {
            let id = try store.insertAuthority(name: old.name, certificate: certificate, keyType: keyType ?? old.keyType, keyPEM: keyPEM,
                                               keyEncrypted: passphrase != nil, status: .next, at: now)
            if let seals {
                try store.insertSealKey(try Seals.wrapped(seals.secret, under: newKey, authorityID: id))
                try seals.resealAuthority(store, id: id)
            }
            try store.setCRLDays(try store.crlDays(authorityID: old.id), authorityID: id)
            try store.insertRotation(old: old.id, new: id, at: now)
            try seals?.resealRotations(store)
            try store.record("rotate start", subject: certificate.subject, serial: certificate.serial,
                             detail: "next root beside \(oldCertificate.subject); install the trust bundle (old + new) everywhere", at: now)
            return try store.authority(id: id)
        }
    }

    /// Re-issues every active leaf of the old root under the new one. Resumes after a crash.
    /// `crashAfter` (tests only) kills the process with SIGKILL after that many leaves were signed.
    public func reissue(progress: (Progress) -> Void = { _ in }, crashAfter: Int? = nil) throws -> Int {
        guard let rotation = try store.openRotation() else { throw CAError.invalid("no rotation is in progress", fix: "Start one with 'ca rotate start'.") }
        let now = self.now()
        if rotation.stage == .started {
            try store.write {
                // Swap: the new root signs from now on; the old one stays trusted.
                try store.setAuthorityStatus(rotation.oldAuthorityID, .next)
                try store.setAuthorityStatus(rotation.newAuthorityID, .active)
                try store.setStage(rotation, .reissuing, at: now)
                try store.record("rotate reissue", subject: "authority \(rotation.newAuthorityID)", detail: "the new root signs now", at: now)
            }
        }
        return try move(from: rotation.oldAuthorityID, to: rotation.newAuthorityID, rotation: rotation, finalStage: .reissued,
                        progress: progress, crashAfter: crashAfter)
    }

    public func finish() throws {
        guard let rotation = try store.openRotation() else { throw CAError.invalid("no rotation is in progress") }
        let now = self.now()
        let remaining = try store.activeCount(authorityID: rotation.oldAuthorityID)
        guard remaining == 0 else {
            throw CAError.invalid("refusing to finish: \(remaining) active certificates still chain to the old root", fix: "Run 'ca rotate reissue'.")
        }
        guard rotation.stage != .started else {
            throw CAError.invalid("refusing to finish: the rotation is only started", fix: "Install the trust bundle everywhere, then run 'ca rotate reissue'.")
        }
        let lagging = try hostStates(rotation).filter { $0.next != nil && $0.blocking }
        guard lagging.isEmpty else {
            throw CAError.invalid("refusing to finish: \(lagging.map { "\($0.host) (\($0.next!))" }.joined(separator: "; "))",
                                  fix: "Install on those hosts first; dropping the old root now would cut them off.")
        }
        try store.write {
            try store.setAuthorityStatus(rotation.oldAuthorityID, .retired)
            try store.setStage(rotation, .finished, at: now)
            try store.record("rotate finish", subject: "authority \(rotation.oldAuthorityID)", detail: "old root retired; install the new bundle everywhere", at: now)
        }
    }

    public func abort(progress: (Progress) -> Void = { _ in }) throws {
        guard let rotation = try store.openRotation() else { throw CAError.invalid("no rotation is in progress") }
        let now = self.now()
        if rotation.stage != .started {
            try store.write {
                try store.setAuthorityStatus(rotation.newAuthorityID, .next)
                try store.setAuthorityStatus(rotation.oldAuthorityID, .active)
            }
            _ = try move(from: rotation.newAuthorityID, to: rotation.oldAuthorityID, rotation: rotation, finalStage: nil, progress: progress, crashAfter: nil)
        }
        try store.write {
            try store.setAuthorityStatus(rotation.newAuthorityID, .retired)
            try store.setStage(rotation, .aborted, at: now)
            try store.record("rotate abort", subject: "authority \(rotation.newAuthorityID)", detail: "back to the old root alone; install everywhere", at: now)
        }
    }

    public func status() throws -> Status {
        guard let rotation = try store.openRotation() ?? store.lastRotation() else {
            return Status(rotation: nil, old: nil, new: nil, leavesOnOld: 0, leavesOnNew: 0, hosts: [])
        }
        return Status(rotation: rotation, old: try store.authority(id: rotation.oldAuthorityID), new: try store.authority(id: rotation.newAuthorityID),
                      leavesOnOld: try store.activeCount(authorityID: rotation.oldAuthorityID),
                      leavesOnNew: try store.activeCount(authorityID: rotation.newAuthorityID),
                      hosts: try hostStates(rotation))
    }

    // MARK: Pieces

    /// Re-issues the active leaves of `source` under `target` in batches; each batch one transaction
    /// that inserts the successors and supersedes their predecessors together.
    private func move(from source: Int64, to target: Int64, rotation: RotationRecord, finalStage: RotationRecord.Stage?,
                      progress: (Progress) -> Void, crashAfter: Int?) throws -> Int {
        let now = self.now()
        let total = try store.activeCount(authorityID: source)
        let authority = try store.authority(id: target)
        let signer = try Signer(store: store, vault: vault, now: now, days: nil, authority: authority)
        let issuer = Issuer(store: store, vault: vault, now: { now })
        var done = 0
        progress(Progress(done: 0, total: total))
        while true {
            let batch = try store.activeCertificates(authorityID: source, limit: Self.batchSize)
            if batch.isEmpty { break }
            let successors = try issuer.successors(of: batch, signer: signer, keepKey: false)
            try store.write {
                for (old, new) in zip(batch, successors) {
                    guard try store.status(of: old) == .active else { continue }  // revoked or renewed meanwhile
                    try store.insertCertificate(new)
                    try store.supersede(old)
                    done += 1
                    if let crashAfter, done >= crashAfter { kill(getpid(), SIGKILL) }
                }
                try store.record("rotate reissue", subject: "\(batch.count) certificates", detail: "\(done) of \(total) under authority \(target)", at: now)
            }
            progress(Progress(done: done, total: total))
        }
        if let finalStage { try store.write { try store.setStage(rotation, finalStage, at: now) } }
        return done
    }

    /// What each host must install next, from what it last installed (the deployments table).
    private func hostStates(_ rotation: RotationRecord) throws -> [HostState] {
        let deployments = try store.lastDeployments()
        let newKeyID = try store.authority(id: rotation.newAuthorityID).certificate().subjectKeyIdentifier?.hexString ?? ""
        let oldKeyID = try store.authority(id: rotation.oldAuthorityID).certificate().subjectKeyIdentifier?.hexString ?? ""
        return try store.hosts().map { host in
            let name = host.name.value
            guard let deployment = deployments[name] else { return HostState(host: name, next: "nothing installed through ca yet", blocking: false) }
            let active = try store.certificates(CertificateFilter(hostName: name, status: .active))
            let current = Set(active.map(\.serial.hex))
            let installed = Set([deployment.serverSerial, deployment.clientSerial].compactMap { $0 })
            switch rotation.stage {
            case .started:
                return HostState(host: name, next: deployment.trustKeyIDs.contains(newKeyID) ? nil : "install: trust bundle with the new root")
            case .reissuing, .reissued:
                if !deployment.trustKeyIDs.contains(newKeyID) { return HostState(host: name, next: "install: trust bundle with the new root and new certificates") }
                return HostState(host: name, next: installed == current ? nil : "install: its re-issued certificates")
            case .finished:
                return HostState(host: name, next: deployment.trustKeyIDs.contains(oldKeyID) ? "install: trust bundle without the old root" : nil)
            case .aborted:
                return HostState(host: name, next: deployment.trustKeyIDs.contains(newKeyID) || installed != current ? "install: back to the old root alone" : nil)
            }
        }
    }
}
