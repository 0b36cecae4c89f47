/// The PostgreSQL lines `ca` writes for a host, per major version (reference §4, §5, §8).
/// Every value that reaches these lines was validated (names, paths, roles), so nothing needs quoting
/// beyond the surrounding '…'.
public struct PostgresConfig: Sendable {
    public let host: PostgresHost
    public let peers: [PostgresHost]
    public let layout: InstallLayout

    public init(host: PostgresHost, peers: [PostgresHost], layout: InstallLayout) {
        self.host = host
        self.peers = peers
        self.layout = layout
    }

    public static let beginMarker = "# BEGIN ca (managed by 'ca install --configure'; edits inside are replaced)"
    public static let endMarker = "# END ca"
    public static let includeFileName = "ca-ssl.conf"

    var version: PostgresVersion { host.postgresVersion }
    func atLeast(_ major: Int, _ minor: Int = 0) -> Bool { version >= PostgresVersion(uncheckedMajor: major, minor: minor) }

    /// The primary this host replicates from (nil for a primary).
    public func upstream() throws -> PostgresHost? {
        guard host.role == .standby else { return nil }
        let primaries = peers.filter { $0.role == .primary }
        guard let primary = primaries.first else {
            throw CAError.invalid("standby '\(host.name)' has no primary to replicate from",
                                  fix: "Register the primary with 'ca host add NAME --role primary'.")
        }
        if primaries.count > 1 {
            throw CAError.invalid("standby '\(host.name)' sees \(primaries.count) primaries (\(primaries.map(\.name.value).joined(separator: ", ")))",
                                  fix: "Keep one host with --role primary.")
        }
        return primary
    }

    /// `postgresql.conf` settings: the body of conf.d/ca-ssl.conf.
    public func serverSettings() throws -> [String] {
        var lines = ["# Written by ca for \(host.role.rawValue) '\(host.name)' (PostgreSQL \(version)). 'ca install --configure' rewrites this file.",
                     "ssl = on"]
        if atLeast(9, 2) {
            // Absolute paths: Debian's postgresql.conf names the snakeoil files, and these lines come after it.
            lines += ["ssl_cert_file = '\(layout.dataLink("server.crt"))'",
                      "ssl_key_file = '\(layout.dataLink("server.key"))'",
                      "ssl_ca_file = '\(layout.dataLink("root.crt"))'",
                      "ssl_crl_file = '\(layout.dataLink("root.crl"))'"]
        } else {
            lines.append("# PostgreSQL 9.1 reads server.crt, server.key, root.crt and root.crl from the data directory by fixed names.")
        }
        if atLeast(12) { lines.append("ssl_min_protocol_version = 'TLSv1.2'") }
        if !atLeast(10) {
            lines += ["wal_level = hot_standby", "max_wal_senders = 5"]
            if host.role == .standby { lines.append("hot_standby = on") }
        }
        if atLeast(12), let conninfo = try primaryConninfo() { lines.append("primary_conninfo = '\(conninfo)'") }
        return lines
    }

    /// The libpq keywords ca may write, by the major whose libpq first knows them. libpq refuses a
    /// conninfo with a keyword it does not know ("invalid connection option"), and the walreceiver
    /// then never connects: each keyword is gated on the standby's version (its libpq runs the
    /// walreceiver), never on the primary's. Doctor checks a conninfo against the same table.
    public static let libpqKeywordSince: [String: Int] = [
        "sslcrldir": 14, "sslsni": 14, "require_auth": 16, "sslcertmode": 16, "sslnegotiation": 17, "sslkeylogfile": 18,
        "target_session_attrs": 10, "channel_binding": 13, "ssl_min_protocol_version": 13, "ssl_max_protocol_version": 13,
        "sslpassword": 13, "gssencmode": 12, "tcp_user_timeout": 12, "load_balance_hosts": 16, "oauth_issuer": 18, "oauth_client_id": 18,
    ]

    /// The standby's connection string: verify-full against a name in the primary's SAN, explicit
    /// client files; from 16 the server may not ask for a password (require_auth=none) and a missing
    /// client certificate is an error, not a silent fallback (sslcertmode=require); from 17, when the
    /// primary is 17 too, TLS starts at once (sslnegotiation=direct, one round trip less).
    public func primaryConninfo() throws -> String? {
        guard let primary = try upstream() else { return nil }
        var parts = ["host=\(primary.name.value)"]
        if let ip = primary.ipAddresses.first { parts.append("hostaddr=\(ip)") }
        parts += ["port=\(primary.port)", "user=\(host.replicationUser)", "application_name=\(try uniqueApplicationName(primary: primary))",
                  "sslmode=verify-full", "sslcert=\(layout.clientCertificate)", "sslkey=\(layout.clientKey)",
                  "sslrootcert=\(layout.trustBundle)", "sslcrl=\(layout.crl)"]
        if atLeast(16) { parts += ["sslcertmode=require", "require_auth=none"] }
        if atLeast(17) && primary.postgresVersion >= PostgresVersion(uncheckedMajor: 17, minor: 0) { parts.append("sslnegotiation=direct") }
        return parts.joined(separator: " ")
    }

