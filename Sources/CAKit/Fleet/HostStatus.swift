import FoundationEssentials

/// Per host, for `ca status`: what it was last given and how, what the last probe saw, and what it
/// must install next. Read from the database alone (no passphrase).
public struct HostStatus: Sendable, Encodable {
    public let host: String
    public let role: String
    public let deployedAt: Date?
    public let deployedVia: String?
    public let deployedServerSerial: String?
    public let deployedClientSerial: String?
    public let probeResult: String?
    public let probeAt: Date?
    public let probeDetail: String?
    /// nil when the host has everything; else what it must install next, in words.
    public let next: String?

    public static func all(store: CAStore) throws -> [HostStatus] {
        let hosts = try store.hosts()
        guard !hosts.isEmpty else { return [] }
        let deployments = try store.lastDeployments()
        let confirmed = try store.lastConfirmedDeployments()
        let probes = try store.lastProbes()
        let context = try HostMaterial.DigestContext(store: store)
        let rekeys = try store.rekeyRequests()
        var rotationNext: [String: String] = [:]
        if try store.openRotation() != nil {
            for state in try Rotation(store: store, vault: KeyVault { nil }).status().hosts {
                if let next = state.next { rotationNext[state.host] = next }
            }
        }
        return try hosts.map { host in
            let name = host.name.value
            let last = deployments[name]
            let probe = probes[name]
            let active = try store.certificates(CertificateFilter(hostName: name, status: .active))
            let server = active.last { $0.kind == .server }?.serial.hex
            let client = active.last { $0.kind == .client }?.serial.hex
            let next: String?
            if server == nil || client == nil {
                next = host.keyPolicy == .host ? "deploy: keys to be made there and signed (or ca request there, ca sign \(name))" : "certificates: ca issue \(name)"
            } else if let since = rekeys[name] {
                next = "deploy: new keys made there for its renewal (asked \(since.iso8601))"
            } else if let step = rotationNext[name] {
                next = step
            } else if let done = confirmed[name] {
                let digest = try HostMaterial.currentDigest(hostName: name, store: store, context: context)
                if digest != nil && done.materialDigest == digest {
                    let exportedSince = last.map { $0.via == .export && $0.at > done.at } ?? false
                    next = exportedSince ? "nothing (a bundle was exported since; not confirmed installed)" : nil
                } else if let recorded = done.materialDigest, recorded == (digest ?? "") + Deployer.filesOnlySuffix {
                    next = "deploy: links and config (the last deploy was --files-only)"
                } else if done.serverSerial != server || done.clientSerial != client {
                    next = "deploy: its renewed certificates (server \(server!.prefix(12)), client \(client!.prefix(12)))"
                } else if done.trustKeyIDs.sorted() != context.trustKeyIDs.sorted() {
                    next = "deploy: the current trust bundle"
                } else {
                    next = "deploy: a newer CRL or changed host records"
                }
            } else if let last, last.via == .export {
                next = "deploy: exported \(last.at.iso8601), never confirmed installed"
            } else {
                next = "deploy: never installed through ca"
            }
            return HostStatus(host: name, role: host.role.rawValue, deployedAt: last?.at, deployedVia: last?.via.rawValue,
                              deployedServerSerial: last?.serverSerial, deployedClientSerial: last?.clientSerial,
                              probeResult: probe?.result, probeAt: probe?.at, probeDetail: probe?.detail, next: next)
        }
    }
}
