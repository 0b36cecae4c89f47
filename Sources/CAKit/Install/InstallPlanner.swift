import FoundationEssentials
import Glibc

/// Turns a host's material into an install plan and checks the whole plan against PostgreSQL's
/// rules (reference §0) before anything is written. Reads the disk, never writes it.
public struct InstallPlanner {
    public struct Options: Sendable {
        public var root: String
        public var link: Bool
        public var configure: Bool
        public var now: Date

        public init(root: String = "", link: Bool = false, configure: Bool = false, now: Date = Clock.now()) {
            self.root = root
            self.link = link
            self.configure = configure
            self.now = now
        }
    }

    public let accounts: SystemAccounts
    public init(accounts: SystemAccounts = SystemAccounts()) { self.accounts = accounts }

    public func plan(_ material: HostMaterial, options: Options) throws -> InstallPlan {
        let host = material.host
        guard let user = accounts.user(host.osUser) else {
            throw CAError.invalid("OS user '\(host.osUser)' of host '\(host.name)' does not exist on this machine",
                                  fix: "Install PostgreSQL first (it creates the user), or set --os-user on the host.")
        }
        guard user.uid != 0 else {
            throw CAError.invalid("refusing to install '\(host.name)': its OS user '\(host.osUser)' is root; PostgreSQL never runs as root")
        }
        if options.configure && !options.link {
            throw CAError.invalid("--configure points PostgreSQL at the data-directory links", fix: "Add --link.")
        }
        _ = try CAName.validate(material.caName)
        let root = try FileRoot(prefix: options.root)
        let layout = InstallLayout(root: options.root, caName: material.caName, host: host, osUserHome: user.home)
        let pairs = try material.pairs()
        let serverKey = try hostKey(for: pairs.server, name: InstallLayout.generationFiles.serverKey, what: "server", host: host, root: root, layout: layout, user: user)
        let clientKey = try hostKey(for: pairs.client, name: InstallLayout.generationFiles.clientKey, what: "replication", host: host, root: root, layout: layout, user: user)
        var material = material
        material.server = HostMaterial.Pair(certificatePEM: pairs.server.certificatePEM, keyPEM: serverKey.pem)
        material.client = HostMaterial.Pair(certificatePEM: pairs.client.certificatePEM, keyPEM: clientKey.pem)
        let server = (certificatePEM: pairs.server.certificatePEM, keyPEM: serverKey.pem)
        let client = (certificatePEM: pairs.client.certificatePEM, keyPEM: clientKey.pem)
        try checkMaterial(material, server: server, client: client, now: options.now)

        // Ownership and modes, DESIGN.md §4.
        let sslCert = accounts.group("ssl-cert")
        let serverOwner = serverKeyOwnership(host, user)
        let privateGroup = sslCert ?? user.gid
        let g = InstallLayout.generationFiles
        var operations: [PlannedOperation] = options.root.isEmpty ? [] : [directory(options.root + "/etc", 0, 0, 0o755, "configuration directory")]
        operations += [
            directory(layout.sslDirectory, 0, 0, 0o755, "TLS directory"),
            directory(layout.certsDirectory, 0, 0, 0o755, "certificates"),
            directory(layout.privateDirectory, 0, privateGroup, 0o710, "private keys"),
            directory(layout.crlDirectory, 0, 0, 0o755, "CRLs"),
            directory(layout.managedDirectory, 0, 0, 0o755, "ca's own directory"),
            directory(layout.managedTrustDirectory, 0, 0, 0o755, "trust bundles"),
            directory(layout.managedCRLDirectory, 0, 0, 0o755, "CRLs (ca)"),
            directory(layout.managedHostsDirectory, 0, 0, 0o755, "hosts"),
            directory(layout.managedHostDirectory, 0, 0, 0o755, "host '\(host.name)'"),
            file(layout.managedTrustBundle, material.trustPEM, 0, 0, 0o644, "trust bundle", rule: .managed),
            file(layout.managedCRL, material.crlPEM, 0, 0, 0o644, "CRL", rule: .managed),
            file(layout.current(g.serverCertificate), server.certificatePEM, 0, 0, 0o644, "server certificate", generation: g.serverCertificate),
            file(layout.current(g.serverKey), server.keyPEM, serverOwner.uid, serverOwner.gid, serverOwner.mode, "server key", secret: true, generation: g.serverKey),
            file(layout.current(g.clientCertificate), client.certificatePEM, 0, 0, 0o644, "replication certificate", generation: g.clientCertificate),
            file(layout.current(g.clientKey), client.keyPEM, user.uid, user.gid, 0o600, "replication key", secret: true, generation: g.clientKey),
        ]
        let managedPrefix = "../\(InstallLayout.managedName)/"
        for (path, target, purpose) in layout.managedLinks {
            let recognised = try recognisedFile(at: path, root: root, material: material, layout: layout)
            operations.append(PlannedOperation(path: path, kind: .link(target: target), uid: 0, gid: 0, mode: 0o777, purpose: purpose,
                                               rule: .systemName(managedPrefix: managedPrefix, recognised: recognised)))
        }
        if options.link {
            switch try root.resolveDirectory(layout.dataDirectory) {
            case .success: break
            case .failure(.missing):
                throw CAError.invalid("the data directory '\(layout.dataDirectory)' does not exist",
                                      fix: "Run install --link after initdb or pg_basebackup (pg_basebackup does not copy the links, so a standby always needs them made again).")
            case .failure(let failure):
                throw CAError.invalid("refusing to install '\(host.name)': \(failure.reason)", fix: "Give the host its real data directory (ca host add … --data-dir).")
            }
            // Files, modes and settings are chosen for the record's version: a cluster of another one is refused.
            if let read = try? root.read(layout.dataDirectory + "/PG_VERSION", limit: 64) {
                let (text, found) = PostgresVersion.dataDirectoryFile(read.bytes)
                if found != host.postgresVersion {
                    throw CAError.invalid("refusing to install '\(host.name)': \(layout.dataDirectory)/PG_VERSION says '\(text.quotedForError)', but the host record says PostgreSQL \(host.postgresVersion)",
                                          fix: "Point the host at the right data directory, or record it with --pg-version \(text.quotedForError).")
                }
            }
            operations += layout.dataLinks.map { link($0.link, $0.target, user, "data-dir link") }
            operations.append(directory(layout.clientDirectory, user.uid, user.gid, 0o700, "libpq client directory"))
            operations += layout.clientLinks.map { link($0.link, $0.target, user, "libpq client link") }
        }
        if options.configure { operations += try configuration(material, layout: layout, user: user, root: root) }

        operations = try withMissingParents(operations, root: root)
        var seen: [String: String] = [:]
        for op in operations {
            if let other = seen[op.path] {
                throw CAError.invalid("refusing to install '\(host.name)': the \(other) and the \(op.purpose) would both be '\(op.path)'",
                                      fix: "Give the CA and the host different names.")
            }
            seen[op.path] = op.purpose
        }
        try checkAccess(operations, layout: layout, user: user, version: host.postgresVersion, root: root)
        var plan = InstallPlan(host: host, layout: layout, operations: operations, root: root, trustedOwners: [0, user.uid])
        plan.consumedPendingKeys = [serverKey.pending, clientKey.pending].compactMap { $0 }
        return plan
    }

