import Foundation

/// What a host was last given.
public struct Deployment: Sendable {
    public enum Via: String, Sendable { case install, export }
    public var hostName: String
    public var at: Date
    public var via: Via
    /// subjectKeyIdentifiers (hex) of the CA certificates in the host's trust bundle.
    public var trustKeyIDs: [String]
    public var serverSerial: String?
    public var clientSerial: String?
}

extension CAStore {
    public func recordDeployment(_ deployment: Deployment) throws {
        try db.query("""
            INSERT INTO deployments (host_name, at, via, trust_key_ids, server_serial, client_serial) VALUES (?, ?, ?, ?, ?, ?)
            """, [.text(deployment.hostName), .integer(deployment.at.unixSeconds), .text(deployment.via.rawValue),
                  .text(deployment.trustKeyIDs.joined(separator: "\n")),
                  deployment.serverSerial.map { .text($0) } ?? .null, deployment.clientSerial.map { .text($0) } ?? .null])
    }

    /// The newest deployment of each host.
    public func lastDeployments() throws -> [String: Deployment] {
        var out: [String: Deployment] = [:]
        for row in try db.query("SELECT * FROM deployments WHERE id IN (SELECT max(id) FROM deployments GROUP BY host_name)") {
            let ids = row.string("trust_key_ids")
            out[row.string("host_name")] = Deployment(
                hostName: row.string("host_name"), at: row.date("at"), via: Deployment.Via(rawValue: row.string("via")) ?? .install,
                trustKeyIDs: ids.isEmpty ? [] : ids.components(separatedBy: "\n"),
                serverSerial: row.optionalString("server_serial"), clientSerial: row.optionalString("client_serial"))
        }
        return out
    }
}
