import FoundationEssentials

/// The host's side of `--keys host`: make (or reuse) the server and replication keys on this host,
/// where install will pair them with their certificates, and the requests for them.
public enum RequestMaker {
    public struct Result: Sendable {
        public let request: HostRequest
        /// Keys made now: kind ("server", "replication"), path, what the writer did.
        public let made: [(kind: String, path: String)]
        /// Keys already on the host that the requests are for.
        public let reused: [(kind: String, path: String)]
    }

    /// Reuses the key of each kind already on the host (a pending one, else the installed one) unless
    /// `newKey`; new keys are `keyType` (default ec-p256) and wait in the host's pending directory.
    public static func make(caName: String, host: PostgresHost, trustPEM: String, root: String, newKey: Bool, keyType: KeyType?,
                            now: Date, planner: InstallPlanner = InstallPlanner()) throws -> Result {
        let trust = try CAError.translatingCrypto { try Certificate.all(inPEM: trustPEM) }
        guard !trust.isEmpty else { throw CAError.invalid("the bundle's trust bundle is empty, so the request could name no CA") }
        let existing = try planner.existingKeys(host: host, caName: caName, root: root)
        var made: [(kind: String, path: String)] = [], reused: [(kind: String, path: String)] = []
        func key(_ kind: String, _ found: PrivateKey?) throws -> (PrivateKey, String?) {
            if let found, !newKey {
                if let keyType, keyType != found.type {
                    throw CAError.invalid("the \(kind) key on this host (\(existing.where[kind] ?? "?")) is \(found.type.rawValue), not \(keyType.rawValue)",
                                          fix: "Add --new-key to make a \(keyType.rawValue) key (it waits beside the current one until its certificate is installed).")
                }
                reused.append((kind, existing.where[kind] ?? ""))
                return (found, nil)
            }
            let fresh = try CAError.translatingCrypto { try PrivateKey(generating: keyType ?? .ecP256) }
            return (fresh, try CAError.translatingCrypto { try fresh.pkcs8PEM(passphrase: nil) })
        }
        let (serverKey, serverPEM) = try key("server", existing.server)
        let (clientKey, clientPEM) = try key("replication", existing.client)
        if serverPEM != nil || clientPEM != nil {
            let written = try planner.writePendingKeys(host: host, caName: caName, server: serverPEM, client: clientPEM, root: root, now: now)
            for (path, _) in written { made.append((path.hasSuffix(InstallLayout.generationFiles.serverKey) ? "server" : "replication", path)) }
        }
        let server = Profile.server(host: host), client = Profile.replicationClient(host: host)
        let request = try CAError.translatingCrypto {
            HostRequest(caName: caName, caKeyIDs: trust.map { $0.publicKeyFingerprint.lowercased() }, hostName: host.name.value, createdAt: now,
                        server: try CertificateRequest.make(subject: server.subject, names: server.subjectAlternativeNames, key: serverKey),
                        replication: try CertificateRequest.make(subject: client.subject, names: [], key: clientKey))
        }
        return Result(request: request, made: made, reused: reused)
    }
}
