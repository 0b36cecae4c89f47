import Foundation

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

    public enum Stage: String, Sendable, Encodable { case connect, version, install }

    /// One file the remote would change (dry run) or changed.
    public struct Change: Sendable, Encodable {
        public let path: String
        public let outcome: String
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

        // 1. Is ca there, and new enough?
        let version: ChildProcess.Result
        do { version = try transport.run(destination: destination, remote: ["--version"]) } catch { return failure(.connect, "\(error.localizedDescription)") }
        if version.timedOut { return failure(.connect, "no answer within \(Int(transport.timeout)) s") }
        if version.status == 255 { return failure(.connect, lastLine(version.stderrText) ?? "ssh failed (exit 255)") }
        let stderrLine = lastLine(version.stderrText)
        if version.status == 127 || version.status == 126 || (version.status != 0 && (stderrLine ?? "").contains("not found")) {
            return failure(.version, "ca is not installed there (remote: \(stderrLine ?? "exit \(version.status)")): install ca \(CAVersion.minimumRemote) or later on the host, or point --remote-ca at it")
        }
        guard version.status == 0 else { return failure(.version, "'\(transport.remoteCA.joined(separator: " ")) --version' failed there: \(stderrLine ?? "exit \(version.status)")") }
        let remoteVersion = clean(version.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)).prefix(40)
        result.remoteVersion = String(remoteVersion)
        guard CAVersion.components(String(remoteVersion)) != nil else {
            return failure(.version, "the remote 'ca --version' printed '\(remoteVersion)', not a version: is --remote-ca pointing at ca?")
        }
        guard CAVersion.isAtLeast(String(remoteVersion), CAVersion.minimumRemote) else {
            return failure(.version, "ca there is \(remoteVersion); deploy needs \(CAVersion.minimumRemote) or later on the host (upgrade it there)")
        }

        // 2. install, the bundle on standard input.
        var remote = ["install", "--bundle", "-", "--json"]
        if options.link { remote += ["--link", "--configure", "--reload"] }
        if options.dryRun { remote.append("--dry-run") }
        if let pin = target.pin { remote += ["--ca-fingerprint", pin] }
        let install: ChildProcess.Result
        do { install = try transport.run(destination: destination, remote: remote, input: target.bundle) } catch { return failure(.connect, "\(error.localizedDescription)") }
        if install.timedOut { return failure(.install, "no answer within \(Int(transport.timeout)) s; the remote install may have finished: rerun deploy, which changes nothing twice") }
        if install.status == 255 && !install.stderrText.contains("error: ") { return failure(.connect, lastLine(install.stderrText) ?? "ssh failed (exit 255)") }
        guard install.status == 0 else { return failure(.install, remoteError(install.stderrText) ?? "the remote install exited \(install.status) and said nothing") }
        guard let report = try? JSONSerialization.jsonObject(with: Data(install.stdout.prefix(1 << 20))) as? [String: Any],
              let operations = report["operations"] as? [[String: Any]] else {
            return failure(.install, "the remote install succeeded but printed no report ca could read: '\(clean(String(install.stdoutText.prefix(120))))'")
        }
        var counts: [String: Int] = [:]
        var changes: [Change] = []
        for operation in operations {
            let outcome = clean(operation["outcome"] as? String ?? "?")
            counts[outcome, default: 0] += 1
            if outcome != "unchanged" { changes.append(Change(path: clean(operation["path"] as? String ?? "?"), outcome: outcome)) }
        }
        let changed = report["changed"] as? Bool ?? !changes.isEmpty
        let notes = (report["notes"] as? [String] ?? []).prefix(10).map { clean($0) }
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
