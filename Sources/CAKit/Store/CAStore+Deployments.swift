import FoundationEssentials

/// What a host was last given.
public struct Deployment: Sendable {
    /// `install`: by `ca install HOST` on this machine; `deploy`: over ssh, after the remote reported
    /// success; `export`: a bundle was handed out (nothing confirms it was installed).
    public enum Via: String, Sendable { case install, export, deploy }
    public var hostName: String
    public var at: Date
    public var via: Via
    /// subjectKeyIdentifiers (hex) of the CA certificates in the host's trust bundle.
    public var trustKeyIDs: [String]
    public var serverSerial: String?
    public var clientSerial: String?
    /// `HostMaterial.digest` of what was given; nil on rows from before it was recorded.
    public var materialDigest: String?

    /// Installed by ca itself (here or over ssh), not only handed out.
    public var confirmed: Bool { via != .export }
}

/// The last probe of a host, as `ca probe` saw it.
public struct ProbeRecord: Sendable {
    public var hostName: String
    public var at: Date
    public var result: String
    public var servedSerial: String?
    public var detail: String

    public init(hostName: String, at: Date, result: String, servedSerial: String?, detail: String) {
        self.hostName = hostName
        self.at = at
        self.result = result
        self.servedSerial = servedSerial
        self.detail = detail
    }
}

extension CAStore {
    public func recordDeployment(_ deployment: Deployment) throws {
        try db.query("""
            INSERT INTO deployments (host_name, at, via, trust_key_ids, server_serial, client_serial, material_digest) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [.text(deployment.hostName), .integer(deployment.at.unixSeconds), .text(deployment.via.rawValue),
                  .text(deployment.trustKeyIDs.joined(separator: "\n")),
                  deployment.serverSerial.map { .text($0) } ?? .null, deployment.clientSerial.map { .text($0) } ?? .null,
                  deployment.materialDigest.map { .text($0) } ?? .null])
    }

    /// The newest deployment of each host (any kind, exports included: rotation counts a handed-out bundle).
    public func lastDeployments() throws -> [String: Deployment] {
        try deployments(where: "SELECT max(id) FROM deployments GROUP BY host_name")
    }

    /// The newest confirmed deployment of each host: installed by ca, here or over ssh.
    public func lastConfirmedDeployments() throws -> [String: Deployment] {
        try deployments(where: "SELECT max(id) FROM deployments WHERE via IN ('install', 'deploy') GROUP BY host_name")
    }

    private func deployments(where ids: String) throws -> [String: Deployment] {
        var out: [String: Deployment] = [:]
        for row in try db.query("SELECT * FROM deployments WHERE id IN (\(ids))") {
            let keyIDs = row.string("trust_key_ids")
            out[row.string("host_name")] = Deployment(
                hostName: row.string("host_name"), at: row.date("at"), via: Deployment.Via(rawValue: row.string("via")) ?? .install,
                trustKeyIDs: keyIDs.isEmpty ? [] : keyIDs.components(separatedBy: "\n"),
                serverSerial: row.optionalString("server_serial"), clientSerial: row.optionalString("client_serial"),
                materialDigest: row.optionalString("material_digest"))
        }
        return out
    }

    /// Keeps the newest probe of the host (one row per host).
    public func recordProbe(_ probe: ProbeRecord) throws {
        try db.query("""
            INSERT INTO probes (host_name, at, result, served_serial, detail) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (host_name) DO UPDATE SET at = excluded.at, result = excluded.result,
                served_serial = excluded.served_serial, detail = excluded.detail
            """, [.text(probe.hostName), .integer(probe.at.unixSeconds), .text(probe.result),
                  probe.servedSerial.map { .text($0) } ?? .null, .text(String(probe.detail.prefix(500)))])
    }

    public func lastProbes() throws -> [String: ProbeRecord] {
        var out: [String: ProbeRecord] = [:]
        for row in try db.query("SELECT * FROM probes") {
            out[row.string("host_name")] = ProbeRecord(hostName: row.string("host_name"), at: row.date("at"), result: row.string("result"),
                                                       servedSerial: row.optionalString("served_serial"), detail: row.string("detail"))
        }
        return out
    }
}

/// One `ca maintain` that ran to its end.
public struct MaintainRun: Sendable {
    public var startedAt: Date
    public var finishedAt: Date
    public var ok: Bool
    public var summary: String
}

extension CAStore {
    public func recordMaintainRun(_ run: MaintainRun) throws {
        try db.query("INSERT INTO maintain_runs (started_at, finished_at, ok, summary) VALUES (?, ?, ?, ?)",
                     [.integer(run.startedAt.unixSeconds), .integer(run.finishedAt.unixSeconds), .integer(run.ok ? 1 : 0), .text(run.summary)])
    }

    /// The last run, and the last one that was ok.
    public func lastMaintainRuns() throws -> (last: MaintainRun?, lastOK: MaintainRun?) {
        func row(_ sql: String) throws -> MaintainRun? {
            try db.query(sql).first.map {
                MaintainRun(startedAt: $0.date("started_at"), finishedAt: $0.date("finished_at"), ok: $0.int("ok") == 1, summary: $0.string("summary"))
            }
        }
        return (try row("SELECT * FROM maintain_runs ORDER BY id DESC LIMIT 1"), try row("SELECT * FROM maintain_runs WHERE ok = 1 ORDER BY id DESC LIMIT 1"))
    }
}
