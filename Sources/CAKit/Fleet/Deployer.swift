import FoundationEssentials

/// `ca deploy`: each host's material carried over the operator's ssh and installed there by the
/// remote's own `ca install --bundle -`. Hosts run in parallel with a bound, standbys before
/// primaries; the caller records each success as it is reported (never before).
///
/// The keys travel in a plain-key bundle on ssh's standard input: inside the ssh channel, never on a
/// command line, in a file or in an environment on either side; the remote reads the bundle into
/// memory and writes each key only to its final path (SafeFileWriter: a new file of the final mode
/// in the final directory, renamed into place). A bundle passphrase would add nothing here: it would
/// have to cross the same channel, and a prompt cannot be answered by a parallel run. The bundle is
/// signed by the CA keys, and the remote checks that against the trust it already has.
public enum Deployer {
    /// One host to deploy, prepared in the database's thread: nothing here touches the store.
    public struct Target: Sendable {
        public let host: PostgresHost
        public let bundle: [UInt8]
        /// What the deployments table records once the remote reports success.
        public let deployment: Deployment
        /// The CA fingerprint for a host that has no trust bundle from ca yet.
        public let pin: String?

        public init(host: PostgresHost, bundle: [UInt8], deployment: Deployment, pin: String?) {
            self.host = host
            self.bundle = bundle
            self.deployment = deployment
            self.pin = pin
        }
    }

    public enum Stage: String, Sendable, Encodable { case connect, version, request, sign, install }

    /// One file the remote would change (dry run) or changed.
    public struct Change: Sendable, Encodable {
        public let path: String
        public let outcome: String
        public init(path: String, outcome: String) { self.path = path; self.outcome = outcome }
    }

    public struct Result: Sendable, Encodable {
        public enum Kind: String, Sendable, Encodable {
            case deployed, unchanged, wouldChange = "would-change", noChange = "no-change", upToDate = "up-to-date", failed
        }
        public let host: String
        public let role: String
        public var result: Kind
        public var stage: Stage?
        public var error: String?
        public var remoteVersion: String?
        /// Outcome counts of the remote's plan ("created": 3, "unchanged": 14).
        public var counts: [String: Int]?
        /// The operations that change something (all of them on a dry run).
        public var changes: [Change]?
        /// The remote's notes (its reload line).
        public var notes: [String]?
        public var serverSerial: String?
        public var clientSerial: String?
        public var trustKeyIds: [String]?
        public var seconds: Double
        /// For an up-to-date host: when it got what it has.
        public var deployedAt: Date?

        public var succeeded: Bool { result != .failed }

        public init(host: String, role: String, result: Kind, seconds: Double) {
            self.host = host
            self.role = role
            self.result = result
            self.seconds = seconds
        }

        public static func upToDate(_ host: PostgresHost, since: Deployment) -> Result {
            var result = Result(host: host.name.value, role: host.role.rawValue, result: .upToDate, seconds: 0)
            result.serverSerial = since.serverSerial
            result.clientSerial = since.clientSerial
            result.trustKeyIds = since.trustKeyIDs
            result.deployedAt = since.at
            return result
        }
    }

    public struct Options: Sendable {
        public var dryRun = false
        /// Links and config as well as the files under /etc/ssl (off for a standby awaiting pg_basebackup).
        public var link = true
        public var parallel = 8
        /// Add --reconnect to each remote install (a standby ends its walreceiver when its replication certificate changed).
        public var reconnect = false
        public init(dryRun: Bool = false, link: Bool = true, parallel: Int = 8) {
            self.dryRun = dryRun
            self.link = link
            self.parallel = parallel
        }
    }

    /// What `prepare` makes of one host: material to carry, or nothing new since its last deployment.
    public enum Prepared: Sendable {
        case target(Target)
        case upToDate(PostgresHost, since: Deployment)
    }

