import FoundationEssentials

/// A running primary and standby, and the checks that prove they replicate.
public struct ReplicationPair: Sendable {
    public let primary: LocalCluster
    public let standby: LocalCluster

    public init(primary: LocalCluster, standby: LocalCluster) {
        self.primary = primary
        self.standby = standby
    }

    /// The walsenders as `state|ssl|client_dn|client_serial` rows.
    public var walsenders: [String] {
        (try? primary.sql("SELECT r.state, s.ssl, s.client_dn, s.client_serial FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)"))?
            .split(separator: "\n").map(String.init) ?? []
    }

    /// Streaming, over TLS.
    public var streaming: Bool { walsenders.first?.hasPrefix("streaming|t|") == true }

    public func waitForStreaming(timeout: TimeInterval = 15) -> Bool { LocalCluster.wait(timeout: timeout) { streaming } }

    /// Ends the walsender, so the standby reconnects with whatever files are installed now.
    public func dropReplicationConnection() throws {
        _ = try primary.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication")
    }

    /// Writes a row on the primary, forces a reconnect, and waits (10 s each at most) for streaming to
    /// resume and the row to arrive. Throws with the standby's log when either does not happen.
    public func reconnectAndCheck(_ label: String) throws {
        _ = try primary.sql("INSERT INTO probe VALUES ('\(label)')")
        try dropReplicationConnection()
        guard LocalCluster.wait(timeout: 10, { streaming }) else {
            throw CAError.io("\(label): streaming did not resume within 10 s; standby log:\n\(standby.log.suffix(1500))")
        }
        guard LocalCluster.wait(timeout: 10, { (try? standby.sql("SELECT count(*) FROM probe WHERE label = '\(label)'")) == "1" }) else {
            throw CAError.io("\(label): the row written on the primary did not reach the standby")
        }
    }

    /// The shell command that stops both servers by their data directories.
    public var stopCommand: String {
        [standby, primary].map { "runuser -u \($0.osUser) -- \($0.binaries)/pg_ctl -D \($0.dataDirectory) -m fast stop" }.joined(separator: "; ")
    }
}
