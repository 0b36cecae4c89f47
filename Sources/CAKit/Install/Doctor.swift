import FoundationEssentials
import Glibc

/// Checks an installed host the way PostgreSQL and libpq will: the settings in effect, the files
/// they name (links followed), owners and modes, directory access, key/cert match, chains, CRL
/// freshness, expiry, and a standby's primary_conninfo. It reads; it never writes.
public struct Doctor {
    public let host: PostgresHost
    public let layout: InstallLayout
    /// The primary's active server certificate, when the CA database is at hand, to check host= against its SANs.
    public let primaryCertificate: Certificate?
    public let now: Date
    let accounts = SystemAccounts()
    /// Every file doctor looks at is reached through this, as the OS user would reach it.
    let root: FileRoot

    public init(host: PostgresHost, layout: InstallLayout, primaryCertificate: Certificate?, now: Date = Clock.now()) {
        self.host = host
        self.layout = layout
        self.primaryCertificate = primaryCertificate
        self.now = now
        root = (try? FileRoot(prefix: layout.root)) ?? (try! FileRoot(prefix: ""))
    }

    public static let expiryWarning: TimeInterval = 30 * 86_400
    public static let crlWarning: TimeInterval = 7 * 86_400

    public func run() -> [Finding] {
        var out: [Finding] = []
        func add(_ level: Finding.Level, _ check: String, _ path: String?, _ reason: String, fix: String? = nil) {
            out.append(Finding(level: level, check: check, path: path, reason: reason, fix: fix))
        }
        guard let user = accounts.user(host.osUser) else {
            add(.fail, "os user", nil, "OS user '\(host.osUser)' does not exist", fix: "Install PostgreSQL, or fix the host's --os-user.")
            return out
        }
        let data = layout.dataDirectory
        guard (try? root.chase(data))?.info?.kind == .directory else {
            add(.fail, "data directory", data, "does not exist", fix: "Run initdb or pg_basebackup, then 'ca install --link'.")
            return out
        }
        let version = host.postgresVersion
        // The data directory's own version: files and settings are judged by the version of the
        // server that will read them, so a record that says otherwise is wrong, not a detail.
        switch root.readAs(user, data + "/PG_VERSION", limit: 64) {
        case .read(let bytes, _, _):
            let (text, found) = PostgresVersion.dataDirectoryFile(bytes)
            if let found, found == version {
                add(.ok, "PG_VERSION", data + "/PG_VERSION", "PostgreSQL \(found), as the host record says")
            } else {
                add(.fail, "PG_VERSION", data + "/PG_VERSION", "says '\(text.quotedForError)', but the host record says PostgreSQL \(version)",
                    fix: "point --data-dir at the cluster of PostgreSQL \(version), or record the host as \(text.quotedForError) (ca host remove \(host.name); ca host add \(host.name) … --pg-version \(text.quotedForError)), then ca issue and ca install --link --configure")
            }
        case .missing:
            add(.fail, "PG_VERSION", data + "/PG_VERSION", "does not exist: not a PostgreSQL data directory", fix: "Run initdb or pg_basebackup, or fix the host's --data-dir.")
        case .refused(let why):
            add(.fail, "PG_VERSION", data + "/PG_VERSION", why, fix: nil)
        }
        let settings = PostgresSettings(configFile: layout.postgresqlConf, dataDirectory: data, root: root, account: user)
        if let problem = settings.problem { add(.fail, "settings", layout.postgresqlConf, problem, fix: "remove the include loop") }
        let modern = version >= PostgresVersion(uncheckedMajor: 9, minor: 2)
        /// The fix that works: where ca's include is in place and a later line wins, that line (or
        /// ALTER SYSTEM RESET); otherwise install --configure.
        let included = exists(layout.includeFile) && settings.origins.values.contains { $0.file == layout.includeFile }
        func fix(_ setting: String) -> String {
            if included, let fix = settings.overrideFix(setting, ours: layout.includeFile) { return fix }
            return "ca install --link --configure"
        }

        // Which files the server will really read.
        if settings["ssl"].flatMap(PostgresSettings.boolean) != true {
            let origin = settings.origins["ssl"]
            add(.fail, "ssl", origin?.file ?? layout.postgresqlConf,
                "ssl is \(settings["ssl"].map { "'\($0)'" } ?? "not set") in the settings in effect\(origin.map { " (\($0))" } ?? "")", fix: fix("ssl"))
        } else {
            add(.ok, "ssl", settings.origins["ssl"]?.file, "ssl = on")
        }
        // TLS 1.2 at least (ca writes the floor from 12; 13+ defaults to it, 12 to TLSv1).
        if version >= PostgresVersion(uncheckedMajor: 12, minor: 0) {
            let floor = settings["ssl_min_protocol_version"] ?? (version.major >= 13 ? "TLSv1.2" : "TLSv1")
            let origin = settings.origins["ssl_min_protocol_version"]
            if PostgresSettings.honours("ssl_min_protocol_version", found: floor, wanted: "TLSv1.2") {
                add(.ok, "ssl_min_protocol_version", origin?.file, "\(floor) at least")
            } else {
                add(.fail, "ssl_min_protocol_version", origin?.file ?? layout.postgresqlConf,
                    "is '\(floor)'\(origin.map { " (\($0))" } ?? " (the default)"): clients may connect with TLS older than 1.2", fix: fix("ssl_min_protocol_version"))
            }
        }
        func effective(_ setting: String, _ link: String) -> String? {
            guard modern else { return layout.dataLink(link) }
            guard let path = settings.path(setting, dataDirectory: data) else {
                if setting == "ssl_cert_file" || setting == "ssl_key_file" { return layout.dataLink(link) }  // defaults server.crt/.key
                add(.fail, setting, settings.origins[setting]?.file ?? layout.postgresqlConf, "\(setting) is not set, so PostgreSQL ignores \(link)",
                    fix: fix(setting))
                return nil
            }
            if path != layout.dataLink(link) {
                let snakeoil = path.contains("snakeoil") ? " (Debian's snakeoil default wins over the links)" : ""
                add(.fail, setting, settings.origins[setting]?.file,
                    "\(setting) = '\(path)' in effect\(settings.origins[setting].map { " (\($0))" } ?? ""), not ca's link \(layout.dataLink(link))\(snakeoil)",
                    fix: fix(setting))
            }
            return path
        }
        let certPath = effective("ssl_cert_file", "server.crt")
        let keyPath = effective("ssl_key_file", "server.key")
        let caPath = effective("ssl_ca_file", "root.crt")
        let crlPath = effective("ssl_crl_file", "root.crl")

        let trust = caPath.flatMap { readFile($0, "ssl_ca_file", user, &out) }.flatMap { text -> [Certificate]? in
            let certificates = (try? Certificate.all(inPEM: text)) ?? []
            if certificates.isEmpty { add(.fail, "ssl_ca_file", caPath, "holds no certificate"); return nil }
            return certificates
        } ?? []
        var crls: [CertificateRevocationList] = []
        if let crlPath, let text = readFile(crlPath, "ssl_crl_file", user, &out) {
            crls = (try? InstallPlanner.crls(in: text)) ?? []
            if crls.isEmpty { add(.fail, "ssl_crl_file", crlPath, "holds no CRL; PostgreSQL will not start with it") }
            for crl in crls { checkCRL(crl, path: crlPath, trust: trust, &out) }
        }
        var server: Certificate?
        if let certPath, let text = readFile(certPath, "ssl_cert_file", user, &out) {
            server = try? Certificate(pem: text)
            if server == nil { add(.fail, "ssl_cert_file", certPath, "is not a PEM certificate") }
        }
        var serverKey: PrivateKey?
        // PostgreSQL checks the key's owner and mode before it opens it; so does doctor.
        let keyRule = { (info: FileRoot.Info) in KeyFileRule.serverProblem(version: version, ownerUID: info.uid, mode: info.mode, isRegular: true, serverUID: user.uid) }
        if let keyPath, let (text, info) = readFileAndInfo(keyPath, "ssl_key_file", user, &out, before: keyRule,
                                                            fix: "chown root:ssl-cert and chmod 0640 (9.6+, OS user in ssl-cert), or chown \(user.name) and chmod 0600; or rerun ca install",
                                                            say: { "PostgreSQL \(version) refuses it: it \($0)" }) {
            if let why = keyRule(info) {
                add(.fail, "ssl_key_file", keyPath, "PostgreSQL \(version) refuses it: it \(why)",
                    fix: "chown root:ssl-cert and chmod 0640 (9.6+, OS user in ssl-cert), or chown \(user.name) and chmod 0600; or rerun ca install")
            } else {
                add(.ok, "ssl_key_file", keyPath, "owner \(accounts.userName(info.uid)):\(accounts.groupName(info.gid)) mode \(KeyFileRule.octal(info.mode & 0o777)) passes PostgreSQL \(version)'s rule")
                serverKey = try? PrivateKey(pem: text, passphrase: nil)
                if serverKey == nil { add(.fail, "ssl_key_file", keyPath, "is not an unencrypted PKCS#8 key PostgreSQL can load") }
            }
        }
        if let server {
            checkLeaf(server, key: serverKey, keyPath: keyPath, path: certPath!, purpose: .server, name: host.name.value, trust: trust, crls: crls, "server certificate", &out)
        }

        // The replication client side: what the walreceiver (libpq) will load.
        let conninfo = standbyConninfo(settings: settings, &out)
        let clientCert = conninfo?["sslcert"] ?? layout.clientLink("postgresql.crt")
        let clientKeyPath = conninfo?["sslkey"] ?? layout.clientLink("postgresql.key")
        let clientRoot = conninfo?["sslrootcert"] ?? layout.clientLink("root.crt")
        let clientTrust = readFile(clientRoot, "sslrootcert", user, &out).flatMap { try? Certificate.all(inPEM: $0) } ?? []
        if let client = readFile(clientCert, "sslcert", user, &out).flatMap({ try? Certificate(pem: $0) }) {
            var key: PrivateKey?
            let clientRule = { (info: FileRoot.Info) in KeyFileRule.clientProblem(ownerUID: info.uid, mode: info.mode, isRegular: true) }
            if let (text, info) = readFileAndInfo(clientKeyPath, "sslkey", user, &out, before: clientRule,
                                                  fix: "chown \(user.name) and chmod 0600, or rerun ca install", say: { "libpq refuses it: it \($0)" }) {
                if let why = KeyFileRule.clientProblem(ownerUID: info.uid, mode: info.mode, isRegular: true) {
                    add(.fail, "sslkey", clientKeyPath, "libpq refuses it: it \(why)", fix: "chown \(user.name) and chmod 0600, or rerun ca install")
                } else {
                    key = try? PrivateKey(pem: text, passphrase: nil)
                }
            }
            checkLeaf(client, key: key, keyPath: clientKeyPath, path: clientCert, purpose: .client, name: nil, trust: clientTrust, crls: crls, "replication certificate", &out)
        }
        if let conninfo { checkConninfo(conninfo, &out) }
        if host.role == .standby {
            if version >= PostgresVersion(uncheckedMajor: 12, minor: 0) {
                if !exists(layout.standbySignal) {
                    add(.fail, "standby.signal", layout.standbySignal, "is missing: the server would start as a primary", fix: "ca install --link --configure")
                }
                if exists(layout.recoveryConf) {
                    add(.fail, "recovery.conf", layout.recoveryConf, "exists: PostgreSQL \(version) refuses to start with it", fix: "remove it; ca writes primary_conninfo to conf.d")
                }
            } else if !exists(layout.recoveryConf) {
                add(.fail, "recovery.conf", layout.recoveryConf, "is missing: the server would start as a primary", fix: "ca install --link --configure")
            }
        }
        return out
    }

