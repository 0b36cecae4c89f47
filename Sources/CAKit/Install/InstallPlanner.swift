import Foundation
import Glibc

/// Turns a host's material into an install plan and checks the whole plan against PostgreSQL's
/// rules (reference §0) before anything is written. Reads the disk, never writes it.
public struct InstallPlanner {
    public struct Options: Sendable {
        public var root: String
        public var link: Bool
        public var configure: Bool
        public var now: Date

        public init(root: String = "", link: Bool = false, configure: Bool = false, now: Date = Date()) {
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
        if options.configure && !options.link {
            throw CAError.invalid("--configure points PostgreSQL at the data-directory links", fix: "Add --link.")
        }
        let layout = InstallLayout(root: options.root, caName: material.caName, host: host, osUserHome: user.home)
        try checkMaterial(material, now: options.now)

        // Ownership and modes, DESIGN.md §4.
        let sslCert = accounts.group("ssl-cert")
        let sharedKey = host.postgresVersion >= PostgresVersion(uncheckedMajor: 9, minor: 6) && sslCert.map { user.groups.contains($0) } == true
        let privateGroup = sslCert ?? user.gid
        var operations: [PlannedOperation] = [
            directory(layout.sslDirectory, 0, 0, 0o755, "TLS directory"),
            directory(layout.certsDirectory, 0, 0, 0o755, "certificates"),
            directory(layout.privateDirectory, 0, privateGroup, 0o710, "private keys"),
            directory(layout.crlDirectory, 0, 0, 0o755, "CRLs"),
            file(layout.trustBundle, material.trustPEM, 0, 0, 0o644, "trust bundle"),
            file(layout.crl, material.crlPEM, 0, 0, 0o644, "CRL"),
            file(layout.serverCertificate, material.server.certificatePEM, 0, 0, 0o644, "server certificate"),
            sharedKey ? file(layout.serverKey, material.server.keyPEM, 0, sslCert!, 0o640, "server key", secret: true)
                      : file(layout.serverKey, material.server.keyPEM, user.uid, user.gid, 0o600, "server key", secret: true),
            file(layout.clientCertificate, material.client.certificatePEM, 0, 0, 0o644, "replication certificate"),
            file(layout.clientKey, material.client.keyPEM, user.uid, user.gid, 0o600, "replication key", secret: true),
        ]
        if options.link {
            guard isDirectory(layout.dataDirectory) else {
                throw CAError.invalid("the data directory '\(layout.dataDirectory)' does not exist",
                                      fix: "Run install --link after initdb or pg_basebackup (pg_basebackup does not copy the links, so a standby always needs them made again).")
            }
            operations += layout.dataLinks.map { link($0.link, $0.target, user, "data-dir link") }
            operations.append(directory(layout.clientDirectory, user.uid, user.gid, 0o700, "libpq client directory"))
            operations += layout.clientLinks.map { link($0.link, $0.target, user, "libpq client link") }
        }
        if options.configure { operations += try configuration(material, layout: layout, user: user) }

        try checkAccess(operations, layout: layout, user: user, version: host.postgresVersion)
        try checkNoLinkedDirectories(operations)
        return InstallPlan(host: host, layout: layout, operations: operations)
    }

    // MARK: Configuration

    private func configuration(_ material: HostMaterial, layout: InstallLayout, user: Account) throws -> [PlannedOperation] {
        let config = PostgresConfig(host: material.host, peers: material.peers, layout: layout)
        guard isDirectory(layout.configDirectory) else {
            throw CAError.invalid("the config directory '\(layout.configDirectory)' does not exist",
                                  fix: "Create the cluster first, or set --config-dir on the host (the data directory for a non-Debian layout).")
        }
        var operations: [PlannedOperation] = []
        operations.append(directory(layout.includeDirectory, user.uid, user.gid, 0o755, "config include directory"))
        operations.append(file(layout.includeFile, try config.serverSettings().joined(separator: "\n") + "\n", user.uid, user.gid, 0o644,
                               "postgresql.conf settings", keepForeign: true))
        let postgresql = try existingFile(layout.postgresqlConf)
        if let include = config.includeBlock(for: postgresql.text) {
            operations.append(edited(layout.postgresqlConf, PostgresConfig.withBlock(include, in: postgresql.text, atTop: false), postgresql, "postgresql.conf include"))
        }
        let hba = try existingFile(layout.hbaConf)
        operations.append(edited(layout.hbaConf, PostgresConfig.withBlock(config.hbaLines(), in: hba.text, atTop: true), hba, "pg_hba.conf block"))
        if let recovery = try config.recoveryConf() {
            operations.append(file(layout.recoveryConf, recovery.joined(separator: "\n") + "\n", user.uid, user.gid, 0o600, "recovery.conf", keepForeign: true))
        }
        if config.needsStandbySignal {
            operations.append(file(layout.standbySignal, "", user.uid, user.gid, 0o600, "standby.signal"))
        }
        return operations
    }

    private struct Existing { let text: String; let uid: UInt32; let gid: UInt32; let mode: UInt32 }

    private func existingFile(_ path: String) throws -> Existing {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
              let data = FileManager.default.contents(atPath: path) else {
            throw CAError.invalid("'\(path)' is missing or not a regular file", fix: "Create the cluster first; ca edits its existing config files.")
        }
        return Existing(text: String(decoding: data, as: UTF8.self), uid: info.st_uid, gid: info.st_gid, mode: info.st_mode & 0o7777)
    }

