import FoundationEssentials

/// One `deploy` over a set of hosts, as `ca deploy` and `ca maintain` run it: hosts that make their own
/// keys and need certificates first `ca request` there (signed here as each envelope arrives); then every
/// host's material is assembled and carried (standbys first), each success recorded as it is reported,
/// each failure in the audit log. Callbacks run on the calling thread, where the database is.
public final class FleetDeploy {
    public struct Options: Sendable {
        public var dryRun = false
        /// Skip hosts whose last confirmed deployment has the current material (and a clean probe since).
        public var skipCurrent = false
        public var pinAll = false
        public var filesOnly = false
        /// Hosts that make their own keys make new ones.
        public var newKey = false
        /// A standby whose replication certificate changed ends its walreceiver connection, so the new
        /// certificate is the one its primary sees from now on.
        public var reconnect = false
        public var parallel = 8
        public init() {}
    }

    /// What the caller is told as the run goes.
    public struct Events {
        /// A phase begins: "request" or "deploy", with how many hosts it contacts.
        public var phase: (String, Int) -> Void = { _, _ in }
        public var started: (String) -> Void = { _ in }
        public var finished: (Deployer.Result) -> Void = { _ in }
        /// A host that was not contacted (up to date, or a dry run's request round).
        public var skipped: (Deployer.Result) -> Void = { _ in }
        public init() {}
    }

    public let store: CAStore
    public let vault: KeyVault
    public let transport: SSHTransport

    public init(store: CAStore, vault: KeyVault, transport: SSHTransport) {
        self.store = store
        self.vault = vault
        self.transport = transport
    }

    /// Runs the hosts; returns one result per host, in the order given.
    public func run(_ hosts: [PostgresHost], options: Options, now: Date, events: Events = Events()) throws -> [Deployer.Result] {
        var results: [Deployer.Result] = []
        try requestRound(hosts, options: options, now: now, events: events, results: &results)
        let deployable = hosts.filter { host in !results.contains { $0.host == host.name.value } }
        let prepared = try Deployer.prepare(deployable, store: store, vault: vault, now: now, dryRun: options.dryRun,
                                            skipCurrent: options.skipCurrent, pinAll: options.pinAll, filesOnly: options.filesOnly)
        var work: [Deployer.Target] = []
        for item in prepared {
            switch item {
            case .target(let target): work.append(target)
            case .upToDate(let host, let since):
                let result = Deployer.Result.upToDate(host, since: since)
                results.append(result)
                events.skipped(result)
            }
        }
        events.phase("deploy", work.count)
        let byHost = Dictionary(uniqueKeysWithValues: work.map { ($0.host.name.value, $0) })
        var deployOptions = Deployer.Options(dryRun: options.dryRun, link: !options.filesOnly, parallel: options.parallel)
        deployOptions.reconnect = options.reconnect
        results += Deployer.run(work, transport: transport, options: deployOptions, started: { events.started($0.host.name.value) }) { result in
            if !options.dryRun, let target = byHost[result.host] { record(result, target: target) }
            events.finished(result)
        }
        let order = Dictionary(uniqueKeysWithValues: hosts.enumerated().map { ($1.name.value, $0) })
        return results.sorted { order[$0.host, default: 0] < order[$1.host, default: 0] }
    }

    /// Hosts that make their own keys and need certificates: `ca request` there (in parallel), each
    /// envelope signed here as it arrives. A failed host gets its result now and is not installed.
    func requestRound(_ hosts: [PostgresHost], options: Options, now: Date, events: Events, results: inout [Deployer.Result]) throws {
        let rekeys = try store.rekeyRequests()
        let needing: [(PostgresHost, newKey: Bool)] = try hosts.compactMap { host in
            guard host.keyPolicy == .host else { return nil }
            let active = try store.certificates(CertificateFilter(hostName: host.name.value, status: .active))
            let complete = active.contains { $0.kind == .server } && active.contains { $0.kind == .client }
            // A certificate revoked and not replaced: its key may be compromised, so new keys, never the old one again.
            let revoked = try complete ? false : !store.certificates(CertificateFilter(hostName: host.name.value, status: .revoked)).isEmpty
            let renew = options.newKey || rekeys[host.name.value] != nil || revoked
            return complete && !renew ? nil : (host, renew)
        }
        guard !needing.isEmpty else { return }
        if options.dryRun {
            for (host, _) in needing {
                var result = Deployer.Result(host: host.name.value, role: host.role.rawValue, result: .wouldChange, seconds: 0)
                result.changes = [Deployer.Change(path: "keys and requests made on the host, signed here, then installed there", outcome: "requested")]
                results.append(result)
                events.skipped(result)
            }
            return
        }
        let prepared = try Deployer.prepareRequests(needing, store: store, vault: vault, now: now, pinAll: options.pinAll)
        events.phase("request", prepared.count)
        let trusted = try store.trustedAuthorities().map { try $0.certificate().publicKeyFingerprint }
        let caName = try store.activeAuthority().name
        let issuer = Issuer(store: store, vault: vault, now: { now })
        Deployer.requestAll(prepared, transport: transport, parallel: options.parallel, started: { events.started($0.host.name.value) }) { target, outcome in
            let name = target.host.name.value
            var failed: Deployer.Result?
            switch outcome {
            case .failed(let result): failed = result
            case .envelope(let bytes, let version, let seconds):
                do {
                    let envelope = try HostRequest.decode(bytes)
                    try envelope.check(hostName: name, caName: caName, trustedKeyIDs: trusted)
                    _ = try issuer.sign(host: name, server: envelope.server, replication: envelope.replication)
                } catch {
                    var result = Deployer.Result(host: name, role: target.host.role.rawValue, result: .failed, seconds: seconds)
                    result.stage = .sign
                    result.remoteVersion = version
                    result.error = "\(error.message)"
                    failed = result
                }
            }
            if let failed {
                results.append(failed)
                record(failed, target: nil)
                events.finished(failed)
            }
        }
    }

    /// The deployment is recorded only now, after the remote said it succeeded; a failure is in the audit
    /// log. A database error here does not undo the remote's work: it is reported in the result's notes.
    func record(_ result: Deployer.Result, target: Deployer.Target?) {
        do {
            try store.write {
                if result.succeeded, let target {
                    var deployment = target.deployment
                    deployment.at = Clock.now()
                    try store.recordDeployment(deployment)
                    try store.record("deploy", subject: result.host,
                                     detail: "\(result.result.rawValue); server \(deployment.serverSerial ?? "-"), client \(deployment.clientSerial ?? "-"), \(deployment.trustKeyIDs.count) trusted root(s); ca \(result.remoteVersion ?? "?") there", at: deployment.at)
                } else if !result.succeeded {
                    try store.record("deploy failed", subject: result.host, detail: "\(result.stage?.rawValue ?? "?"): \(result.error ?? "")", at: Clock.now())
                }
            }
        } catch {
            recordingWarnings.append(result.succeeded
                ? "'\(result.host)' was deployed but the database could not record it (\(error.message)); rerun deploy for it"
                : "the failure of '\(result.host)' could not be written to the audit log (\(error.message))")
        }
    }

    /// Warnings from recording (read them after `run`).
    public private(set) var recordingWarnings: [String] = []
}