    /// A regular file at one of the Debian names that an earlier ca wrote (before ca-managed): its
    /// content proves it, relative to the CA being installed. Anything else there is not ca's.
    private func recognisedFile(at path: String, root: FileRoot, material: HostMaterial, layout: InstallLayout) throws -> FileIdentity? {
        guard let info = try root.entry(path), info.kind == .regular, info.links == 1, info.uid == 0 || info.uid == (accounts.user(material.host.osUser)?.uid ?? 0),
              let read = try? root.read(path, limit: 4 << 20) else { return nil }
        let text = String(decoding: read.bytes, as: UTF8.self)
        guard let trust = try? Certificate.all(inPEM: material.trustPEM), !trust.isEmpty else { return nil }
        func ours(_ certificate: Certificate) -> Bool {
            trust.contains { $0.publicKeyFingerprint == certificate.publicKeyFingerprint || certificate.isSigned(by: $0) }
        }
        switch path {
        case layout.serverKey, layout.clientKey:
            guard let key = try? PrivateKey(pem: text, passphrase: nil) else { return nil }
            let sibling = path == layout.serverKey ? layout.serverCertificate : layout.clientCertificate
            let candidates = [(path == layout.serverKey ? material.server?.certificatePEM : material.client?.certificatePEM) ?? ""]
                + ((try? root.read(sibling, limit: 1 << 20)).map { [String(decoding: $0.bytes, as: UTF8.self)] } ?? [])
            let matches = candidates.contains { pem in (try? Certificate(pem: pem)).map { ours($0) && $0.matches(key) } ?? false }
            return matches ? FileIdentity(read.info) : nil
        case layout.crl:
            guard let crls = try? Self.crls(in: text), !crls.isEmpty,
                  crls.allSatisfy({ crl in trust.contains { crl.isSigned(by: $0) } }) else { return nil }
            return FileIdentity(read.info)
        default:
            guard let certificates = try? Certificate.all(inPEM: text), !certificates.isEmpty, certificates.allSatisfy(ours) else { return nil }
            return FileIdentity(read.info)
        }
    }