    private func edited(_ path: String, _ text: String, _ existing: Existing, _ purpose: String) -> PlannedOperation {
        PlannedOperation(path: path, kind: .file(contents: Array(text.utf8), secret: false, keepForeign: false),
                         uid: existing.uid, gid: existing.gid, mode: existing.mode, purpose: purpose)
    }

    // MARK: Checks

    /// The material must verify the way PostgreSQL and libpq will check it.
    private func checkMaterial(_ material: HostMaterial, now: Date) throws {
        func refuse(_ why: String) -> CAError { .invalid("refusing to install '\(material.host.name)': \(why)") }
        let (trust, crls, server, client, serverKey, clientKey) = try CAError.translatingCrypto {
            (try Certificate.all(inPEM: material.trustPEM),
             try Self.crls(in: material.crlPEM),
             try Certificate(pem: material.server.certificatePEM), try Certificate(pem: material.client.certificatePEM),
             try PrivateKey(pem: material.server.keyPEM, passphrase: nil), try PrivateKey(pem: material.client.keyPEM, passphrase: nil))
        }
        guard !trust.isEmpty else { throw refuse("the trust bundle is empty") }
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
    private func checkAccess(_ operations: [PlannedOperation], layout: InstallLayout, user: Account, version: PostgresVersion) throws {
        let planned = Dictionary(operations.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        func attributes(_ path: String) -> (uid: UInt32, gid: UInt32, mode: UInt32)? {
            var info = stat()
            if stat(path, &info) == 0 { return (info.st_uid, info.st_gid, info.st_mode & 0o7777) }
            return planned[path].map { ($0.uid, $0.gid, $0.mode) }
        }
        for op in operations {
            guard case .file = op.kind, [layout.serverKey, layout.clientKey, layout.serverCertificate, layout.trustBundle, layout.crl].contains(op.path) else { continue }
            var directory = (op.path as NSString).deletingLastPathComponent
            while !directory.isEmpty && directory != "/" {
                if let a = attributes(directory), !user.may(0o1, owner: a.uid, group: a.gid, mode: a.mode) {
                    throw CAError.invalid("refusing to install: '\(user.name)' cannot reach '\(op.path)' because it cannot search '\(directory)' (\(accounts.userName(a.uid)):\(accounts.groupName(a.gid)) \(KeyFileRule.octal(a.mode)))",
                                          fix: "Add '\(user.name)' to that directory's group or fix its mode.")
                }
                directory = (directory as NSString).deletingLastPathComponent
            }
            guard user.may(0o4, owner: op.uid, group: op.gid, mode: op.mode) else {
                throw CAError.invalid("refusing to install: '\(user.name)' could not read '\(op.path)' (\(accounts.userName(op.uid)):\(accounts.groupName(op.gid)) \(KeyFileRule.octal(op.mode)))")
            }
            if op.path == layout.serverKey,
               let why = KeyFileRule.serverProblem(version: version, ownerUID: op.uid, mode: op.mode, isRegular: true, serverUID: user.uid) {
                throw CAError.invalid("refusing to install: PostgreSQL \(version) would refuse '\(op.path)': it \(why)")
            }
            if op.path == layout.clientKey, let why = KeyFileRule.clientProblem(ownerUID: op.uid, mode: op.mode, isRegular: true) {
                throw CAError.invalid("refusing to install: libpq would refuse '\(op.path)': it \(why)")
            }
        }
    }

    /// ca writes through no symlinked directory: every file's own directory must be a real one.
    private func checkNoLinkedDirectories(_ operations: [PlannedOperation]) throws {
        for op in operations {
            let path = op.kind == .directory ? op.path : (op.path as NSString).deletingLastPathComponent
            var info = stat()
            if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFLNK {
                throw CAError.invalid("refusing to install: '\(path)' is a symbolic link; ca does not write through links",
                                      fix: "Replace it with a real directory, or check who planted it.")
            }
        }
    }

    static func crls(in pem: String) throws -> [CertificateRevocationList] {
        let marker = "-----END X509 CRL-----"
        return try pem.components(separatedBy: marker).dropLast().map { try CertificateRevocationList(pem: $0 + marker + "\n") }
    }

    // MARK: Builders

    private func directory(_ path: String, _ uid: UInt32, _ gid: UInt32, _ mode: UInt32, _ purpose: String) -> PlannedOperation {
        PlannedOperation(path: path, kind: .directory, uid: uid, gid: gid, mode: mode, purpose: purpose)
    }

    private func file(_ path: String, _ text: String, _ uid: UInt32, _ gid: UInt32, _ mode: UInt32, _ purpose: String,
                      secret: Bool = false, keepForeign: Bool = false) -> PlannedOperation {
        PlannedOperation(path: path, kind: .file(contents: Array(text.utf8), secret: secret, keepForeign: keepForeign),
                         uid: uid, gid: gid, mode: mode, purpose: purpose)
    }

    private func link(_ path: String, _ target: String, _ user: Account, _ purpose: String) -> PlannedOperation {
        PlannedOperation(path: path, kind: .link(target: target), uid: user.uid, gid: user.gid, mode: 0o777, purpose: purpose)
    }

    private func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}
