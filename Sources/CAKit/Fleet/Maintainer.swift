import CSystem
import FoundationEssentials
import Glibc

/// `ca maintain`: one idempotent run for a timer. It renews every active leaf expiring within the
/// window (new keys; a host that makes its own is marked for its deploy), re-signs every CRL with a
/// third of its period or less left, deploys exactly the hosts whose installed material is older than
/// the inventory's (standbys first; a standby whose replication certificate changed reconnects), probes
/// every host, and says what is left. Each step commits on its own, so a run killed half-way leaves
/// nothing half-done that the next run does not finish.
public struct Maintainer {
    public struct Options: Sendable {
        public var within: TimeInterval = 30 * 86_400
        public var dryRun = false
        public var parallel = 8
        public var probeTimeout: TimeInterval = 5
        public var reconnect = true
        public init() {}
    }

    public struct Report: Sendable, Encodable {
        public var startedAt: Date
        public var finishedAt: Date
        public var dryRun: Bool
        /// Serials of the new certificates (on a dry run: of those that would be renewed).
        public var renewed: [String] = []
        /// Hosts that make their own keys and get new ones at their deploy.
        public var waitingForHost: [String] = []
        /// CAs whose CRL was re-signed (or would be).
        public var crlsSigned: [String] = []
        public var deploy: [Deployer.Result] = []
        public var probes: [Probe.Result] = []
        /// What is left undone or wrong, one line each.
        public var problems: [String] = []
        public var ok: Bool { problems.isEmpty }
        public var summary: String {
            let deployed = deploy.filter { $0.result == .deployed || $0.result == .wouldChange }.count
            let probesOK = probes.filter { $0.verdict == .ok }.count
            return "\(dryRun ? "would renew" : "renewed") \(renewed.count), \(dryRun ? "would re-sign" : "re-signed") \(crlsSigned.count) CRL(s), "
                + "\(dryRun ? "would deploy" : "deployed") \(deployed) of \(deploy.count) host(s), probe \(probesOK)/\(probes.count) OK"
                + (problems.isEmpty ? "" : "; \(problems.count) left")
        }