    // MARK: Keys made on the host

    /// The key for a certificate that came without one (a host that makes its own keys): the key on
    /// this host that matches it, in the current generation (the same key signed again: a renewal
    /// with --keep-key, a CA rotation) or among the keys `ca request` made and left pending. Read
    /// through the root without following links; a key file another user owns, or with other
    /// names (hard links), is not considered.
    private func hostKey(for pair: HostMaterial.Pair, name: String, what: String, host: PostgresHost, root: FileRoot,
                         layout: InstallLayout, user: Account) throws -> (pem: String, pending: String?) {
        if let pem = pair.keyPEM { return (pem, nil) }
        let certificate = try CAError.translatingCrypto { try Certificate(pem: pair.certificatePEM) }
        let found = try Self.hostKeys(name, layout: layout, root: root, user: user)
        if let match = found.keys.first(where: { certificate.matches($0.key) }) {
            return (match.pem, match.pending ? match.path : nil)
        }
        throw CAError.invalid("refusing to install '\(host.name)': the key of its \(what) certificate \(certificate.serial.hex.prefix(16))… is not on this host (looked in \(found.looked.joined(separator: " and ")))",
                              fix: "Its keys are made here: run 'ca request' on this host, have the CA sign it ('ca sign \(host.name) --request FILE'), and install what it exports then (or let 'ca deploy \(host.name)' do all three).")
    }

    /// The keys of one name (server.key, replication.key) on this host: the pending one `ca request`
    /// made, then the current generation's. Regular files with one name, owned by root or the OS
    /// user, unencrypted PKCS#8; read without following links.
    static func hostKeys(_ name: String, layout: InstallLayout, root: FileRoot, user: Account) throws
        -> (keys: [(path: String, pending: Bool, key: PrivateKey, pem: String)], looked: [String]) {
        var candidates: [(path: String, pending: Bool)] = [(layout.pending(name), true)]
        if let generation = try root.linkTarget(layout.currentLink), generation.hasPrefix("g-"), !generation.contains("/") {
            candidates.append((layout.managedHostDirectory + "/" + generation + "/" + name, false))
        }
        var keys: [(path: String, pending: Bool, key: PrivateKey, pem: String)] = []
        for (path, pending) in candidates {
            guard let read = try? root.read(path, limit: 64 << 10), read.info.links == 1, read.info.uid == 0 || read.info.uid == user.uid else { continue }
            let pem = String(decoding: read.bytes, as: UTF8.self)
            guard let key = try? PrivateKey(pem: pem, passphrase: nil) else { continue }
            keys.append((path, pending, key, pem))
        }
        return (keys, candidates.map(\.path))
    }

    /// The OS user a request's keys belong to: it must exist here, and never be root.
    private func keyOwner(_ host: PostgresHost) throws -> Account {
        guard let user = accounts.user(host.osUser), user.uid != 0 else {
            throw CAError.invalid("OS user '\(host.osUser)' of host '\(host.name)' does not exist on this machine (or is root)",
                                  fix: "Install PostgreSQL first (it creates the user), or set --os-user on the host.")
        }
        return user
    }