    /// Assembles and signs each host's bundle (plain keys, for the ssh channel), in one transaction:
    /// a CRL that is due is signed once for all of them. A dry run rolls that transaction back.
    /// With `skipCurrent`, a host whose last confirmed deployment has the same material digest, and
    /// whose last probe since then found nothing wrong, is not contacted. A host that ca never
    /// installed gets the active CA's fingerprint (its first install has no trust to check against);
    /// later ones rely on the trust the host has, unless `pinAll`.
    public static func prepare(_ hosts: [PostgresHost], store: CAStore, vault: KeyVault, now: Date,
                               dryRun: Bool, skipCurrent: Bool, pinAll: Bool, filesOnly: Bool = false) throws -> [Prepared] {
        try vault.unlock(try store.trustedAuthorities())
        let body = { () throws -> [Prepared] in
            let confirmed = try store.lastConfirmedDeployments()
            let probes = try store.lastProbes()
            let fingerprint = try store.activeAuthority().certificate().fingerprint
            let signers = try store.trustedAuthorities().map { try vault.key(of: $0) }
            return try hosts.map { host in
                let name = host.name.value
                let material = try HostMaterial.assemble(hostName: name, store: store, vault: vault, now: now)
                var deployment = try material.deployment(via: .deploy, at: now)
                // Files without links or config are not the whole of it: a later full deploy must not skip the host.
                if filesOnly { deployment.materialDigest = deployment.materialDigest.map { $0 + Self.filesOnlySuffix } }
                if skipCurrent, let last = confirmed[name], last.materialDigest == deployment.materialDigest,
                   probes[name].map({ $0.result == "OK" || $0.at < last.at }) ?? true {
                    return .upToDate(host, since: last)
                }
                let bundle = try HostBundle.encode(material, passphrase: nil, signers: signers, now: now)
                return .target(Target(host: host, bundle: Array(bundle.utf8), deployment: deployment,
                                      pin: pinAll || confirmed[name] == nil ? fingerprint : nil))
            }
        }
        return dryRun ? try store.discarding(body) : try store.write(body)
    }

    /// A host that makes its own keys and needs new certificates: its record (and current
    /// certificates, if any) for its `ca request`.
    public struct RequestTarget: Sendable {
        public let host: PostgresHost
        public let bundle: [UInt8]
        public let pin: String?
        /// Make new keys there even where keys exist (a renewal with new keys).
        public let newKey: Bool
    }

    /// What a remote `ca request` gave: the envelope it printed, or why there is none.
    public enum RequestOutcome: Sendable {
        case envelope([UInt8], remoteVersion: String, seconds: Double)
        case failed(Result)
    }

    /// Bundles for the hosts that must make keys and send requests, signed like any bundle; the host's
    /// record is approved (sealed) here if this is its first time.
    public static func prepareRequests(_ hosts: [(PostgresHost, newKey: Bool)], store: CAStore, vault: KeyVault, now: Date,
                                       pinAll: Bool) throws -> [RequestTarget] {
        try vault.unlock(try store.trustedAuthorities())
        return try store.write {
            let confirmed = try store.lastConfirmedDeployments()
            let fingerprint = try store.activeAuthority().certificate().fingerprint
            let signers = try store.trustedAuthorities().map { try vault.key(of: $0) }
            return try hosts.map { host, newKey in
                let material = try HostMaterial.assemble(hostName: host.name.value, store: store, vault: vault, now: now)
                let bundle = try HostBundle.encode(material, passphrase: nil, signers: signers, now: now)
                return RequestTarget(host: host, bundle: Array(bundle.utf8), pin: pinAll || confirmed[host.name.value] == nil ? fingerprint : nil,
                                     newKey: newKey)
            }
        }
    }

    /// Runs `ca request --bundle -` on each host, at most `parallel` at once; `finished` is called on
    /// the calling thread (where the requests are signed) as each one returns.
    public static func requestAll(_ targets: [RequestTarget], transport: SSHTransport, parallel: Int,
                                  started: (RequestTarget) -> Void = { _ in }, finished: (RequestTarget, RequestOutcome) -> Void) {
        Parallel.run(targets, limit: parallel, started: started, finished: { index, outcome in finished(targets[index], outcome) }) { target in request(target, transport: transport) }
    }