    // MARK: Pieces

    private func checkLeaf(_ certificate: Certificate, key: PrivateKey?, keyPath: String?, path: String, purpose: ChainVerifier.Purpose, name: String?,
                           trust: [Certificate], crls: [CertificateRevocationList], _ what: String, _ out: inout [Finding]) {
        if let key {
            if certificate.matches(key) { out.append(Finding(level: .ok, check: what, path: keyPath, reason: "the key matches the certificate", fix: nil)) }
            else { out.append(Finding(level: .fail, check: what, path: keyPath, reason: "the key does not match \(path)", fix: "rerun ca install so both come from the same issue")) }
        }
        if !trust.isEmpty {
            if let why = ChainVerifier.failure(of: certificate, trusted: trust, crls: crls, purpose: purpose, hostName: name, at: now) {
                out.append(Finding(level: .fail, check: what, path: path, reason: "does not verify against the trust bundle: \(why)",
                                   fix: "install the matching bundle and certificate with ca install"))
            } else {
                out.append(Finding(level: .ok, check: what, path: path, reason: "chains to the trust bundle\(crls.isEmpty ? "" : " and is not revoked")\(name.map { ", names \($0)" } ?? "")", fix: nil))
            }
        }
        let left = certificate.notAfter.timeIntervalSince(now)
        if left <= 0 {
            out.append(Finding(level: .fail, check: what, path: path, reason: "expired on \(certificate.notAfter.iso8601)", fix: "ca renew, then ca install"))
        } else if left < Self.expiryWarning {
            out.append(Finding(level: .warn, check: what, path: path, reason: "expires in \(Int(left / 86_400)) days (\(certificate.notAfter.iso8601))", fix: "ca renew, then ca install"))
        }
    }