    /// Owner, group and mode of the server key as install gives it (DESIGN.md §4).
    func serverKeyOwnership(_ host: PostgresHost, _ user: Account) -> (uid: UInt32, gid: UInt32, mode: UInt32) {
        let sslCert = accounts.group("ssl-cert")
        let sharedKey = host.postgresVersion >= PostgresVersion(uncheckedMajor: 9, minor: 6) && sslCert.map { user.groups.contains($0) } == true
        return sharedKey ? (0, sslCert!, 0o640) : (user.uid, user.gid, 0o600)
    }

    /// Writes keys a host made for its request (`ca request`) where install will find them: the
    /// host's pending directory (root 0700), each file with the owner and mode install gives it, by
    /// the same writer (temporary name, owner and mode before content, fsync, rename).
    public func writePendingKeys(host: PostgresHost, caName: String, server: String?, client: String?, root prefix: String, now: Date)
        throws -> [(path: String, outcome: SafeFileWriter.Outcome)] {
        let user = try keyOwner(host)
        _ = try CAName.validate(caName)
        let root = try FileRoot(prefix: prefix)
        let layout = InstallLayout(root: prefix, caName: caName, host: host, osUserHome: user.home)
        let g = InstallLayout.generationFiles
        var operations: [PlannedOperation] = prefix.isEmpty ? [] : [directory(prefix + "/etc", 0, 0, 0o755, "configuration directory")]
        operations += [
            directory(layout.sslDirectory, 0, 0, 0o755, "TLS directory"),
            directory(layout.managedDirectory, 0, 0, 0o755, "ca's own directory"),
            directory(layout.managedHostsDirectory, 0, 0, 0o755, "hosts"),
            directory(layout.managedHostDirectory, 0, 0, 0o755, "host '\(host.name)'"),
            directory(layout.pendingDirectory, 0, 0, 0o700, "keys waiting for their certificates"),
        ]
        let owner = serverKeyOwnership(host, user)
        if let server { operations.append(file(layout.pending(g.serverKey), server, owner.uid, owner.gid, owner.mode, "server key (pending)", secret: true, rule: .managed)) }
        if let client { operations.append(file(layout.pending(g.clientKey), client, user.uid, user.gid, 0o600, "replication key (pending)", secret: true, rule: .managed)) }
        operations = try withMissingParents(operations, root: root)
        let writer = SafeFileWriter(root: root, now: now, dryRun: false, trustedOwners: [0, user.uid], managedDirectory: layout.managedDirectory)
        let outcomes = try writer.apply(operations)
        return zip(operations, outcomes).filter { if case .file = $0.0.kind { return true } else { return false } }.map { ($0.0.path, $0.1) }
    }

    /// The host's keys as they are now, for `ca request`: the pending one, else the current generation's.
    public func existingKeys(host: PostgresHost, caName: String, root prefix: String) throws -> (server: PrivateKey?, client: PrivateKey?, where: [String: String]) {
        let user = try keyOwner(host)
        let root = try FileRoot(prefix: prefix)
        let layout = InstallLayout(root: prefix, caName: caName, host: host, osUserHome: user.home)
        let g = InstallLayout.generationFiles
        let server = try Self.hostKeys(g.serverKey, layout: layout, root: root, user: user).keys.first
        let client = try Self.hostKeys(g.clientKey, layout: layout, root: root, user: user).keys.first
        var places: [String: String] = [:]
        if let server { places["server"] = server.path }
        if let client { places["replication"] = client.path }
        return (server?.key, client?.key, places)
    }

    // MARK: Configuration

