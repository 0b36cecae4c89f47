import FoundationEssentials

/// The inventory as Prometheus text exposition (format 0.0.4), for node_exporter's textfile
/// collector: what expires when, how fresh each CRL is, what each host was last given and what its
/// server last served, and when `maintain` last succeeded. Read from the database alone (no passphrase).
public enum Exposition {
    public static func text(store: CAStore, now: Date) throws -> String {
        var out = ""
        func family(_ name: String, _ help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for sample in samples {
                let labels = sample.labels.isEmpty ? "" : "{" + sample.labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
                out += "\(name)\(labels) \(format(sample.value))\n"
            }
        }
        let active = try store.certificates(CertificateFilter(status: .active))
        family("ca_certificate_expiry_timestamp_seconds", "When each active leaf certificate expires (notAfter), in Unix time.",
               active.map { ([("host", $0.hostName ?? ""), ("kind", $0.kind.rawValue), ("serial", $0.serial.hex)], $0.notAfter.timeIntervalSince1970) })
        let authorities = try store.authorities().filter { $0.status != .retired }
        let certificates = try authorities.map { try $0.certificate() }
        family("ca_authority_expiry_timestamp_seconds", "When each trusted CA certificate expires (notAfter), in Unix time.",
               zip(authorities, certificates).map { authority, certificate in
                   ([("ca", authority.name), ("status", authority.status.rawValue), ("key_id", certificate.subjectKeyIdentifier?.hexString ?? "")],
                    certificate.notAfter.timeIntervalSince1970)
               })
        family("ca_crl_next_update_timestamp_seconds", "The nextUpdate of each trusted CA's latest CRL, in Unix time: PostgreSQL refuses every client certificate once it has passed.",
               try authorities.compactMap { authority in
                   try store.latestCRL(authorityID: authority.id).map { ([("ca", authority.name), ("status", authority.status.rawValue)], $0.nextUpdate.timeIntervalSince1970) }
               })
        let statuses = try HostStatus.all(store: store)
        let attempts = try store.lastDeployAttempts()
        family("ca_host_last_deployment_timestamp_seconds", "When each host was last given its material (install or deploy, confirmed), in Unix time.",
               statuses.compactMap { status in status.deployedAt.map { ([("host", status.host)], $0.timeIntervalSince1970) } })
        family("ca_host_up_to_date", "1 when the host's last confirmed deployment carries the inventory's current material, else 0.",
               statuses.map { ([("host", $0.host)], $0.next == nil ? 1 : 0) })
        family("ca_host_deploy_failed", "1 when the host's latest deploy attempt failed (no successful deploy since), else 0.",
               statuses.map { status in
                   let attempt = attempts[status.host]
                   let failed = attempt?.failed.map { failed in attempt?.succeeded.map { failed > $0 } ?? true } ?? false
                   return ([("host", status.host)], failed ? 1 : 0)
               })
        family("ca_host_last_probe_timestamp_seconds", "When each host's server was last probed, in Unix time.",
               statuses.compactMap { status in status.probeAt.map { ([("host", status.host)], $0.timeIntervalSince1970) } })
        let verdicts = ["OK", "DRIFT", "UNTRUSTED", "EXPIRING", "UNREACHABLE"]
        family("ca_host_probe_result", "1 for the result of each host's last probe (OK, DRIFT, UNTRUSTED, EXPIRING, UNREACHABLE), 0 for the others.",
               statuses.filter { $0.probeResult != nil }.flatMap { status in
                   verdicts.map { ([("host", status.host), ("result", $0)], status.probeResult == $0 ? 1 : 0) }
               })
        let runs = try store.lastMaintainRuns()
        family("ca_maintain_last_success_timestamp_seconds", "When the last 'ca maintain' that left nothing undone finished, in Unix time.",
               runs.lastOK.map { [([], $0.finishedAt.timeIntervalSince1970)] } ?? [])
        family("ca_maintain_last_run_timestamp_seconds", "When the last 'ca maintain' finished, in Unix time.",
               runs.last.map { [([], $0.finishedAt.timeIntervalSince1970)] } ?? [])
        family("ca_maintain_last_run_ok", "1 when the last 'ca maintain' left nothing undone or wrong, else 0.",
               runs.last.map { [([], $0.ok ? 1 : 0)] } ?? [])
        family("ca_metrics_generated_timestamp_seconds", "When this file was written, in Unix time.", [([], now.timeIntervalSince1970)])
        return out
    }

    /// Label values: backslash, double quote and line feed escaped, as the text format requires.
    static func escape(_ value: String) -> String {
        value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