    private func checkCRL(_ crl: CertificateRevocationList, path: String, trust: [Certificate], _ out: inout [Finding]) {
        guard trust.contains(where: { crl.isSigned(by: $0) }) else {
            out.append(Finding(level: .fail, check: "CRL", path: path, reason: "the CRL of '\(crl.issuer)' is not signed by any CA in the trust bundle", fix: "ca crl, then ca install"))
            return
        }
        guard let next = crl.nextUpdate else { return }
        let left = next.timeIntervalSince(now)
        if left <= 0 {
            out.append(Finding(level: .fail, check: "CRL", path: path, reason: "the CRL of '\(crl.issuer)' expired on \(next.iso8601): PostgreSQL refuses every client certificate",
                               fix: "ca crl, then ca install (or ca export / install --bundle)"))
        } else if left < Self.crlWarning {
            out.append(Finding(level: .warn, check: "CRL", path: path, reason: "the CRL of '\(crl.issuer)' expires in \(Int(left / 3600)) hours", fix: "ca crl, then ca install"))
        } else {
            out.append(Finding(level: .ok, check: "CRL", path: path, reason: "signed by '\(crl.issuer)', next update \(next.iso8601)", fix: nil))
        }
    }

    /// A standby's primary_conninfo (recovery.conf before 12), parsed into key=value.
    private func standbyConninfo(settings: PostgresSettings, _ out: inout [Finding]) -> [String: String]? {
        guard host.role == .standby else { return nil }
        var text = settings["primary_conninfo"]
        if host.postgresVersion < PostgresVersion(uncheckedMajor: 12, minor: 0) {
            var ignored: [Finding] = []
            text = readFile(layout.recoveryConf, "recovery.conf", accounts.user(host.osUser)!, &ignored).flatMap { data in
                data.components(separatedBy: "\n").compactMap(PostgresSettings.parse).last { $0.0 == "primary_conninfo" }?.1
            }
        }
        guard let text, !text.isEmpty else {
            out.append(Finding(level: .fail, check: "primary_conninfo", path: layout.includeFile, reason: "is not set", fix: "ca install --link --configure"))
            return nil
        }
        var parts: [String: String] = [:]
        for item in text.split(separator: " ") {
            let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { parts[pair[0]] = pair[1].trimming { $0 == "'" } }
        }
        return parts
    }