    private func configuration(_ material: HostMaterial, layout: InstallLayout, user: Account, root: FileRoot) throws -> [PlannedOperation] {
        let config = PostgresConfig(host: material.host, peers: material.peers, layout: layout)
        switch try root.resolveDirectory(layout.configDirectory) {
        case .success: break
        case .failure(.missing):
            throw CAError.invalid("the config directory '\(layout.configDirectory)' does not exist",
                                  fix: "Create the cluster first, or set --config-dir on the host (the data directory for a non-Debian layout).")
        case .failure(let failure):
            throw CAError.invalid("refusing to install '\(material.host.name)': \(failure.reason)")
        }
        var operations: [PlannedOperation] = []
        let settings = try config.serverSettings()
        let settingsText = settings.joined(separator: "\n") + "\n"
        operations.append(directory(layout.includeDirectory, user.uid, user.gid, 0o755, "config include directory"))
        operations.append(file(layout.includeFile, settingsText, user.uid, user.gid, 0o644, "postgresql.conf settings", keepForeign: true))
        let postgresql = try existingFile(layout.postgresqlConf, root: root, user: user)
        var postgresqlText = postgresql.text
        if let include = config.includeBlock(for: postgresql.text) {
            postgresqlText = PostgresConfig.withBlock(include, in: postgresql.text, atTop: false)
            operations.append(edited(layout.postgresqlConf, postgresqlText, postgresql, "postgresql.conf include"))
        }
        try checkNothingOverrides(settings, layout: layout, root: root, user: user,
                                  overlay: [layout.includeFile: Array(settingsText.utf8), layout.postgresqlConf: Array(postgresqlText.utf8)])
        let hba = try existingFile(layout.hbaConf, root: root, user: user)
        operations.append(edited(layout.hbaConf, PostgresConfig.withBlock(config.hbaLines(), in: hba.text, atTop: true), hba, "pg_hba.conf block"))
        if let recovery = try config.recoveryConf() {
            operations.append(file(layout.recoveryConf, recovery.joined(separator: "\n") + "\n", user.uid, user.gid, 0o600, "recovery.conf", keepForeign: true))
        }
        if config.needsStandbySignal {
            operations.append(file(layout.standbySignal, "", user.uid, user.gid, 0o600, "standby.signal", keepForeign: true))
        }
        return operations
    }

    /// The settings ca writes must be the ones in effect once it has written them: a later line in
    /// postgresql.conf, another included file or postgresql.auto.conf (ALTER SYSTEM) that sets one of
    /// them to something else would win, and the install would change nothing that matters. Read as
    /// PostgreSQL will read it, with ca's files as planned; refused with the file, the line and the fix.
    private func checkNothingOverrides(_ lines: [String], layout: InstallLayout, root: FileRoot, user: Account, overlay: [String: [UInt8]]) throws {
        let effective = PostgresSettings(configFile: layout.postgresqlConf, dataDirectory: layout.dataDirectory, root: root, account: user, overlay: overlay)
        if let problem = effective.problem {
            throw CAError.invalid("refusing to configure '\(layout.hostName)': \(problem)", fix: "Fix the include directives, then install again.")
        }
        var conflicts: [String] = [], fixes: [String] = []
        for (name, value) in lines.compactMap(PostgresSettings.parse) {
            guard let origin = effective.origins[name], origin.file != layout.includeFile else { continue }
            // Set again to ca's value, or (the TLS floor) to a stricter one: the user's call, harmless.
            let found = effective[name] ?? ""
            if PostgresSettings.honours(name, found: found, wanted: value) { continue }
            conflicts.append("\(name) = '\(found)' at \(origin)")
            if let fix = effective.overrideFix(name, ours: layout.includeFile) { fixes.append(fix) }
        }
        if !conflicts.isEmpty {
            throw CAError.invalid("refusing to configure '\(layout.hostName)': PostgreSQL would not use ca's settings: \(conflicts.joined(separator: "; ")) overrides \(layout.includeFile)",
                                  fix: "Fix: " + fixes.joined(separator: "; ") + "; then install again.")
        }
    }

    private struct Existing { let text: String; let info: FileRoot.Info }

    /// A config file ca edits, read through its descriptor: a regular file (never a link, a FIFO or a
    /// hard link to something else), owned by root or the OS user; owner and mode from the same fstat.
    private func existingFile(_ path: String, root: FileRoot, user: Account) throws -> Existing {
        let read: (bytes: [UInt8], info: FileRoot.Info)
        do {
            read = try root.read(path, limit: 4 << 20)
        } catch let error as CAError {
            throw CAError.invalid("refusing to edit '\(path)': \(error.message)", fix: "Create the cluster first; ca edits its existing config files.")
        }
        guard read.info.links == 1 else {
            throw CAError.invalid("refusing to edit '\(path)': it has \(read.info.links) hard links, so it may be another file too")
        }
        guard read.info.uid == 0 || read.info.uid == user.uid else {
            throw CAError.invalid("refusing to edit '\(path)': it is owned by \(accounts.userName(read.info.uid)), neither root nor '\(user.name)'")
        }
        return Existing(text: String(decoding: read.bytes, as: UTF8.self), info: read.info)
    }

