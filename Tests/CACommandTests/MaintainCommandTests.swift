import CAKit
import Foundation
import TestSupport
import Testing

/// `ca maintain`, `ca metrics` and `ca systemd` against the ssh stand-in of DeployCommandTests, with
/// leaves and a CRL made in the past (CA_TEST_CLOCK_OFFSET) so that they are due now. The hosts are
/// 127.0.0.1 on ports nothing listens on, so every probe stays on this machine (and is UNREACHABLE);
/// FleetTests runs the same against real servers.
@Suite(.serialized, .enabled(if: InstallFixture.enabled, "needs root and the postgres user"))
struct MaintainCommandTests {
    /// promtool: CA_PROMTOOL (scripts/test unpacks Debian's into /var/tmp/ca-prometheus), else one on the system.
    static var promtool: String? { MaintainTools.promtool }
    static let yearAgo = ["CA_TEST_CLOCK_OFFSET": String(-380 * 86_400)]
    static let daysAgo = ["CA_TEST_CLOCK_OFFSET": String(-(5 * 86_400) / 2)]

    /// What the hosts' installed files are, to show that a run wrote nothing.
    static func tree(_ path: String) -> [String: String] {
        var out: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let relative = enumerator?.nextObject() as? String {
            if let text = try? String(contentsOfFile: path + "/" + relative, encoding: .utf8) { out[relative] = text }
        }
        return out
    }

