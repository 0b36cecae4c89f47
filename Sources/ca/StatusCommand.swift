import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "One screen: the CA and its expiry, hosts, certificates expiring soon, warnings.",
        discussion: "Exits 0 even with warnings; scripts read 'warnings' in --json.")
    @Option(name: .long, help: ArgumentHelp("What counts as expiring soon.", valueName: "window")) var within: String = "30d"
    @Flag(name: .long, help: "Also check every page of the database (PRAGMA integrity_check; slow on a large one).") var check = false
    @OptionGroup var global: GlobalOptions

    /// How many expiring certificates the text shows (the soonest first).
    static let expiringShown = 20

    struct JSON: Encodable {
        let database: String
        let authorities: [AuthorityJSON]
        let hosts: Int
        let certificates: [String: Int]
        let expiringSoon: [CertificateJSON]
        let rotationStage: String?
        /// Per host: last deployment, last probe, what it must install next (null: nothing).
        let hostStatus: [HostStatus]
        /// The last `ca maintain` that ran to its end: when it finished, whether it left anything, its summary.
        let lastMaintain: Maintain?
        let lastSuccessfulMaintainAt: Date?
        let warnings: [String]

        struct Maintain: Encodable { let finishedAt: Date; let ok: Bool; let summary: String }
    }

    func run() throws {
        let now = Clock.now()
        let window = try Window(within)
        let store = try CAStore.open(path: global.databasePath)
        let active = try store.activeAuthority()
        let authorities = try store.authorities()
        let hosts = try store.hosts()
        let counts = try store.certificateCounts()
        // One screen: the soonest few on the terminal (all of them in --json, for scripts), and the count.
        var expiringFilter = CertificateFilter(status: .active, expiringBefore: now.addingTimeInterval(window.seconds), now: now)
        let expiringCount = try store.count(expiringFilter)
        expiringFilter.includePEM = false  // neither shape prints it: at 100,000 rows reading it was most of status --json
        if !global.json {
            expiringFilter.limit = Self.expiringShown
            expiringFilter.soonestFirst = true
        }
        let expiring = try store.certificates(expiringFilter)

        var warnings: [String] = []
        if !active.keyEncrypted { warnings.append("the CA key is stored unencrypted (created with --no-passphrase): use this CA for demos and tests only") }
        let caCertificate = try active.certificate()
        let caDaysLeft = Int(caCertificate.notAfter.timeIntervalSince(now) / 86_400)
        if caDaysLeft < 0 { warnings.append("the CA certificate expired on \(caCertificate.notAfter.iso8601)") }
        else if caDaysLeft < 365 { warnings.append("the CA certificate expires in \(caDaysLeft) days: plan 'ca rotate' or renew it") }
        if let mode = store.fileMode, mode & 0o077 != 0 {
            warnings.append("the database file is readable by others (mode \(String(mode, radix: 8))): chmod 600 \(store.path)")
        }
        let issuedHosts = try store.hostsWithActiveCertificates()
        for host in hosts where !issuedHosts.contains(host.name.value) {
            warnings.append("host '\(host.name.value)' has no active certificates: ca issue \(host.name.value)")
        }
        if expiringCount > 0 { warnings.append("\(expiringCount) active certificate(s) expire within \(within)") }
        // The full check reads every page (seconds at 100,000 certificates): on request. A damaged file is
        // refused before any write regardless (every process's first write runs quick_check).
        if check, let problem = try store.integrityProblem(full: true) { warnings.append("database integrity check failed: \(problem)") }
        for authority in try store.trustedAuthorities() {
            guard let crl = try store.latestCRL(authorityID: authority.id) else { continue }
            let left = crl.nextUpdate.timeIntervalSince(now)
            if left <= 0 {
                warnings.append("the CRL of '\(authority.name)' (crlNumber \(crl.number)) expired on \(crl.nextUpdate.iso8601): PostgreSQL refuses every certificate. Run 'ca crl' and install it")
            } else if left < 7 * 86_400 {
                warnings.append("the CRL of '\(authority.name)' expires in \(Int(left / 3600)) hours: run 'ca crl' (or any install) and install it")
            }
        }
        let rotation = try store.openRotation()
        if let rotation { warnings.append("a CA rotation is \(rotation.stage.rawValue): see 'ca rotate status'") }
        let perHost = try HostStatus.all(store: store)
        let failedProbes = perHost.filter { $0.probeResult != nil && $0.probeResult != "OK" }
        if !failedProbes.isEmpty {
            warnings.append("the last probe of \(failedProbes.map { "\($0.host) (\($0.probeResult!))" }.joined(separator: ", ")) found a problem: see the host lines")
        }

        let runs = try store.lastMaintainRuns()
        if let last = runs.last, !last.ok {
            warnings.append("the last 'ca maintain' (\(Output.ago(last.finishedAt, now: now))) left something undone: \(last.summary); see 'ca log'")
        }

        if global.json {
            return try Output.json(JSON(
                database: store.path, authorities: try authorities.map { try AuthorityJSON($0) }, hosts: hosts.count,
                certificates: Dictionary(uniqueKeysWithValues: CertificateStatus.allCases.map { ($0.rawValue, counts[$0] ?? 0) }),
                expiringSoon: expiring.map { CertificateJSON($0, now: now) }, rotationStage: rotation?.stage.rawValue,
                hostStatus: perHost, lastMaintain: runs.last.map { .init(finishedAt: $0.finishedAt, ok: $0.ok, summary: $0.summary) },
                lastSuccessfulMaintainAt: runs.lastOK?.finishedAt, warnings: warnings))
        }
        print("Database:      \(store.path)")
        for authority in authorities {
            let certificate = try authority.certificate()
            let cn = certificate.subjectName.commonName
            print("CA:            \(cn == authority.name ? cn : "\(cn) (files: \(authority.name))") [\(authority.status.rawValue)] \(authority.keyType.rawValue), expires \(Output.day(certificate.notAfter)) (\(Output.relative(certificate.notAfter, now: now)))\(authority.keyEncrypted ? "" : ", key NOT encrypted")")
        }
        print("Hosts:         \(hosts.count)\(hosts.isEmpty ? "" : " (" + hosts.map { "\($0.name.value) \($0.role.rawValue)" }.joined(separator: ", ") + ")")")
        for state in perHost {
            var parts: [String] = []
            if let at = state.deployedAt {
                parts.append("\(state.deployedVia == "export" ? "exported" : "deployed") \(at.iso8601) (\(Output.ago(at, now: now)), \(state.deployedVia ?? "?"); server \(state.deployedServerSerial?.prefix(12) ?? "-"))")
            } else {
                parts.append("never deployed")
            }
            if let result = state.probeResult, let at = state.probeAt {
                parts.append("probe \(result) \(Output.ago(at, now: now))\(result == "OK" ? "" : ": " + Terminal.oneLine(state.probeDetail ?? ""))")
            } else {
                parts.append("never probed")
            }
            parts.append("next: \(state.next ?? "nothing")")
            print("  \(state.host) (\(state.role)): \(parts.joined(separator: "; "))")
        }
        if let last = runs.last {
            print("Maintain:      last run \(last.finishedAt.iso8601) (\(Output.ago(last.finishedAt, now: now))), \(last.ok ? "ok" : "left something undone")\(last.ok ? "" : runs.lastOK.map { "; last ok \(Output.ago($0.finishedAt, now: now))" } ?? "; never ok")")
        }
        print("Certificates:  \(CertificateStatus.allCases.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", "))")
        print("Expiring within \(within): \(expiringCount)")
        for record in expiring {
            print("  \(record.serial.hex)  \(record.kind.rawValue)  \(record.hostName ?? record.subject)  \(Output.relative(record.notAfter, now: now))")
        }
        if expiringCount > expiring.count { print("  … and \(expiringCount - expiring.count) more: ca list --expiring \(within)") }
        if check && !warnings.contains(where: { $0.hasPrefix("database integrity check failed") }) { print("Integrity:     ok (every page checked)") }
        if warnings.isEmpty { print("No warnings.") }
        for warning in warnings { print("warning: \(warning)") }
    }
}