    /// One host's request: its version (it must know `request`), then `ca request --bundle -` with the
    /// bundle on standard input; the envelope comes back on its standard output (no key ever does).
    public static func request(_ target: RequestTarget, transport: SSHTransport) -> RequestOutcome {
        let begin = Date()
        let destination = target.host.name.value
        var result = Result(host: destination, role: target.host.role.rawValue, result: .failed, seconds: 0)
        func failure(_ stage: Stage, _ message: String) -> RequestOutcome {
            result.stage = stage
            result.error = message
            result.seconds = Date().timeIntervalSince(begin)
            return .failed(result)
        }
        let version: String
        switch checkVersion(destination, transport: transport, minimum: CAVersion.minimumRemoteHostKeys, what: "keys made on the host need") {
        case .failure(let failed): return failure(failed.stage, failed.message)
        case .success(let found): version = found
        }
        var remote = ["request", "--bundle", "-"]
        if target.newKey { remote.append("--new-key") }
        if let pin = target.pin { remote += ["--ca-fingerprint", pin] }
        let run: ChildProcess.Result
        do { run = try transport.run(destination: destination, remote: remote, input: target.bundle) } catch { return failure(.connect, "\(error.message)") }
        if run.timedOut { return failure(.request, "no answer within \(Int(transport.timeout)) s; rerun deploy (a key made there is reused)") }
        if run.status == 255 && !run.stderrText.contains("error: ") { return failure(.connect, lastLine(run.stderrText) ?? "ssh failed (exit 255)") }
        guard run.status == 0 else { return failure(.request, remoteError(run.stderrText) ?? "the remote request exited \(run.status) and said nothing") }
        return .envelope(Array(run.stdout.prefix(HostRequest.maximumSize + 1)), remoteVersion: version, seconds: Date().timeIntervalSince(begin))
    }

    struct VersionFailure: Error { let stage: Stage; let message: String }

    /// The remote's `ca --version`: there, a version, at least `minimum`.
    static func checkVersion(_ destination: String, transport: SSHTransport, minimum: String, what: String) -> Swift.Result<String, VersionFailure> {
        func fail(_ stage: Stage, _ message: String) -> Swift.Result<String, VersionFailure> { .failure(VersionFailure(stage: stage, message: message)) }
        let version: ChildProcess.Result
        do { version = try transport.run(destination: destination, remote: ["--version"]) } catch { return fail(.connect, "\(error.message)") }
        if version.timedOut { return fail(.connect, "no answer within \(Int(transport.timeout)) s") }
        if version.status == 255 { return fail(.connect, lastLine(version.stderrText) ?? "ssh failed (exit 255)") }
        let stderrLine = lastLine(version.stderrText)
        if version.status == 127 || version.status == 126 || (version.status != 0 && (stderrLine ?? "").contains("not found")) {
            return fail(.version, "ca is not installed there (remote: \(stderrLine ?? "exit \(version.status)")): install ca \(minimum) or later on the host, or point --remote-ca at it")
        }
        guard version.status == 0 else { return fail(.version, "'\(transport.remoteCA.joined(separator: " ")) --version' failed there: \(stderrLine ?? "exit \(version.status)")") }
        let remoteVersion = String(clean(version.stdoutText.trimmed).prefix(40))
        guard CAVersion.components(remoteVersion) != nil else {
            return fail(.version, "the remote 'ca --version' printed '\(remoteVersion)', not a version: is --remote-ca pointing at ca?")
        }
        guard CAVersion.isAtLeast(remoteVersion, minimum) else {
            return fail(.version, "ca there is \(remoteVersion); \(what) \(minimum) or later on the host (upgrade it there)")
        }
        return .success(remoteVersion)
    }

    /// Marks the digest of a `--files-only` deployment.
    public static let filesOnlySuffix = "/files-only"

    /// Runs every target, at most `options.parallel` at once, standbys first: a primary starts only
    /// once every standby of this run has finished (its new trust or certificates are in place before
    /// the primary changes what it serves or accepts). `started` and `finished` are called on the
    /// calling thread, `finished` once per host as it completes, so the caller can record it then.
    public static func run(_ targets: [Target], transport: SSHTransport, options: Options,
                           started: (Target) -> Void = { _ in }, finished: (Result) -> Void) -> [Result] {
        var results: [Result] = []
        for phase in [targets.filter { $0.host.role == .standby }, targets.filter { $0.host.role != .standby }] {
            Parallel.run(phase, limit: options.parallel, started: started, finished: { _, result in
                finished(result)
                results.append(result)
            }) { target in deploy(target, transport: transport, options: options) }
        }
        return results
    }

