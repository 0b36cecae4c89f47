import FoundationEssentials
import Glibc

/// Runs a checked plan: directories, files, links, config, in that order; then an optional reload.
public struct Installer {
    public struct Entry: Sendable {
        public let operation: PlannedOperation
        public let outcome: SafeFileWriter.Outcome
    }

    public struct Report: Sendable {
        public let entries: [Entry]
        public let notes: [String]
        public var changed: Bool { entries.contains { $0.outcome != .unchanged } }
    }

    public init() {}

    /// Installs a host the CA database knows: assemble its material (signing a due CRL), plan and
    /// check, apply, then record the deployment and an audit event. The one path `ca install HOST`
    /// and both demos take.
    public func install(hostName: String, store: CAStore, vault: KeyVault, options: InstallPlanner.Options,
                        dryRun: Bool = false, reload: Bool = false, restart: Bool = false, reconnect: Bool = false) throws -> Report {
        try vault.unlock(try store.trustedAuthorities())
        let material = try store.write { try HostMaterial.assemble(hostName: hostName, store: store, vault: vault, now: options.now) }
        let plan = try InstallPlanner().plan(material, options: options)
        let report = try apply(plan, dryRun: dryRun, reload: reload, restart: restart, reconnect: reconnect, now: options.now)
        if !dryRun {
            let deployment = try material.deployment(via: .install, at: options.now)
            try store.write {
                try store.recordDeployment(deployment)
                try store.record("install", subject: hostName,
                                 detail: (options.root.isEmpty ? "" : "under \(options.root), ") + (report.changed ? "changed" : "unchanged"), at: options.now)
            }
        }
        return report
    }

    public func apply(_ plan: InstallPlan, dryRun: Bool, reload: Bool, restart: Bool = false, reconnect: Bool = false, now: Date) throws -> Report {
        let writer = SafeFileWriter(root: plan.root, now: now, dryRun: dryRun, trustedOwners: plan.trustedOwners,
                                    managedDirectory: plan.layout.managedDirectory)
        let outcomes = try writer.apply(plan.operations)
        let entries = zip(plan.operations, outcomes).map { Entry(operation: $0, outcome: $1) }
        var notes: [String] = []
        if !dryRun && !plan.consumedPendingKeys.isEmpty { removePendingKeys(plan) }
        if restart && !dryRun {
            notes.append(try restartServer(plan))
        } else if reload && !dryRun {
            notes.append(reloadServer(plan))
        }
        let replicationChanged = entries.contains { $0.operation.generationName == InstallLayout.generationFiles.clientCertificate && $0.outcome != .unchanged }
        if reconnect && !dryRun && !restart && replicationChanged && plan.host.role == .standby {
            notes.append(reconnectStandby(plan))
        }
        return Report(entries: entries, notes: notes)
    }

    /// A standby's walreceiver keeps its TLS session, and the certificate it was opened with, until it
    /// reconnects; ending it makes the new replication certificate the one the primary sees now (the
    /// startup process starts a new walreceiver after wal_retrieve_retry_interval).
    func reconnectStandby(_ plan: InstallPlan) -> String {
        guard case .verified(let postmaster) = Postmaster.find(dataDirectory: plan.layout.dataDirectory, osUser: plan.host.osUser, root: plan.root) else {
            return "not reconnected: no running postmaster verified for \(plan.layout.dataDirectory)"
        }
        guard let pid = postmaster.endWalreceiver(osUser: plan.host.osUser) else {
            return "not reconnected: no walreceiver is running (it connects with the new certificate when it starts)"
        }
        return "reconnected: ended the walreceiver (pid \(pid)); it reconnects with the new replication certificate"
    }

    /// The pending keys this install put into the new generation: the copies `ca request` left are
    /// removed (never through a link), then their directory if it is empty.
    func removePendingKeys(_ plan: InstallPlan) {
        for path in plan.consumedPendingKeys {
            guard case .success(let (directory, name))? = try? plan.root.parent(of: path) else { continue }
            unlinkat(directory.fd, name, 0)
            fsync(directory.fd)
        }
        if case .success(let (directory, name))? = try? plan.root.parent(of: plan.layout.pendingDirectory) {
            unlinkat(directory.fd, name, AT_REMOVEDIR)
        }
    }

    /// `pg_ctl restart` as the OS user, pointed at the config directory (where postgresql.conf is;
    /// on Debian it names the data directory). Only on request: a restart drops every connection.
    func restartServer(_ plan: InstallPlan) throws -> String {
        let version = plan.host.postgresVersion
        // The running server's own pg_ctl (any packaging), else Debian's for this major. It runs as
        // the OS user, never as root.
        var pgctl = "/usr/lib/postgresql/\(version)/bin/pg_ctl"
        if case .verified(let postmaster) = Postmaster.find(dataDirectory: plan.layout.dataDirectory, osUser: plan.host.osUser, root: plan.root) {
            let beside = Path.parent(postmaster.program) + "/pg_ctl"
            if FileManager.default.isExecutableFile(atPath: beside) { pgctl = beside }
        }
        guard FileManager.default.isExecutableFile(atPath: pgctl) else {
            throw CAError.io("cannot restart: \(pgctl) is missing. Restart PostgreSQL \(version) yourself; the files are installed.")
        }
        let output = try LocalCluster.run(asUser: plan.host.osUser, pgctl, ["-D", plan.layout.configDirectory, "-w", "-t", "60", "-m", "fast", "restart"])
        guard output.ok else {
            throw CAError.io("the files are installed, but pg_ctl restart failed: \(output.stderr.trimmed)")
        }
        return "restarted PostgreSQL \(version) (pg_ctl -D \(plan.layout.configDirectory) restart)."
    }

    /// SIGHUP to the postmaster named in postmaster.pid, as `pg_ctl reload` does, but only once that
    /// process is proven to be the postmaster of this data directory: run by the OS user, its working
    /// directory the data directory itself, its program `postgres`. The signal goes through a pidfd
    /// taken before the checks, so a PID reused meanwhile is never signalled. The OS user can write
    /// postmaster.pid; without these checks root would signal whatever it names.
    /// Before 10 the SSL files are read only at start, so ca says so instead of restarting anything.
    func reloadServer(_ plan: InstallPlan) -> String {
        let version = plan.host.postgresVersion
        guard version >= PostgresVersion(uncheckedMajor: 10, minor: 0) else {
            return "PostgreSQL \(version) reads its SSL files only at start: restart it (ca install --restart, or your own tooling)."
        }
        let manual = "Reload it yourself: pg_ctl reload -D \(plan.layout.dataDirectory)"
        switch Postmaster.find(dataDirectory: plan.layout.dataDirectory, osUser: plan.host.osUser, root: plan.root) {
        case .notRunning:
            return "PostgreSQL is not running (no \(plan.layout.dataLink("postmaster.pid"))): nothing to reload; it reads the new files when it starts."
        case .refused(let pid, let why):
            return pid.map { "did not signal pid \($0): \(why), so it is not the postmaster of \(plan.layout.dataDirectory). \(manual)" }
                ?? "did not reload: \(why). \(manual)"
        case .verified(let postmaster):
            guard postmaster.signal(SIGHUP) else {
                return "could not signal the postmaster (pid \(postmaster.pid)): \(String(cString: strerror(errno))). \(manual)"
            }
            return "reloaded PostgreSQL (SIGHUP to pid \(postmaster.pid)); running replication connections keep their old certificates until they reconnect."
        }
    }
}
