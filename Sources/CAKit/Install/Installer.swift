import Foundation
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
                        dryRun: Bool = false, reload: Bool = false, restart: Bool = false) throws -> Report {
        let material = try store.write { try HostMaterial.assemble(hostName: hostName, store: store, vault: vault, now: options.now) }
        let plan = try InstallPlanner().plan(material, options: options)
        let report = try apply(plan, dryRun: dryRun, reload: reload, restart: restart, now: options.now)
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

    public func apply(_ plan: InstallPlan, dryRun: Bool, reload: Bool, restart: Bool = false, now: Date) throws -> Report {
        let writer = SafeFileWriter(now: now, dryRun: dryRun)
        var entries: [Entry] = []
        for operation in plan.operations {
            entries.append(Entry(operation: operation, outcome: try writer.apply(operation)))
        }
        var notes: [String] = []
        if restart && !dryRun {
            notes.append(try restartServer(plan))
        } else if reload && !dryRun {
            notes.append(reloadServer(plan))
        }
        return Report(entries: entries, notes: notes)
    }

    /// `pg_ctl restart` as the OS user, pointed at the config directory (where postgresql.conf is;
    /// on Debian it names the data directory). Only on request: a restart drops every connection.
    func restartServer(_ plan: InstallPlan) throws -> String {
        let version = plan.host.postgresVersion
        let pgctl = "/usr/lib/postgresql/\(version)/bin/pg_ctl"
        guard FileManager.default.isExecutableFile(atPath: pgctl) else {
            throw CAError.io("cannot restart: \(pgctl) is missing. Restart PostgreSQL \(version) yourself; the files are installed.")
        }
        let output = try LocalCluster.run(asUser: plan.host.osUser, pgctl, ["-D", plan.layout.configDirectory, "-w", "-t", "60", "-m", "fast", "restart"])
        guard output.ok else {
            throw CAError.io("the files are installed, but pg_ctl restart failed: \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return "restarted PostgreSQL \(version) (pg_ctl -D \(plan.layout.configDirectory) restart)."
    }

    /// SIGHUP to the postmaster named in postmaster.pid, as `pg_ctl reload` does. Before 10 the SSL
    /// files are read only at start, so ca says so instead of restarting anything.
    func reloadServer(_ plan: InstallPlan) -> String {
        let version = plan.host.postgresVersion
        guard version >= PostgresVersion(uncheckedMajor: 10, minor: 0) else {
            return "PostgreSQL \(version) reads its SSL files only at start: restart it (ca install --restart, or your own tooling)."
        }
        let pidFile = plan.layout.dataLink("postmaster.pid")
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let pid = text.split(separator: "\n").first.flatMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }), pid > 0 else {
            return "PostgreSQL is not running (no \(pidFile)): nothing to reload; it reads the new files when it starts."
        }
        guard kill(pid, SIGHUP) == 0 else {
            return "could not signal the postmaster (pid \(pid)): \(String(cString: strerror(errno))). Reload it yourself: pg_ctl reload -D \(plan.layout.dataDirectory)"
        }
        return "reloaded PostgreSQL (SIGHUP to pid \(pid)); running replication connections keep their old certificates until they reconnect."
    }
}