    /// One host: the remote's version, then its install with the bundle on standard input.
    public static func deploy(_ target: Target, transport: SSHTransport, options: Options) -> Result {
        let begin = Date()
        let destination = target.host.name.value
        var result = Result(host: destination, role: target.host.role.rawValue, result: .failed, seconds: 0)
        func done(_ change: (inout Result) -> Void) -> Result {
            change(&result)
            result.seconds = Date().timeIntervalSince(begin)
            return result
        }
        func failure(_ stage: Stage, _ message: String) -> Result {
            done { $0.result = .failed; $0.stage = stage; $0.error = message }
        }

        // 1. Is ca there, and new enough? (A certificate-only bundle needs a ca that pairs it with the host's keys.)
        // Certificate-only bundles and install --reconnect came with 0.3.0.
        let reconnects = options.reconnect && options.link && target.host.role == .standby
        let minimum = target.host.keyPolicy == .host || reconnects ? CAVersion.minimumRemoteHostKeys : CAVersion.minimumRemote
        switch checkVersion(destination, transport: transport, minimum: minimum, what: "deploy needs") {
        case .failure(let failed): return failure(failed.stage, failed.message)
        case .success(let found): result.remoteVersion = found
        }

        // 2. install, the bundle on standard input.
        var remote = ["install", "--bundle", "-", "--json"]
        if options.link { remote += ["--link", "--configure", "--reload"] }
        if reconnects { remote.append("--reconnect") }
        if options.dryRun { remote.append("--dry-run") }
        if let pin = target.pin { remote += ["--ca-fingerprint", pin] }
        let install: ChildProcess.Result
        do { install = try transport.run(destination: destination, remote: remote, input: target.bundle) } catch { return failure(.connect, "\(error.message)") }
        if install.timedOut { return failure(.install, "no answer within \(Int(transport.timeout)) s; the remote install may have finished: rerun deploy, which changes nothing twice") }
        if install.status == 255 && !install.stderrText.contains("error: ") { return failure(.connect, lastLine(install.stderrText) ?? "ssh failed (exit 255)") }
        guard install.status == 0 else { return failure(.install, remoteError(install.stderrText) ?? "the remote install exited \(install.status) and said nothing") }
        guard let report = try? JSONDecoder().decode(RemoteReport.self, from: Data(install.stdout.prefix(1 << 20))) else {
            return failure(.install, "the remote install succeeded but printed no report ca could read: '\(clean(String(install.stdoutText.prefix(120))))'")
        }
        var counts: [String: Int] = [:]
        var changes: [Change] = []
        for operation in report.operations {
            let outcome = clean(operation.outcome ?? "?")
            counts[outcome, default: 0] += 1
            if outcome != "unchanged" { changes.append(Change(path: clean(operation.path ?? "?"), outcome: outcome)) }
        }
        let changed = report.changed ?? !changes.isEmpty
        let notes = (report.notes ?? []).prefix(10).map { clean($0) }
        return done {
            $0.result = options.dryRun ? (changed ? .wouldChange : .noChange) : (changed ? .deployed : .unchanged)
            $0.counts = counts
            $0.changes = changes
            $0.notes = notes
            $0.serverSerial = target.deployment.serverSerial
            $0.clientSerial = target.deployment.clientSerial
            $0.trustKeyIds = target.deployment.trustKeyIDs
        }
    }

    /// The remote's own error: its last `error:` line (ca prints one), else its last line.
    static func remoteError(_ stderr: String) -> String? {
        let lines = stderr.split(whereSeparator: \.isNewline).map { clean(String($0)) }.filter { !$0.isEmpty }
        if let line = lines.last(where: { $0.hasPrefix("error: ") }) { return String(line.dropFirst(7)) }
        return lines.last
    }

    static func lastLine(_ text: String) -> String? {
        text.split(whereSeparator: \.isNewline).map { clean(String($0)) }.last { !$0.isEmpty }
    }

    /// Remote output is another machine's words: no control character (an escape sequence for the
    /// operator's terminal) survives, and no line is longer than 400 characters.
    public static func clean(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(400) {
            if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) { out += "?" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }
}

/// What a remote `ca install --json` reports, as far as deploy reads it.
private struct RemoteReport: Decodable {
    struct Operation: Decodable { let outcome: String?; let path: String? }
    let operations: [Operation]
    let changed: Bool?
    let notes: [String]?
}
