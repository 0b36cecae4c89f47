import Foundation
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

    public init(host: PostgresHost, layout: InstallLayout, primaryCertificate: Certificate?, now: Date = Date()) {
        self.host = host
        self.layout = layout
        self.primaryCertificate = primaryCertificate
        self.now = now
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
        guard isDirectory(data) else {
            add(.fail, "data directory", data, "does not exist", fix: "Run initdb or pg_basebackup, then 'ca install --link'.")
            return out
        }
        let version = host.postgresVersion
        let settings = PostgresSettings(configFile: layout.postgresqlConf, dataDirectory: data)
        let modern = version >= PostgresVersion(uncheckedMajor: 9, minor: 2)

        // Which files the server will really read.
        if settings["ssl"].map({ ["on", "true", "yes", "1"].contains($0.lowercased()) }) != true {
            add(.fail, "ssl", layout.postgresqlConf, "ssl is not on in the settings in effect", fix: "ca install --link --configure")
        } else {
            add(.ok, "ssl", settings.origins["ssl"], "ssl = on")
        }
        func effective(_ setting: String, _ link: String) -> String? {
            guard modern else { return layout.dataLink(link) }
            guard let path = settings.path(setting, dataDirectory: data) else {
                if setting == "ssl_cert_file" || setting == "ssl_key_file" { return layout.dataLink(link) }  // defaults server.crt/.key
                add(.fail, setting, settings.origins[setting] ?? layout.postgresqlConf, "\(setting) is not set, so PostgreSQL ignores \(link)",
                    fix: "ca install --link --configure")
                return nil
            }
            if path != layout.dataLink(link) {
                let snakeoil = path.contains("snakeoil") ? " (Debian's snakeoil default wins over the links)" : ""
                add(.fail, setting, settings.origins[setting], "\(setting) = '\(path)' in effect, not ca's link \(layout.dataLink(link))\(snakeoil)",
                    fix: "ca install --link --configure")
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
        let server = certPath.flatMap { readFile($0, "ssl_cert_file", user, &out) }.flatMap { try? Certificate(pem: $0) }
        if let certPath, server == nil, FileManager.default.fileExists(atPath: certPath) { add(.fail, "ssl_cert_file", certPath, "is not a PEM certificate") }
        var serverKey: PrivateKey?
        if let keyPath, let info = statFollowing(keyPath, "ssl_key_file", &out) {
            if let why = KeyFileRule.serverProblem(version: version, ownerUID: info.st_uid, mode: info.st_mode, isRegular: info.st_mode & S_IFMT == S_IFREG, serverUID: user.uid) {
                add(.fail, "ssl_key_file", keyPath, "PostgreSQL \(version) refuses it: it \(why)",
                    fix: "chown root:ssl-cert and chmod 0640 (9.6+, OS user in ssl-cert), or chown \(user.name) and chmod 0600; or rerun ca install")
            } else if checkReadable(keyPath, info, "ssl_key_file", user, &out) {
                add(.ok, "ssl_key_file", keyPath, "owner \(accounts.userName(info.st_uid)):\(accounts.groupName(info.st_gid)) mode \(KeyFileRule.octal(info.st_mode & 0o777)) passes PostgreSQL \(version)'s rule")
                serverKey = FileManager.default.contents(atPath: keyPath).flatMap { try? PrivateKey(pem: String(decoding: $0, as: UTF8.self), passphrase: nil) }
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
            if let info = statFollowing(clientKeyPath, "sslkey", &out) {
                if let why = KeyFileRule.clientProblem(ownerUID: info.st_uid, mode: info.st_mode, isRegular: info.st_mode & S_IFMT == S_IFREG) {
                    add(.fail, "sslkey", clientKeyPath, "libpq refuses it: it \(why)", fix: "chown \(user.name) and chmod 0600, or rerun ca install")
                } else if checkReadable(clientKeyPath, info, "sslkey", user, &out) {
                    key = FileManager.default.contents(atPath: clientKeyPath).flatMap { try? PrivateKey(pem: String(decoding: $0, as: UTF8.self), passphrase: nil) }
                }
            }
            checkLeaf(client, key: key, keyPath: clientKeyPath, path: clientCert, purpose: .client, name: nil, trust: clientTrust, crls: crls, "replication certificate", &out)
        }
        if let conninfo { checkConninfo(conninfo, &out) }
        if host.role == .standby {
            if version >= PostgresVersion(uncheckedMajor: 12, minor: 0) {
                if !FileManager.default.fileExists(atPath: layout.standbySignal) {
                    add(.fail, "standby.signal", layout.standbySignal, "is missing: the server would start as a primary", fix: "ca install --link --configure")
                }
                if FileManager.default.fileExists(atPath: layout.recoveryConf) {
                    add(.fail, "recovery.conf", layout.recoveryConf, "exists: PostgreSQL \(version) refuses to start with it", fix: "remove it; ca writes primary_conninfo to conf.d")
                }
            } else if !FileManager.default.fileExists(atPath: layout.recoveryConf) {
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
            text = FileManager.default.contents(atPath: layout.recoveryConf).flatMap { data in
                String(decoding: data, as: UTF8.self).components(separatedBy: "\n").compactMap(PostgresSettings.parse).last { $0.0 == "primary_conninfo" }?.1
            }
        }
        guard let text, !text.isEmpty else {
            out.append(Finding(level: .fail, check: "primary_conninfo", path: layout.includeFile, reason: "is not set", fix: "ca install --link --configure"))
            return nil
        }
        var parts: [String: String] = [:]
        for item in text.split(separator: " ") {
            let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { parts[pair[0]] = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
        }
        return parts
    }

    private func checkConninfo(_ conninfo: [String: String], _ out: inout [Finding]) {
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

    /// stat() after links, as PostgreSQL does; a FAIL when it is missing or not a regular file.
    private func statFollowing(_ path: String, _ check: String, _ out: inout [Finding]) -> stat? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            var link = stat()
            let dangling = lstat(path, &link) == 0 && link.st_mode & S_IFMT == S_IFLNK
            out.append(Finding(level: .fail, check: check, path: path, reason: dangling ? "is a link to a missing file" : "does not exist", fix: "ca install --link"))
            return nil
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            out.append(Finding(level: .fail, check: check, path: path, reason: "is not a regular file", fix: "ca install --link"))
            return nil
        }
        return info
    }

    /// The OS user can search every directory above `path` and read the file.
    private func checkReadable(_ path: String, _ info: stat, _ check: String, _ user: Account, _ out: inout [Finding]) -> Bool {
        let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map { $0.hasPrefix("/") ? $0 : ((path as NSString).deletingLastPathComponent + "/" + $0) } ?? path
        var directory = (resolved as NSString).deletingLastPathComponent
        while !directory.isEmpty && directory != "/" {
            var dir = stat()
            if stat(directory, &dir) == 0, !user.may(0o1, owner: dir.st_uid, group: dir.st_gid, mode: dir.st_mode) {
                out.append(Finding(level: .fail, check: check, path: path, reason: "'\(user.name)' cannot search '\(directory)'", fix: "add '\(user.name)' to group '\(accounts.groupName(dir.st_gid))' or fix the directory's mode"))
                return false
            }
            directory = (directory as NSString).deletingLastPathComponent
        }
        guard user.may(0o4, owner: info.st_uid, group: info.st_gid, mode: info.st_mode) else {
            out.append(Finding(level: .fail, check: check, path: path, reason: "'\(user.name)' cannot read it (\(accounts.userName(info.st_uid)):\(accounts.groupName(info.st_gid)) \(KeyFileRule.octal(info.st_mode & 0o777)))",
                               fix: "add '\(user.name)' to group '\(accounts.groupName(info.st_gid))', or rerun ca install"))
            return false
        }
        return true
    }

    private func readFile(_ path: String, _ check: String, _ user: Account, _ out: inout [Finding]) -> String? {
        guard let info = statFollowing(path, check, &out), checkReadable(path, info, check, user, &out),
              let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}

extension Doctor {
    /// A doctor for a host the CA database knows, with its primary's certificate for the conninfo check.
    public static func forHost(_ name: String, store: CAStore, root: String, now: Date = Date()) throws -> Doctor {
        let host = try store.host(named: name)
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