    func maintain(_ s: DeployCommandTests.Setup, _ arguments: [String] = [], expect status: Int32, environment: [String: String] = [:]) throws -> [String: Any] {
        let result = try s.ca(["maintain", "--json", "--passphrase-file", s.pw] + arguments, expect: status, environment: environment)
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)\n\(result.stderr)")
    }

    @Test func maintainRenewsResignsDeploysOnceLockedAndFinishesAKilledRun() throws {
        let s = try DeployCommandTests.Setup(loopback: true, environment: Self.yearAgo)
        let (db1, db2, down) = (s.names[0], s.names[1], s.names[2])
        // Leaves made 380 days ago (397-day validity: 17 days left), a 3-day CRL signed 2.5 days ago, deployed then.
        try s.ca(["crl", "--days", "3", "--passphrase-file", s.pw], environment: Self.daysAgo)
        _ = try s.deploy(["--all"], expect: 1, environment: Self.daysAgo)
        let hosts = s.scratch.file("hosts")
        let before = Self.tree(hosts)
        let serials = Set(try CAStore.open(path: s.db).certificates(CertificateFilter(status: .active)).map(\.serial.hex))

        // A dry run says what is due and writes nothing, here or there.
        let dry = try maintain(s, ["--dry-run"], expect: 1)
        #expect((dry["renewed"] as? [String])?.count == 6 && (dry["crls_signed"] as? [String]) == ["deploy-ca"], "\(dry)")
        let afterDry = Set(try CAStore.open(path: s.db).certificates(CertificateFilter(status: .active)).map(\.serial.hex))
        #expect(Self.tree(hosts) == before && afterDry == serials, "the dry run changed something")

        // A run held up in its deploy (a slow ssh): a second run at the same time does nothing, exit 75.
        let pids = s.scratch.file("slow.pids")
        let slow = try s.scratch.write("slow-ssh", "#!/bin/sh\nsleep 30 & echo $! >> \(pids); echo $$ >> \(pids); wait $!\nexec \(s.fakeSSH) \"$@\"\n", mode: 0o755)
        let first = try CABinary.launch(["maintain", "--db", s.db, "--passphrase-file", s.pw],
                                        environment: ["CA_SSH": slow, "CA_REMOTE_CA": s.remoteCA])
        let lock = s.db + ".maintain-lock"
        #expect(LocalCluster.wait(timeout: 20) {
            ((try? String(contentsOfFile: lock, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines) == String(first.pid)
                && ((try? CAStore.open(path: s.db).certificates(CertificateFilter(status: .active)).count) ?? 0) == 6
                && Set((try? CAStore.open(path: s.db).certificates(CertificateFilter(status: .active)).map(\.serial.hex)) ?? []).isDisjoint(with: serials)
        }, "the first run did not renew and hold the lock")
        let second = try s.ca(["maintain", "--passphrase-file", s.pw], expect: 75)
        #expect(second.stderr.contains("another 'ca maintain' is running on this database (pid \(first.pid))") && second.stdout.isEmpty, "\(second.stderr)")
        // Killed half-way (renewed, CRL re-signed, nothing deployed): the next run finishes the work.
        kill(first.pid, SIGKILL)
        _ = first.wait()
        // ca's ssh children, stopped by the PIDs they wrote (they would otherwise go on after 30 s).
        for pid in ((try? String(contentsOfFile: pids, encoding: .utf8)) ?? "").split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        #expect(Self.tree(hosts) == before, "the killed run deployed something")
        let finish = try maintain(s, [], expect: 1)
        #expect((finish["renewed"] as? [String])?.isEmpty == true, "the renewals of the killed run were lost: \(finish)")
        let rows = Dictionary(uniqueKeysWithValues: ((finish["deploy"] as? [[String: Any]]) ?? []).map { ($0["host"] as? String ?? "?", $0["result"] as? String ?? "?") })
        #expect(rows == [db1: "deployed", db2: "deployed", down: "failed"], "\(rows)")
        let problems = (finish["problems"] as? [String]) ?? []
        #expect(problems.contains { $0.hasPrefix("\(down): deploy failed [connect]") } && problems.contains { $0.contains("probe UNREACHABLE") }, "\(problems)")
        // Now nothing is due: every leaf far from expiry, the CRL fresh, and what the hosts hold is current.
        let active = try CAStore.open(path: s.db).certificates(CertificateFilter(status: .active))
        #expect(active.count == 6 && active.allSatisfy { $0.notAfter > Date().addingTimeInterval(300 * 86_400) })
        for host in [db1, db2] {
            let installed = try String(contentsOfFile: "\(hosts)/\(host)/etc/ssl/certs/\(host).crt", encoding: .utf8)
            #expect(active.contains { $0.hostName == host && $0.kind == .server && $0.certificatePEM == installed }, "\(host) does not have its renewed certificate")
        }
        let again = try maintain(s, [], expect: 1)
        #expect((again["renewed"] as? [String])?.isEmpty == true && (again["crls_signed"] as? [String])?.isEmpty == true, "\(again)")
        let second2 = Dictionary(uniqueKeysWithValues: ((again["deploy"] as? [[String: Any]]) ?? []).map { ($0["host"] as? String ?? "?", $0["result"] as? String ?? "?") })
        #expect(second2[db1] != "deployed" && second2[db2] != "deployed", "the second run changed a host: \(second2)")

        #expect(try s.ca(["status", "--check"]).stdout.contains("Integrity:     ok (every page checked)"))
        let status = try s.ca(["status"]).stdout
        #expect(status.contains("Maintain:      last run") && status.contains("left something undone; never ok")
                && status.contains("warning: the last 'ca maintain'"), "\(status)")

        // The metrics say which host failed, and pass promtool's lint.
        let metricsFile = s.scratch.file("ca.prom")
        try s.ca(["metrics", "-o", metricsFile])
        let metrics = try String(contentsOfFile: metricsFile, encoding: .utf8)
        #expect(InstallFixture.attributes(metricsFile)?.mode == 0o644)
        #expect(metrics.contains("ca_host_deploy_failed{host=\"\(down)\"} 1") && metrics.contains("ca_host_deploy_failed{host=\"\(db1)\"} 0"), "\(metrics)")
        #expect(metrics.contains("ca_host_up_to_date{host=\"\(down)\"} 0") && metrics.contains("ca_maintain_last_run_ok 0"))
        #expect(metrics.contains("ca_host_probe_result{host=\"\(db1)\",result=\"UNREACHABLE\"} 1") && !metrics.split(separator: "\n").contains { $0.hasPrefix("ca_maintain_last_success_timestamp_seconds") })
        #expect(metrics.components(separatedBy: "ca_certificate_expiry_timestamp_seconds{").count - 1 == 6)
        if let promtool = Self.promtool {
            let lint = try ProcessResult.run("/bin/sh", ["-c", "\(promtool) check metrics < \(metricsFile)"])
            #expect(lint.status == 0 && lint.stdout.isEmpty && lint.stderr.isEmpty, "\(lint.stdout)\(lint.stderr)")
        } else {
            #expect(!InCI.required, "promtool is missing (Debian's prometheus package; scripts/test installs it)")
        }
        try s.ca(["metrics", "-o", s.scratch.file("ca.txt")], expect: 64)
    }

    @Test func theAlertRulesAndTheUnitsPassTheirTools() throws {
        let contrib = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("contrib/prometheus").path
        if let promtool = Self.promtool {
            let check = try ProcessResult.run(promtool, ["check", "rules", contrib + "/ca-alerts.yml"])
            #expect(check.status == 0 && check.stdout.contains("SUCCESS: 6 rules found"), "\(check.stdout)\(check.stderr)")
            let test = try ProcessResult.run("/bin/sh", ["-c", "cd \(contrib) && \(promtool) test rules ca-alerts.test.yml"])
            #expect(test.status == 0 && test.stdout.contains("SUCCESS"), "\(test.stdout)\(test.stderr)")
        } else {
            #expect(!InCI.required, "promtool is missing (Debian's prometheus package; scripts/test installs it)")
        }
        // The README carries the same rules.
        let readme = try String(contentsOfFile: (contrib as NSString).deletingLastPathComponent.replacingOccurrences(of: "/contrib", with: "") + "/README.md", encoding: .utf8)
        let rules = try String(contentsOfFile: contrib + "/ca-alerts.yml", encoding: .utf8)
        #expect(readme.contains(rules.split(separator: "\n").drop { $0.hasPrefix("#") }.joined(separator: "\n")), "README's alert rules differ from contrib/prometheus/ca-alerts.yml")

        let scratch = try Scratch()
        let directory = scratch.file("units")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let written = try CABinary.run(["systemd", "--db", scratch.file("ca.sqlite3"), "--user", "postgres", "--on-calendar", "*-*-* 03:00:00",
                                        "--executable", CABinary.path, "-o", directory])
        #expect(written.status == 0, "\(written.stderr)")
        let service = try String(contentsOfFile: directory + "/ca-maintain.service", encoding: .utf8)
        for setting in ["LoadCredentialEncrypted=ca-passphrase:", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes", "User=postgres",
                        "ExecStart=\(CABinary.path) maintain --db \(scratch.file("ca.sqlite3"))", "ExecStopPost=\(CABinary.path) metrics"] {
            #expect(service.contains(setting), "\(setting) missing:\n\(service)")
        }
        #expect(try String(contentsOfFile: directory + "/ca-maintain.timer", encoding: .utf8).contains("OnCalendar=*-*-* 03:00:00"))
        let verify = try ProcessResult.run("/usr/bin/systemd-analyze", ["verify", "--man=no", directory + "/ca-maintain.service", directory + "/ca-maintain.timer"])
        #expect(verify.status == 0 && verify.stderr.isEmpty, "systemd-analyze verify: \(verify.stdout)\(verify.stderr)")
        // Nothing that could end a line of a unit or start another setting gets in.
        for arguments in [["--on-calendar", "daily\nExecStartPre=/bin/sh"], ["--user", "root;x"], ["--db", "/tmp/a b.sqlite3"], ["--metrics", "/tmp/%h.prom"], ["--metrics", "/tmp/ca.txt"]] {
            let refused = try CABinary.run(["systemd"] + arguments + ["-o", directory])
            #expect(refused.status == 64 && refused.stderr.split(separator: "\n").count == 1, "\(arguments): \(refused.stderr)")
        }

        // The passphrase from a systemd credential: $CREDENTIALS_DIRECTORY/ca-passphrase, nothing else set.
        let db = scratch.file("cred.sqlite3")
        let pw = try scratch.write("pw", "credential passphrase\n")
        #expect(try CABinary.run(["init", "--name", "cred-ca", "--passphrase-file", pw, "--db", db]).status == 0)
        try FileManager.default.createDirectory(atPath: scratch.file("credentials"), withIntermediateDirectories: true)
        _ = try scratch.write("credentials/ca-passphrase", "credential passphrase\n", mode: 0o400)
        let signed = try CABinary.run(["crl", "--db", db], environment: ["CREDENTIALS_DIRECTORY": scratch.file("credentials")])
        #expect(signed.status == 0 && signed.stdout.contains("BEGIN X509 CRL"), "\(signed.stderr)")
        _ = try scratch.write("credentials/ca-passphrase", "wrong\n", mode: 0o400)
        #expect(try CABinary.run(["crl", "--db", db], environment: ["CREDENTIALS_DIRECTORY": scratch.file("credentials")]).status == 77)
    }
}

/// In CI every tool the tests name must be there.
enum InCI {
    static var required: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
}