    private func checkConninfo(_ conninfo: [String: String], _ out: inout [Finding]) {
        // A keyword this standby's libpq does not know stops the walreceiver ("invalid connection option").
        for key in conninfo.keys.sorted() {
            if let since = PostgresConfig.libpqKeywordSince[key], host.postgresVersion < PostgresVersion(uncheckedMajor: since, minor: 0) {
                out.append(Finding(level: .fail, check: "primary_conninfo", path: nil,
                                   reason: "has \(key)=, which libpq knows from \(since) on: the walreceiver of PostgreSQL \(host.postgresVersion) refuses the whole conninfo",
                                   fix: "ca install --link --configure (ca writes only what this version's libpq knows)"))
            }
        }
        if conninfo["sslmode"] != "verify-full" {
            out.append(Finding(level: .fail, check: "primary_conninfo", path: nil, reason: "sslmode is '\(conninfo["sslmode"] ?? "prefer")', not verify-full: any host with a certificate from this CA could pose as the primary",
                               fix: "ca install --link --configure"))
        }
        for key in ["sslcert", "sslkey", "sslrootcert", "sslcrl"] where conninfo[key] == nil {
            out.append(Finding(level: .warn, check: "primary_conninfo", path: nil, reason: "no explicit \(key): libpq falls back to ~/.postgresql, which follows $HOME", fix: "ca install --link --configure"))
        }
        guard let name = conninfo["host"] else {
            out.append(Finding(level: .fail, check: "primary_conninfo", path: nil, reason: "has no host=: verify-full needs a name to check", fix: "ca install --link --configure"))
            return
        }
        guard let primaryCertificate else {
            out.append(Finding(level: .warn, check: "primary_conninfo", path: nil, reason: "cannot check host=\(name) against the primary's certificate without the CA database", fix: nil))
            return
        }
        let names = primaryCertificate.subjectAlternativeNames
        let matches = names.contains { name.lowercased() == $0.value.lowercased() }
        if matches {
            out.append(Finding(level: .ok, check: "primary_conninfo", path: nil, reason: "host=\(name) is in the primary's certificate", fix: nil))
        } else {
            out.append(Finding(level: .fail, check: "primary_conninfo", path: nil,
                               reason: "host=\(name) is not in the primary's certificate (\(names.map(\.value).joined(separator: ", "))): verify-full will refuse it",
                               fix: "use one of those names, or add it with 'ca host' and reissue the primary"))
        }
    }