        enum CodingKeys: String, CodingKey { case startedAt, finishedAt, dryRun, renewed, waitingForHost, crlsSigned, deploy, probes, problems, ok, summary }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(startedAt, forKey: .startedAt)
            try c.encode(finishedAt, forKey: .finishedAt)
            try c.encode(dryRun, forKey: .dryRun)
            try c.encode(renewed, forKey: .renewed)
            try c.encode(waitingForHost, forKey: .waitingForHost)
            try c.encode(crlsSigned, forKey: .crlsSigned)
            try c.encode(deploy, forKey: .deploy)
            try c.encode(probes, forKey: .probes)
            try c.encode(problems, forKey: .problems)
            try c.encode(ok, forKey: .ok)
            try c.encode(summary, forKey: .summary)
        }
    }

    /// The deploy step, and the store and vault every step uses.
    public let fleet: FleetDeploy
    var store: CAStore { fleet.store }
    var vault: KeyVault { fleet.vault }

    public init(store: CAStore, vault: KeyVault, transport: SSHTransport) {
        fleet = FleetDeploy(store: store, vault: vault, transport: transport)
        vault.attach(store)
    }

    public func run(options: Options, events: FleetDeploy.Events = FleetDeploy.Events(), step: (String) -> Void = { _ in }) throws -> Report {
        let started = Clock.now()
        var report = Report(startedAt: started, finishedAt: started, dryRun: options.dryRun)
        try vault.unlock(try store.trustedAuthorities())

        // 1. Renewals.
        let lifecycle = Lifecycle(store: store, vault: vault, now: { started })
        var waiting: [CertificateRecord]
        if options.dryRun {
            let due = try lifecycle.dueForRenewal(within: options.within, hostName: nil, now: started)
            report.renewed = due.filter { $0.keyPEM != nil }.map(\.serial.hex)
            waiting = due.filter { $0.keyPEM == nil }
        } else {
            let result = try lifecycle.renew(within: options.within, hostName: nil, keepKey: false, days: nil)
            report.renewed = result.certificates.map(\.serial.hex)
            waiting = result.waitingForHost
        }
        report.waitingForHost = Set(waiting.compactMap(\.hostName)).sorted()
        // A one-off signed from a request has no host to make its new key: left for the operator.
        for record in waiting where record.hostName == nil {
            report.problems.append("certificate \(record.serial.hex.prefix(16))… was signed from a request and expires \(record.notAfter.iso8601): renew it with 'ca renew --keep-key' or sign a new request")
        }
        step("renew: \(report.renewed.count) certificate(s)\(report.waitingForHost.isEmpty ? "" : "; new keys to be made on \(report.waitingForHost.joined(separator: ", "))")")

        // 2. CRLs with a third of their period or less left (or a revocation they lack).
        let publisher = CRLPublisher(store: store, vault: vault)
        let due = try publisher.due(now: started)
        report.crlsSigned = due.map(\.name)
        if !options.dryRun && !due.isEmpty { _ = try store.write { try publisher.currentCRLs(now: started) } }
        step("crl: \(due.isEmpty ? "every CRL current" : "\(options.dryRun ? "would re-sign" : "re-signed") \(due.map(\.name).joined(separator: ", "))")")

        // 3. Deploy the hosts that are behind.
        let hosts = try store.hosts()
        var deployOptions = FleetDeploy.Options()
        deployOptions.dryRun = options.dryRun
        deployOptions.skipCurrent = true
        deployOptions.reconnect = options.reconnect
        deployOptions.parallel = options.parallel
        report.deploy = try fleet.run(hosts, options: deployOptions, now: Clock.now(), events: events)
        report.problems += fleet.recordingWarnings
        for failed in report.deploy where !failed.succeeded {
            report.problems.append("\(failed.host): deploy failed [\(failed.stage?.rawValue ?? "?")] \(failed.error ?? "")")
        }

        // 4. Probe every host: what each server really serves now.
        if !options.dryRun && !hosts.isEmpty {
            let (results, recording) = try Probe(timeout: options.probeTimeout).run(hosts, store: store, parallel: 16, now: Clock.now(), record: true)
            report.probes = results
            if let recording { report.problems.append("the probe results could not be recorded (\(recording))") }
            for result in results where result.verdict != .ok {
                report.problems.append("\(result.host): probe \(result.verdict.rawValue) (\(result.reason))")
            }
            step("probe: \(results.filter { $0.verdict == .ok }.count) of \(results.count) OK")
        }
        report.finishedAt = Clock.now()
        if !options.dryRun {
            let run = MaintainRun(startedAt: started, finishedAt: report.finishedAt, ok: report.ok, summary: report.summary)
            do {
                try store.write {
                    try store.recordMaintainRun(run)
                    try store.record("maintain", subject: "fleet", detail: (report.ok ? "ok: " : "left undone: ") + report.summary, at: report.finishedAt)
                }
            } catch {
                report.problems.append("the run could not be recorded (\(error.message))")
            }
        }
        return report
    }
}

/// One `ca maintain` at a time per database: an exclusive lock on `<database>.maintain-lock`, held by
/// the open descriptor (the kernel drops it when the process ends, however it ends).
public final class MaintainLock {
    private let fd: Int32
    public let path: String

    public enum Outcome {
        case acquired(MaintainLock)
        /// Another run holds it; its PID as it wrote it.
        case busy(pid: String)
    }

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    public static func acquire(database: String, wait: Bool) throws -> Outcome {
        let path = database + ".maintain-lock"
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CAError.io("cannot open the maintain lock '\(path)': \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid() else {
            close(fd)
            throw CAError.invalid("refusing the maintain lock '\(path)': it is not a regular file of this user", fix: "Remove it; ca makes it again.")
        }
        while flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            if errno == EINTR { continue }
            let code = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            if code == EWOULDBLOCK { return .busy(pid: String(decoding: buffer.prefix(max(0, n)), as: UTF8.self).trimmed) }
            throw CAError.io("cannot take the maintain lock '\(path)': \(String(cString: strerror(code)))")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        return .acquired(MaintainLock(fd: fd, path: path))
    }
}