    private func edited(_ path: String, _ text: String, _ existing: Existing, _ purpose: String) -> PlannedOperation {
        PlannedOperation(path: path, kind: .file(contents: Array(text.utf8), secret: false, keepForeign: false),
                         uid: existing.info.uid, gid: existing.info.gid, mode: existing.info.mode & 0o777, purpose: purpose,
                         rule: .edit(FileIdentity(existing.info)))
    }

    // MARK: Checks

    /// The material must verify the way PostgreSQL and libpq will check it.
    private func checkMaterial(_ material: HostMaterial, server serverPair: (certificatePEM: String, keyPEM: String),
                               client clientPair: (certificatePEM: String, keyPEM: String), now: Date) throws {
        func refuse(_ why: String) -> CAError { .invalid("refusing to install '\(material.host.name)': \(why)") }
        let (trust, crls, server, client, serverKey, clientKey) = try CAError.translatingCrypto {
            (try Certificate.all(inPEM: material.trustPEM),
             try Self.crls(in: material.crlPEM),
             try Certificate(pem: serverPair.certificatePEM), try Certificate(pem: clientPair.certificatePEM),
             try PrivateKey(pem: serverPair.keyPEM, passphrase: nil), try PrivateKey(pem: clientPair.keyPEM, passphrase: nil))
        }
        guard !trust.isEmpty else { throw refuse("the trust bundle is empty") }
        guard !crls.isEmpty else { throw refuse("it holds no CRL; PostgreSQL refuses to start with an empty root.crl. Run 'ca crl' and export again") }
        for authority in trust where !crls.contains(where: { $0.isSigned(by: authority) }) {
            throw refuse("no CRL of '\(authority.subject)' is in it; PostgreSQL would then accept revoked certificates of that CA. Run 'ca crl' and export again")
        }
        guard server.matches(serverKey) else { throw refuse("the server key does not match the server certificate") }
        guard client.matches(clientKey) else { throw refuse("the replication key does not match the replication certificate") }
        for crl in crls {
            guard trust.contains(where: { crl.isSigned(by: $0) }) else { throw refuse("a CRL is not signed by any CA in the trust bundle") }
            if let next = crl.nextUpdate, next <= now {
                throw refuse("the CRL of '\(crl.issuer)' expired on \(next.iso8601): PostgreSQL would refuse every certificate. Run 'ca crl' and export again")
            }
        }
        if let why = ChainVerifier.failure(of: server, trusted: trust, crls: crls, purpose: .server, hostName: material.host.name.value, at: now) {
            throw refuse("the server certificate does not verify for '\(material.host.name)': \(why)")
        }
        if let why = ChainVerifier.failure(of: client, trusted: trust, crls: crls, purpose: .client, at: now) {
            throw refuse("the replication certificate does not verify: \(why)")
        }
    }