    /// A file as the OS user reaches it (links followed, every directory searchable, the file
    /// readable by it): its text and attributes, or a FAIL saying why not. Nothing is read that the
    /// OS user could not read itself.
    private func readFileAndInfo(_ path: String, _ check: String, _ user: Account, _ out: inout [Finding],
                                 before rule: ((FileRoot.Info) -> String?)? = nil, fix: String? = nil,
                                 say: (String) -> String = { $0 }) -> (String, FileRoot.Info)? {
        if let rule, let info = (try? root.chase(path))?.info, info.kind == .regular, let why = rule(info) {
            out.append(Finding(level: .fail, check: check, path: path, reason: say(why), fix: fix))
            return nil
        }
        switch root.readAs(user, path) {
        case .read(let bytes, let info, _):
            return (String(decoding: bytes, as: UTF8.self), info)
        case .missing(let dangling):
            out.append(Finding(level: .fail, check: check, path: path, reason: dangling ? "is a link to a missing file" : "does not exist", fix: "ca install --link"))
        case .refused(let why):
            out.append(Finding(level: .fail, check: check, path: path, reason: why, fix: "rerun ca install, or fix the owner and mode of what it names"))
        }
        return nil
    }

    private func readFile(_ path: String, _ check: String, _ user: Account, _ out: inout [Finding]) -> String? {
        readFileAndInfo(path, check, user, &out)?.0
    }

    private func exists(_ path: String) -> Bool { (try? root.chase(path))?.info != nil }
}

extension Doctor {
    /// A doctor for a host the CA database knows, with its primary's certificate for the conninfo check.
    public static func forHost(_ name: String, store: CAStore, root: String, dataDirectory: AbsolutePath? = nil, configDirectory: AbsolutePath? = nil,
                               now: Date = Clock.now()) throws -> Doctor {
        var host = try store.host(named: name)
        if let dataDirectory { host.dataDirectory = dataDirectory }
        if let configDirectory { host.configDirectory = configDirectory }
        var primaryCertificate: Certificate?
        if host.role == .standby, let primary = try store.hosts().first(where: { $0.role == .primary }),
           let record = try store.certificates(CertificateFilter(hostName: primary.name.value, kind: .server, status: .active)).last {
            primaryCertificate = try CAError.translatingCrypto { try Certificate(pem: record.certificatePEM) }
        }
        let home = SystemAccounts().user(host.osUser)?.home ?? "/var/lib/postgresql"
        let layout = InstallLayout(root: root, caName: try store.activeAuthority().name, host: host, osUserHome: home)
        return Doctor(host: host, layout: layout, primaryCertificate: primaryCertificate, now: now)
    }
}
