import FoundationEssentials

extension CAStore {
    public func insertHost(_ host: PostgresHost, at now: Date) throws {
        guard try hostID(named: host.name.value) == nil else { throw CAError.hostExists(host.name.value) }
        try db.query("""
            INSERT INTO hosts (name, role, pg_version, data_dir, config_dir, os_user, replication_user, port, created_at, key_policy)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(host.name.value), .text(host.role.rawValue), .text(host.postgresVersion.description),
                  .text(host.dataDirectory.value), .text(host.configDirectory.value), .text(host.osUser),
                  .text(host.replicationUser), .integer(Int64(host.port)), .integer(now.unixSeconds), .text(host.keyPolicy.rawValue)])
        let id = try db.query("SELECT last_insert_rowid() AS id").first?.int("id") ?? 0
        let names = host.dnsNames.map { ("dns", $0.value) } + host.ipAddresses.map { ("ip", $0.description) }
        for (position, (kind, value)) in names.enumerated() {
            try db.query("INSERT INTO host_names (host_id, position, kind, value) VALUES (?, ?, ?, ?)",
                         [.integer(id), .integer(Int64(position)), .text(kind), .text(value)])
        }
    }

    /// Changes who makes the host's keys. Certificates already issued keep what they have.
    public func setKeyPolicy(_ policy: KeyPolicy, hostName: String) throws {
        try db.query("UPDATE hosts SET key_policy = ? WHERE name = ?", [.text(policy.rawValue), .text(hostName)])
        guard db.changes == 1 else { throw CAError.unknownHost(hostName) }
    }

    /// Asks for new keys from a host that makes its own (a renewal with a new key): its next
    /// deploy makes them there. Cleared when one of its requests is signed.
    public func requestRekey(hostName: String, at now: Date) throws {
        try db.query("UPDATE hosts SET rekey_requested_at = ? WHERE name = ? AND rekey_requested_at IS NULL", [.integer(now.unixSeconds), .text(hostName)])
    }

    public func clearRekey(hostName: String) throws {
        try db.query("UPDATE hosts SET rekey_requested_at = NULL WHERE name = ?", [.text(hostName)])
    }

    /// Drops the stored keys of the host's certificates that are no longer active (those the CA made
    /// before the host made its own), overwriting the freed pages (secure_delete), so the database of
    /// a host that makes its own keys ends up holding none of them.
    public func forgetInactiveKeys(hostName: String) throws {
        guard let id = try hostID(named: hostName) else { return }
        try db.query("PRAGMA secure_delete = ON")
        try db.query("""
            UPDATE certificate_material SET key_pem = NULL
            WHERE key_pem IS NOT NULL AND (authority_id, serial) IN
                  (SELECT authority_id, serial FROM certificates WHERE host_id = ? AND status != 'active')
            """, [.integer(id)])
    }

    /// Hosts waiting for new keys, and since when.
    public func rekeyRequests() throws -> [String: Date] {
        var out: [String: Date] = [:]
        for row in try db.query("SELECT name, rekey_requested_at FROM hosts WHERE rekey_requested_at IS NOT NULL") {
            out[row.string("name")] = Date(timeIntervalSince1970: TimeInterval(row.int("rekey_requested_at")))
        }
        return out
    }

    func hostID(named name: String) throws -> Int64? {
        try db.query("SELECT id FROM hosts WHERE name = ?", [.text(name)]).first?.int("id")
    }

    /// The host called `name`, or `unknownHost`.
    public func host(named name: String) throws -> PostgresHost {
        guard let row = try db.query("SELECT * FROM hosts WHERE name = ?", [.text(name)]).first else {
            throw CAError.unknownHost(name)
        }
        return try host(row, names: db.query("SELECT kind, value FROM host_names WHERE host_id = ? ORDER BY position", [.integer(row.int("id"))]))
    }

    /// Every host, by name. The names of all come from one query, not one a host (a third of the
    /// time when there are hundreds).
    public func hosts() throws -> [PostgresHost] {
        var names: [Int64: [SQLRow]] = [:]
        for row in try db.query("SELECT host_id, kind, value FROM host_names ORDER BY host_id, position") {
            names[row.int("host_id"), default: []].append(row)
        }
        return try db.query("SELECT * FROM hosts ORDER BY name").map { try host($0, names: names[$0.int("id")] ?? []) }
    }

    public func hostCount() throws -> Int {
        Int(try db.query("SELECT count(*) AS n FROM hosts").first?.int("n") ?? 0)
    }

    /// Removes the host; its certificates stay in the inventory with the host's name.
    public func deleteHost(named name: String) throws {
        try db.query("DELETE FROM hosts WHERE name = ?", [.text(name)])
        guard db.changes == 1 else { throw CAError.unknownHost(name) }
        try db.query("DELETE FROM probes WHERE host_name = ?", [.text(name)])
    }

    /// The host in `row`, with its rows of `host_names` (kind, value) in position order.
    private func host(_ row: SQLRow, names: [SQLRow]) throws -> PostgresHost {
        do {
            return try PostgresHost(
                name: HostName(row.string("name")),
                dnsNames: names.filter { $0.string("kind") == "dns" }.map { try HostName($0.string("value")) },
                ipAddresses: names.filter { $0.string("kind") == "ip" }.map { try IPAddress($0.string("value")) },
                role: HostRole(parsing: row.string("role")),
                postgresVersion: PostgresVersion(row.string("pg_version")),
                dataDirectory: AbsolutePath(row.string("data_dir"), what: "data directory"),
                configDirectory: AbsolutePath(row.string("config_dir"), what: "config directory"),
                osUser: row.string("os_user"), replicationUser: row.string("replication_user"), port: Int(row.int("port")),
                keyPolicy: KeyPolicy(parsing: row.string("key_policy")))
        } catch let error as CAError {
            throw CAError.notADatabase(path: path, reason: "host '\(row.string("name"))' fails validation (\(error.message))")
        }
    }
}