    /// Every directory on the way to the key and certificate files must be searchable by the OS
    /// user, and the server key must pass PostgreSQL's permission rule (reference §0.1, §1.2).
    /// Directories that exist are judged by what fstat says of them now, planned ones by the plan.
    private func checkAccess(_ operations: [PlannedOperation], layout: InstallLayout, user: Account, version: PostgresVersion, root: FileRoot) throws {
        let planned = Dictionary(operations.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        func attributes(_ path: String) throws -> (uid: UInt32, gid: UInt32, mode: UInt32)? {
            if path == layout.currentLink { return (0, 0, 0o755) }  // the generation directory
            if let info = try root.entry(path), info.kind == .directory { return (info.uid, info.gid, info.mode) }
            return planned[path].map { ($0.uid, $0.gid, $0.mode) }
        }
        func searchable(_ file: String, for op: PlannedOperation) throws {
            var directory = Path.parent(file)
            while directory.count > layout.root.count && directory != "/" {
                if let a = try attributes(directory), !user.may(0o1, owner: a.uid, group: a.gid, mode: a.mode) {
                    throw CAError.invalid("refusing to install: '\(user.name)' cannot reach '\(op.path)' because it cannot search '\(directory)' (\(accounts.userName(a.uid)):\(accounts.groupName(a.gid)) \(KeyFileRule.octal(a.mode)))",
                                          fix: "Add '\(user.name)' to that directory's group or fix its mode.")
                }
                directory = Path.parent(directory)
            }
        }
        let names = Dictionary(layout.managedLinks.map { ($0.target.components(separatedBy: "/").last ?? "", $0.link) }, uniquingKeysWith: { a, _ in a })
        for op in operations {
            guard case .file = op.kind, op.generationName != nil || op.path == layout.managedTrustBundle || op.path == layout.managedCRL else { continue }
            try searchable(op.path, for: op)
            let debianName = op.generationName.flatMap { names[$0] } ?? (op.path == layout.managedTrustBundle ? layout.trustBundle : layout.crl)
            try searchable(debianName, for: op)
            guard user.may(0o4, owner: op.uid, group: op.gid, mode: op.mode) else {
                throw CAError.invalid("refusing to install: '\(user.name)' could not read '\(op.path)' (\(accounts.userName(op.uid)):\(accounts.groupName(op.gid)) \(KeyFileRule.octal(op.mode)))")
            }
            if op.generationName == InstallLayout.generationFiles.serverKey,
               let why = KeyFileRule.serverProblem(version: version, ownerUID: op.uid, mode: op.mode, isRegular: true, serverUID: user.uid) {
                throw CAError.invalid("refusing to install: PostgreSQL \(version) would refuse '\(layout.serverKey)': it \(why)")
            }
            if op.generationName == InstallLayout.generationFiles.clientKey, let why = KeyFileRule.clientProblem(ownerUID: op.uid, mode: op.mode, isRegular: true) {
                throw CAError.invalid("refusing to install: libpq would refuse '\(layout.clientKey)': it \(why)")
            }
        }
    }

    static func crls(in pem: String) throws -> [CertificateRevocationList] {
        let marker = "-----END X509 CRL-----"
        return try pem.components(separatedBy: marker).dropLast().map { try CertificateRevocationList(pem: $0 + marker + "\n") }
    }

    // MARK: Builders

    /// Before each directory, the directories above it that do not exist yet (root:root 0755).
    private func withMissingParents(_ operations: [PlannedOperation], root: FileRoot) throws -> [PlannedOperation] {
        var out: [PlannedOperation] = []
        var planned = Set(operations.filter { $0.kind == .directory }.map(\.path))
        for op in operations {
            if op.kind == .directory {
                var missing: [String] = []
                var parent = Path.parent(op.path)
                while try parent.count > root.prefix.count && parent != "/" && !planned.contains(parent) && root.entry(parent) == nil {
                    missing.insert(parent, at: 0)
                    parent = Path.parent(parent)
                }
                for path in missing {
                    planned.insert(path)
                    out.append(directory(path, 0, 0, 0o755, "parent directory"))
                }
            }
            out.append(op)
        }
        return out
    }

    private func directory(_ path: String, _ uid: UInt32, _ gid: UInt32, _ mode: UInt32, _ purpose: String) -> PlannedOperation {
        PlannedOperation(path: path, kind: .directory, uid: uid, gid: gid, mode: mode, purpose: purpose)
    }

    private func file(_ path: String, _ text: String, _ uid: UInt32, _ gid: UInt32, _ mode: UInt32, _ purpose: String,
                      secret: Bool = false, keepForeign: Bool = false, rule: PlannedOperation.Rule = .standard,
                      generation: String? = nil) -> PlannedOperation {
        PlannedOperation(path: path, kind: .file(contents: Array(text.utf8), secret: secret, keepForeign: keepForeign),
                         uid: uid, gid: gid, mode: mode, purpose: purpose, rule: generation == nil ? rule : .managed, generationName: generation)
    }

    private func link(_ path: String, _ target: String, _ user: Account, _ purpose: String) -> PlannedOperation {
        PlannedOperation(path: path, kind: .link(target: target), uid: user.uid, gid: user.gid, mode: 0o777, purpose: purpose)
    }

}