    /// application_name: the host's full name, so two standbys never share one in
    /// pg_stat_replication or synchronous_standby_names (db2.dc1 and db2.dc2 are different hosts).
    /// PostgreSQL keeps 63 bytes of it; a longer name is cut there.
    static func applicationName(of host: PostgresHost) -> String { String(decoding: Array(host.name.value.utf8).prefix(63), as: UTF8.self) }
    var applicationName: String { Self.applicationName(of: host) }

    /// The name, refused if another standby of the same primary would show the same one (only
    /// possible for names longer than 63 bytes).
    func uniqueApplicationName(primary: PostgresHost) throws -> String {
        let name = applicationName
        if let clash = peers.first(where: { $0.role == .standby && $0.name != host.name && Self.applicationName(of: $0) == name }) {
            throw CAError.invalid("standbys '\(host.name)' and '\(clash.name)' of '\(primary.name)' would both be application_name '\(name)' (PostgreSQL keeps 63 bytes)",
                                  fix: "Give one of them a name that differs in its first 63 characters.")
        }
        return name
    }

    /// recovery.conf (9.1–11), or nil from 12 on (standby.signal + primary_conninfo instead).
    public func recoveryConf() throws -> [String]? {
        guard host.role == .standby, !atLeast(12), let conninfo = try primaryConninfo() else { return nil }
        return ["# Written by ca for standby '\(host.name)'. 'ca install --configure' rewrites this file.",
                "standby_mode = 'on'", "primary_conninfo = '\(conninfo)'", "recovery_target_timeline = 'latest'"]
    }

    /// Whether this host needs `standby.signal` (12+ standbys).
    public var needsStandbySignal: Bool { host.role == .standby && atLeast(12) }

    /// The pg_hba.conf block: certificate-only replication from every peer, then plaintext replication refused.
    public func hbaLines() -> [String] {
        var lines = ["# TYPE   DATABASE     USER         ADDRESS          METHOD"]
        var written: Set<String> = []
        for peer in peers where peer.name != host.name {
            let addresses = peer.ipAddresses.map { $0.bytes.count == 4 ? "\($0)/32" : "\($0)/128" }
            // Peers that share an address and a role need the line once (first match wins anyway).
            for address in addresses.isEmpty ? [peer.name.value] : addresses {
                let line = "hostssl  replication  \(peer.replicationUser)  \(address)  cert"
                if written.insert(line).inserted { lines.append(line) }
            }
        }
        lines += ["hostnossl replication all 0.0.0.0/0 reject", "hostnossl replication all ::/0 reject"]
        return lines
    }

    /// How to ask for a password as well as the certificate, in this version's syntax (for pg-config).
    public var twoFactorExample: String {
        let peer = peers.first { $0.name != host.name }
        let address = peer?.ipAddresses.first.map { $0.bytes.count == 4 ? "\($0)/32" : "\($0)/128" } ?? "ADDRESS"
        let role = peer?.replicationUser ?? host.replicationUser
        if atLeast(12) { return "hostssl  replication  \(role)  \(address)  scram-sha-256 clientcert=verify-full" }
        return "hostssl  replication  \(role)  \(address)  md5 clientcert=1"
    }

    /// Replaces the marked block in `text`, or puts it first (pg_hba.conf is first-match, so our
    /// lines must precede Debian's 'host replication … scram-sha-256').
    public static func withBlock(_ block: [String], in text: String, atTop: Bool) -> String {
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        let body = [beginMarker] + block + [endMarker]
        if let start = lines.firstIndex(of: beginMarker), let end = lines[start...].firstIndex(of: endMarker) {
            lines.replaceSubrange(start...end, with: body)
        } else if atTop {
            lines.insert(contentsOf: body + [""], at: 0)
        } else {
            lines += [""] + body
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The include line postgresql.conf needs for conf.d/ca-ssl.conf, or nil when it already has one.
    public func includeBlock(for postgresqlConf: String) -> [String]? {
        let active = postgresqlConf.components(separatedBy: "\n").map { $0.trimmedSpaces }
            .filter { !$0.hasPrefix("#") }
        let hasConfD = active.contains { $0.contains(#/^include_dir\s*=?\s*'(\./)?conf\.d/?'/#) }
        if hasConfD || active.contains(where: { $0.contains("conf.d/\(Self.includeFileName)") }) { return nil }
        return atLeast(9, 3) ? ["include_if_exists = 'conf.d/\(Self.includeFileName)'"] : ["include 'conf.d/\(Self.includeFileName)'"]
    }
}
