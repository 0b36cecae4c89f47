import CAKit
import Foundation
import TestSupport
import Testing

enum FleetAvailability {
    static let tools = ["/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/sbin/ip", "/usr/bin/nsenter", "/usr/bin/unshare"]
    static var missing: [String] { tools.filter { !FileManager.default.isExecutableFile(atPath: $0) } }
    static var available: Bool { PostgresAvailability.available && missing.isEmpty }
    /// In CI the fleet proof must run: a missing tool fails there instead of skipping.
    static var enabled: Bool { available || PostgresAvailability.inCI }
}

/// Three hosts on one machine, each a network namespace (its own address on one bridge, its own port
/// 22 and 5432) and a mount namespace (its own /etc/ssl and ~postgres), with Debian's sshd and a real
/// PostgreSQL running inside. The CA side is a fourth namespace holding the bridge; `ca deploy` and
/// `ca probe` run there and reach the hosts only through ssh and PostgreSQL's port. Every process is
/// stopped by its PID and every namespace deleted at the end, also on failure.
@Suite(.serialized, .enabled(if: FleetAvailability.enabled, "needs root, PostgreSQL, openssh-server, iproute2 and util-linux"))
struct FleetTests {
    final class Fleet {
        struct Host {
            let short: String
            let name: String
            let address: String
            let role: String
            let directory: String
            let cluster: LocalCluster
            var namespace: String
            var sshd: pid_t?
        }

        let scratch: Scratch
        let id: String
        let lan: String
        let db: String
        let pw: String
        let sshConfig: String
        let binaries: String
        let version: PostgresVersion
        var hosts: [Host] = []
        var namespaces: [String] = []
        var proved: [String] = []
        private var clock = Date()

        init() throws {
            let major = try #require(PostgresMajor.all.first { $0.libraries == nil } ?? PostgresMajor.all.last, "no PostgreSQL server to run")
            binaries = major.binaries
            version = major.version
            scratch = try Scratch()
            chmod(scratch.path, 0o755)
            id = "caf\(getpid() % 100_000)"
            lan = "\(id)-lan"
            db = scratch.file("ca.sqlite3")
            pw = try scratch.write("pw", "fleet ca passphrase\n")
            sshConfig = scratch.file("ssh/config")
            let postgres = try #require(SystemAccounts().user("postgres"))
            try FileManager.default.createDirectory(atPath: scratch.file("ssh"), withIntermediateDirectories: true)
            chmod(scratch.file("ssh"), 0o700)
            for (index, role) in ["primary", "standby", "standby"].enumerated() {
                let short = "db\(index + 1)"
                let directory = scratch.file("hosts/\(short)")
                for (sub, mode, owner) in [("etc-ssl", 0o755, false), ("home", 0o755, true), ("data", 0o700, true), ("run", 0o755, true), ("log", 0o755, true)] {
                    let path = "\(directory)/\(sub)"
                    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                    chmod(path, mode_t(mode))
                    if owner { chown(path, postgres.uid, postgres.gid) }
                }
                chmod(scratch.file("hosts"), 0o755)
                chmod(directory, 0o755)
                let cluster = LocalCluster(binaries: binaries, dataDirectory: "\(directory)/data", socketDirectory: "\(directory)/run",
                                           port: 5432, logFile: "\(directory)/log/postgresql.log")
                hosts.append(Host(short: short, name: "\(short).fleet.internal", address: "10.213.0.\(11 + index)", role: role,
                                  directory: directory, cluster: cluster, namespace: "\(id)-\(short)", sshd: nil))
            }
        }

        deinit { tearDown() }

        /// PostgreSQL, then sshd, by their PIDs; then the namespaces. Safe to call twice.
        func tearDown() {
            for host in hosts.reversed() { host.cluster.stop() }
            for index in hosts.indices { stopSSHD(index) }
            for namespace in namespaces.reversed() { _ = try? run("/usr/sbin/ip", ["netns", "delete", namespace]) }
            namespaces = []
        }

        @discardableResult
        func run(_ program: String, _ arguments: [String], expect status: Int32? = 0) throws -> ProcessResult {
            let result = try ProcessResult.run(program, arguments, environment: ChildEnvironment.minimal(["HOME": "/root"]))
            if let status, result.status != status {
                throw CAError.io("\(program) \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
            }
            return result
        }

        func step(_ name: String) {
            let now = Date()
            print("fleet: \(name) (\(String(format: "%.2f", now.timeIntervalSince(clock))) s)")
            clock = now
        }

        // MARK: The network

        /// A bridge in the CA's namespace, one veth pair per host; addresses of this test's own.
        func buildNetwork() throws {
            try run("/usr/sbin/ip", ["netns", "add", lan]); namespaces.append(lan)
            try run("/usr/sbin/ip", ["-n", lan, "link", "set", "lo", "up"])
            try run("/usr/sbin/ip", ["-n", lan, "link", "add", "br0", "type", "bridge"])
            try run("/usr/sbin/ip", ["-n", lan, "addr", "add", "10.213.0.1/24", "dev", "br0"])
            try run("/usr/sbin/ip", ["-n", lan, "link", "set", "br0", "up"])
            for host in hosts {
                try run("/usr/sbin/ip", ["netns", "add", host.namespace]); namespaces.append(host.namespace)
                try run("/usr/sbin/ip", ["link", "add", "v-\(host.short)", "netns", lan, "type", "veth", "peer", "name", "eth0", "netns", host.namespace])
                try run("/usr/sbin/ip", ["-n", lan, "link", "set", "v-\(host.short)", "master", "br0", "up"])
                try run("/usr/sbin/ip", ["-n", host.namespace, "addr", "add", "\(host.address)/24", "dev", "eth0"])
                try run("/usr/sbin/ip", ["-n", host.namespace, "link", "set", "eth0", "up"])
                try run("/usr/sbin/ip", ["-n", host.namespace, "link", "set", "lo", "up"])
            }
        }

        // MARK: sshd

        /// Keys made here: one client key, one host key per host, a known_hosts that pins each, and an
        /// ssh_config that maps each host name to its address (what a DBA's ~/.ssh/config does).
        func makeSSHKeys() throws {
            try run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ca-fleet-test", "-f", scratch.file("ssh/id_ed25519")])
            var knownHosts = "", config = ""
            for host in hosts {
                let key = scratch.file("ssh/host_\(host.short)")
                try run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", key])
                let pub = try String(contentsOfFile: key + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                knownHosts += "\(host.address) \(pub)\n"
                config += """
                    Host \(host.name)
                        HostName \(host.address)
                        User root
                        IdentityFile \(scratch.file("ssh/id_ed25519"))
                        IdentitiesOnly yes
                        UserKnownHostsFile \(scratch.file("ssh/known_hosts"))
                        GlobalKnownHostsFile /dev/null
                        StrictHostKeyChecking yes

                    """
                try scratch.write("ssh/sshd_\(host.short).conf", """
                    ListenAddress \(host.address)
                    HostKey \(key)
                    AuthorizedKeysFile \(scratch.file("ssh/authorized_keys"))
                    PermitRootLogin prohibit-password
                    PasswordAuthentication no
                    KbdInteractiveAuthentication no
                    UsePAM no
                    StrictModes no
                    PidFile none

                    """, mode: 0o600)
            }
            try scratch.write("ssh/known_hosts", knownHosts, mode: 0o600)
            try scratch.write("ssh/config", config, mode: 0o600)
            try scratch.write("ssh/authorized_keys", try String(contentsOfFile: scratch.file("ssh/id_ed25519.pub"), encoding: .utf8), mode: 0o600)
            try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        }

        /// sshd in the host's network namespace and in a mount namespace of its own, where the host's
        /// /etc/ssl and ~postgres are its own directories. `ip netns exec`, unshare and sh each exec the
        /// next, so the PID we get is sshd's.
        func startSSHD(_ index: Int) throws {
            let host = hosts[index]
            let log = "\(host.directory)/log/sshd.log"
            let script = "mount --bind \(host.directory)/etc-ssl /etc/ssl && mount --bind \(host.directory)/home /var/lib/postgresql && exec /usr/sbin/sshd -D -e -f \(scratch.file("ssh/sshd_\(host.short).conf"))"
            let pid = try Spawn.start(["/usr/sbin/ip", "netns", "exec", host.namespace, "/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script],
                                      stdout: log, stderr: log + ".err", environment: ChildEnvironment.minimal(["HOME": "/root"]))
            hosts[index].sshd = pid
            let said = { (try? String(contentsOfFile: log + ".err", encoding: .utf8)) ?? "" }
            guard LocalCluster.wait(timeout: 10, { said().contains("Server listening") }) else {
                throw CAError.io("sshd on \(host.name) did not start: \(said())")
            }
        }

        func stopSSHD(_ index: Int) {
            guard let pid = hosts[index].sshd else { return }
            kill(pid, SIGTERM)
            _ = Spawn.wait(pid)
            hosts[index].sshd = nil
        }

        /// A command on the host: in its network and mount namespaces (those of its sshd).
        func onHost(_ index: Int, _ arguments: [String]) throws -> ProcessResult {
            let pid = try #require(hosts[index].sshd, "\(hosts[index].name) has no sshd to enter")
            return try run("/usr/bin/nsenter", ["-t", String(pid), "-m", "-n", "--"] + arguments, expect: nil)
        }

        // MARK: PostgreSQL

        func startPostgres(_ index: Int) throws {
            let host = hosts[index]
            let started = try onHost(index, ["/usr/sbin/runuser", "-u", "postgres", "--", binaries + "/pg_ctl", "-D", host.cluster.dataDirectory,
                                             "-l", host.cluster.logFile, "-w", "-t", "30", "start"])
            guard started.status == 0 else { throw CAError.io("PostgreSQL on \(host.name) did not start: \(started.stderr)\n\(host.cluster.log.suffix(1500))") }
        }

        func settings(_ index: Int) -> [String] {
            ["listen_addresses = '\(hosts[index].address)'", "port = 5432", "unix_socket_directories = '\(hosts[index].cluster.socketDirectory)'",
             "wal_retrieve_retry_interval = '500ms'"]
        }

        var primary: LocalCluster { hosts[0].cluster }

        /// The walsenders on the primary: `client_dn|state|ssl|client_serial` rows.
        var walsenders: [String] {
            ((try? primary.sql("SELECT s.client_dn, r.state, s.ssl, s.client_serial FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) ORDER BY 1")) ?? "")
                .split(separator: "\n").map(String.init)
        }

        /// Both standbys stream over TLS, each under its own certificate.
        var bothStreaming: Bool {
            let rows = walsenders
            return rows.count == 2 && hosts[1...].allSatisfy { host in rows.contains { $0.contains("OU=\(host.name)") && $0.contains("|streaming|t|") } }
        }

        /// A row written on the primary, the walsenders ended (so each standby reconnects with what is
        /// installed now), then streaming again and the row on both standbys, 15 s each at most.
        func rowArrives(_ label: String) throws {
            _ = try primary.sql("INSERT INTO fleet VALUES ('\(label)')")
            _ = try primary.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication")
            guard LocalCluster.wait(timeout: 15, { bothStreaming }) else {
                throw CAError.io("\(label): the standbys did not stream again: \(walsenders)\n\(hosts[1].cluster.log.suffix(800))\n\(hosts[2].cluster.log.suffix(800))")
            }
            for host in hosts[1...] {
                guard LocalCluster.wait(timeout: 15, { (try? host.cluster.sql("SELECT count(*) FROM fleet WHERE label = '\(label)'")) == "1" }) else {
                    throw CAError.io("\(label): the row did not reach \(host.name)")
                }
            }
        }

        // MARK: ca, on the CA side of the network

        /// `ca` in the CA's namespace, with this fleet's database, ssh config and remote ca.
        @discardableResult
        func ca(_ arguments: [String], expect status: Int32 = 0, environment extra: [String: String] = [:]) throws -> ProcessResult {
            let environment = ChildEnvironment.minimal(["HOME": "/root", "CA_DB": db, "CA_SSH": "/usr/bin/ssh -F \(sshConfig)",
                                                        "CA_REMOTE_CA": CABinary.path].merging(extra) { $1 })
            let result = try ProcessResult.run("/usr/sbin/ip", ["netns", "exec", lan, CABinary.path] + arguments, environment: environment)
            #expect(result.status == status, "ca \(arguments.joined(separator: " ")) exited \(result.status):\n\(result.stdout)\n\(result.stderr)")
            if result.status != status { throw CAError.io("ca \(arguments.first ?? "") exited \(result.status)") }
            return result
        }

        func deploy(_ arguments: [String], expect status: Int32 = 0) throws -> [[String: Any]] {
            let result = try ca(["deploy"] + arguments + ["--json", "--passphrase-file", pw], expect: status)
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]], "\(result.stdout)")
        }

        func probe(_ arguments: [String], expect status: Int32 = 0) throws -> [String: String] {
            let result = try ca(["probe"] + arguments + ["--json"], expect: status)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]], "\(result.stdout)")
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["host"] as? String ?? "?", $0["result"] as? String ?? "?") })
        }

        func results(_ rows: [[String: Any]]) -> [String: String] {
            Dictionary(uniqueKeysWithValues: rows.map { ($0["host"] as? String ?? "?", $0["result"] as? String ?? "?") })
        }

        func activeSerial(_ host: String, _ kind: String) throws -> String {
            let list = try ca(["list", "--host", host, "--kind", kind, "--status", "active", "--json"])
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
            return try #require(rows.last?["serial"] as? String)
        }

        /// The order of the recorded deployments in the audit log, oldest first, from `since` on.
        func deployOrder(after count: Int) throws -> [String] {
            let log = try ca(["log", "--json"])
            let events = try #require(try JSONSerialization.jsonObject(with: Data(log.stdout.utf8)) as? [[String: Any]])
            let deploys = events.filter { $0["action"] as? String == "deploy" }.compactMap { $0["subject"] as? String }
            return Array(deploys.dropFirst(count))
        }
    }

    @Test func deployProbeAndRotateAFleetOverSSH() throws {
        let f = try Fleet()
        defer { f.tearDown() }
        let names = f.hosts.map(\.name)
        try f.buildNetwork()
        try f.makeSSHKeys()
        for index in f.hosts.indices { try f.startSSHD(index) }
        f.step("network: 3 hosts on a bridge, sshd in each (own /etc/ssl, own ~postgres)")

        // The primary's cluster, and the standbys' data directories as pg_basebackup makes them (over
        // the primary's Unix socket, before any TLS exists); the standbys stay stopped until deploy.
        try f.primary.initdb()
        try f.primary.appendSettings(f.settings(0))
        try f.startPostgres(0)
        _ = try f.primary.sql("CREATE ROLE replicator LOGIN REPLICATION")
        _ = try f.primary.sql("CREATE TABLE fleet (label text)")
        for index in 1...2 {
            let backup = try LocalCluster.run(asUser: "postgres", f.binaries + "/pg_basebackup",
                                              ["-h", f.primary.socketDirectory, "-p", "5432", "-D", f.hosts[index].cluster.dataDirectory, "-X", "stream", "-c", "fast"])
            #expect(backup.ok, "pg_basebackup for \(f.hosts[index].name): \(backup.stderr)")
            try f.hosts[index].cluster.appendSettings(f.settings(index))
        }
        f.step("PostgreSQL \(f.version): primary running, two base backups")

        // The PKI, on the CA side only. db3 makes its own keys: deploy has it request, signs, installs.
        try f.ca(["init", "--name", "fleet-ca", "--passphrase-file", f.pw])
        for (index, host) in f.hosts.enumerated() {
            try f.ca(["host", "add", host.name, "--ip", host.address, "--role", host.role, "--pg-version", f.version.description,
                      "--data-dir", host.cluster.dataDirectory, "--config-dir", host.cluster.dataDirectory, "--port", "5432",
                      "--keys", index == 2 ? "host" : "ca"])
            if index != 2 { try f.ca(["issue", host.name, "--passphrase-file", f.pw]) }
        }

        // 1. The first deploy --all: standbys first, then the primary; the standbys start and stream.
        let dry = try f.deploy(["--all", "--dry-run"])
        #expect(f.results(dry) == Dictionary(uniqueKeysWithValues: names.map { ($0, "would-change") }), "\(dry)")
        #expect(FileManager.default.contents(atPath: f.hosts[0].directory + "/etc-ssl/certs/\(names[0]).crt") == nil, "the dry run wrote a file")
        #expect(try f.deployOrder(after: 0).isEmpty, "the dry run recorded a deployment")
        let first = try f.deploy(["--all"])
        #expect(f.results(first) == Dictionary(uniqueKeysWithValues: names.map { ($0, "deployed") }), "\(first)")
        let order = try f.deployOrder(after: 0)
        #expect(order.count == 3 && order.last == names[0], "standbys before their primary: \(order)")
        for host in f.hosts {
            #expect(FileManager.default.fileExists(atPath: host.directory + "/etc-ssl/private/\(host.name).key"), "\(host.name)'s key is not in its own /etc/ssl")
            let link = try FileManager.default.destinationOfSymbolicLink(atPath: host.cluster.dataDirectory + "/server.crt")
            #expect(link == "/etc/ssl/certs/\(host.name).crt", "\(link)")
        }
        #expect(!FileManager.default.fileExists(atPath: "/etc/ssl/private/\(names[0]).key"), "a host's key landed in this machine's /etc/ssl")
        let db3Records = try CAStore.open(path: f.db).certificates(CertificateFilter(hostName: names[2]))
        #expect(db3Records.count == 2 && db3Records.allSatisfy { $0.keyPEM == nil }, "the CA holds a key db3 made")
        #expect(!FileManager.default.fileExists(atPath: f.hosts[2].directory + "/etc-ssl/ca-managed/hosts/\(names[2])/pending"))
        try f.startPostgres(1)
        try f.startPostgres(2)
        #expect(LocalCluster.wait(timeout: 20) { f.bothStreaming }, "no streaming: \(f.walsenders)\n\(f.hosts[1].cluster.log.suffix(1500))")
        #expect(f.walsenders.allSatisfy { $0.contains("CN=replicator") })
        try f.rowArrives("first-deploy")
        let again = try f.deploy(["--all"])
        #expect(f.results(again) == Dictionary(uniqueKeysWithValues: names.map { ($0, "up-to-date") }), "a second deploy --all contacted hosts: \(again)")
        f.step("1: deploy --all (standbys first; db3 requests over ssh, signed here), both standbys stream over verify-full with cert auth; a rerun contacts nobody")
        f.proved.append("first deploy --all brings up replication (verify-full, cert auth, standbys before primary, dry run writes nothing, rerun contacts nobody; db3's keys made on db3 through request/sign over ssh, none in the CA database)")

        // 2. probe: OK; DRIFT after db2's server.crt is pointed by hand at another certificate of this CA; OK after deploy.
        #expect(try f.probe(["--all"]) == Dictionary(uniqueKeysWithValues: names.map { ($0, "OK") }))
        let other = try f.ca(["issue", "server", names[1], "--ip", f.hosts[1].address, "--json", "--passphrase-file", f.pw])
        let otherSerial = try #require(((try JSONSerialization.jsonObject(with: Data(other.stdout.utf8)) as? [String: Any])?["issued"] as? [[String: Any]])?.first?["serial"] as? String)
        let pem = try f.ca(["show", otherSerial, "--pem", "--with-key", "--passphrase-file", f.pw]).stdout
        let keyStart = try #require(pem.range(of: "-----BEGIN PRIVATE KEY-----"))
        let postgres = try #require(SystemAccounts().user("postgres"))
        let handCert = try f.scratch.write("hosts/db2/etc-ssl/certs/by-hand.crt", String(pem[..<keyStart.lowerBound]), mode: 0o644)
        let handKey = try f.scratch.write("hosts/db2/etc-ssl/by-hand.key", String(pem[keyStart.lowerBound...]), mode: 0o600)
        _ = handCert
        chown(handKey, postgres.uid, postgres.gid)
        let data2 = f.hosts[1].cluster.dataDirectory
        for (link, target) in [("server.crt", "/etc/ssl/certs/by-hand.crt"), ("server.key", "/etc/ssl/by-hand.key")] {
            try FileManager.default.removeItem(atPath: "\(data2)/\(link)")
            try FileManager.default.createSymbolicLink(atPath: "\(data2)/\(link)", withDestinationPath: target)
        }
        _ = try #require(f.hosts[1].cluster.postmaster).signal(SIGHUP)
        #expect(LocalCluster.wait(timeout: 10) { ((try? f.probe([names[1]], expect: 1)) ?? [:])[names[1]] == "DRIFT" }, "the hand-made link was not seen as DRIFT")
        let status = try f.ca(["status"]).stdout
        #expect(status.contains("\(names[1]) (standby): deployed") && status.contains("probe DRIFT"), "\(status)")
        // Revoked, the same certificate is not drift any more but untrusted.
        try f.ca(["revoke", otherSerial, "--reason", "keyCompromise", "--passphrase-file", f.pw])
        let revokedProbe = try f.ca(["probe", names[1]], expect: 1).stdout
        #expect(revokedProbe.contains("UNTRUSTED") && revokedProbe.contains("revoked"), "\(revokedProbe)")
        let fixed = try f.deploy([names[1]])
        #expect(f.results(fixed) == [names[1]: "deployed"], "\(fixed)")
        #expect(LocalCluster.wait(timeout: 10) { ((try? f.probe([names[1]])) ?? [:])[names[1]] == "OK" })
        #expect(try f.probe(["--all"]).values.allSatisfy { $0 == "OK" })
        try f.rowArrives("after-drift")
        f.step("2: probe OK, DRIFT after a hand-made link on db2, UNTRUSTED once that certificate is revoked, OK after deploy db2")
        f.proved.append("probe OK, DRIFT after server.crt was pointed by hand at another certificate, UNTRUSTED once it is revoked, OK after deploy")

        // 3. A full CA rotation, each stage followed by deploy --all, rows arriving throughout.
        func stage(_ command: [String], _ label: String) throws {
            try f.ca(["rotate"] + command + (command == ["finish"] ? [] : ["--passphrase-file", f.pw]))
            let rows = try f.deploy(["--all"])
            #expect(rows.allSatisfy { $0["result"] as? String == "deployed" }, "\(label): \(rows)")
            try f.rowArrives(label)
            #expect(try f.probe(["--all"]).values.allSatisfy { $0 == "OK" }, "\(label): probe")
        }
        try stage(["start"], "rotation-1-start")
        try stage(["reissue"], "rotation-1-reissue")
        try stage(["finish"], "rotation-1-finish")
        let issuers = try f.primary.sql("SELECT DISTINCT s.issuer_dn FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)")
        #expect(issuers.contains("fleet-ca G2") && !issuers.contains("\n"), "client certificates after rotation: \(issuers)")
        for host in f.hosts[1...] {
            let serial = ReplicationTests.decimal(hex: try f.activeSerial(host.name, "client"))
            #expect(f.walsenders.contains { $0.contains("OU=\(host.name)") && $0.hasSuffix("|\(serial)") }, "\(host.name) does not connect with its new certificate: \(f.walsenders)")
        }
        f.step("3: rotation start/reissue/finish, deploy --all after each, rows on both standbys at every stage")
        f.proved.append("rotation start/reissue/finish through deploy --all with rows arriving on both standbys at every stage; the walsenders use the G2 client certificates")

        // 4. One standby's sshd down during a rotation: the others finish, the host is named, exit 1;
        //    rotate finish refuses until the rerun (which does only that host) has reached it.
        try stage(["start"], "rotation-2-start")
        try f.ca(["rotate", "reissue", "--passphrase-file", f.pw])
        f.stopSSHD(2)
        let partial = try f.deploy(["--all"], expect: 1)
        #expect(f.results(partial) == [names[0]: "deployed", names[1]: "deployed", names[2]: "failed"], "\(partial)")
        let down = try #require(partial.first { $0["host"] as? String == names[2] })
        let downError = down["error"] as? String
        #expect(down["stage"] as? String == "connect" && downError?.contains("Connection refused") == true, "\(down)")
        let text = try f.ca(["deploy", "--all", "--passphrase-file", f.pw], expect: 1)
        #expect(text.stdout.contains("FAILED") && text.stdout.contains(names[2]) && text.stdout.contains("1 of 3 host(s) left"), "\(text.stdout)")
        let refused = try f.ca(["rotate", "finish"], expect: 64)
        #expect(refused.stderr.contains(names[2]), "\(refused.stderr)")
        try f.rowArrives("rotation-2-partial")
        try f.startSSHD(2)
        let rerun = try f.deploy(["--all"])
        #expect(f.results(rerun) == [names[0]: "up-to-date", names[1]: "up-to-date", names[2]: "deployed"], "the rerun did more than was left: \(rerun)")
        try f.rowArrives("rotation-2-rerun")
        try stage(["finish"], "rotation-2-finish")
        let issuers2 = try f.primary.sql("SELECT DISTINCT s.issuer_dn FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)")
        #expect(issuers2.contains("fleet-ca G3"), "\(issuers2)")
        let hostLines = try f.ca(["status"]).stdout
        #expect(names.allSatisfy { hostLines.contains("\($0) (") } && hostLines.contains("next: nothing") && !hostLines.contains("next: deploy"), "\(hostLines)")
        f.step("4: sshd down on db3: others deployed, db3 named, exit 1, rotate finish refused; the rerun deployed db3 alone, finish allowed")
        f.proved.append("a host with its sshd down is reported and leaves exit 1 while the others finish; rotate finish waits for it; the rerun does only that host")

        // 5. Hands-off. Leaves made 380 days ago (17 days left) and a 1-day CRL signed 17 hours ago (7 hours
        //    left), installed then; the real servers check them with the real clock.
        try f.ca(["renew", "--within", "3650d", "--keep-key", "--days", "397", "--passphrase-file", f.pw], environment: ["CA_TEST_CLOCK_OFFSET": String(-380 * 86_400)])
        let recent = ["CA_TEST_CLOCK_OFFSET": String(-17 * 3600)]
        try f.ca(["crl", "--days", "1", "--passphrase-file", f.pw], environment: recent)
        let old = try f.ca(["deploy", "--all", "--json", "--passphrase-file", f.pw], environment: recent)
        #expect(!old.stdout.contains("\"failed\""), "\(old.stdout)")
        try f.rowArrives("before-maintain")
        let oldClients = try f.hosts[1...].map { try f.activeSerial($0.name, "client") }
        func maintain(expect status: Int32 = 0) throws -> [String: Any] {
            let result = try f.ca(["maintain", "--json", "--passphrase-file", f.pw], expect: status)
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)\n\(result.stderr)")
        }
        let run = try maintain()
        #expect((run["renewed"] as? [String])?.count == 4 && (run["waiting_for_host"] as? [String]) == [names[2]] && (run["crls_signed"] as? [String]) == ["fleet-ca"], "\(run)")
        #expect(f.results(run["deploy"] as? [[String: Any]] ?? []) == Dictionary(uniqueKeysWithValues: names.map { ($0, "deployed") }), "\(run)")
        #expect((run["probes"] as? [[String: Any]])?.allSatisfy { $0["result"] as? String == "OK" } == true && (run["ok"] as? Bool) == true, "\(run)")
        // The standbys reconnected by themselves (install --reconnect): the primary sees the new client certificates.
        let newClients = try f.hosts[1...].map { (host: $0.name, serial: ReplicationTests.decimal(hex: try f.activeSerial($0.name, "client"))) }
        #expect(Set(newClients.map(\.serial)).isDisjoint(with: Set(oldClients.map { ReplicationTests.decimal(hex: $0) })))
        #expect(LocalCluster.wait(timeout: 15) { f.bothStreaming && newClients.allSatisfy { client in f.walsenders.contains { $0.contains("OU=\(client.host)") && $0.hasSuffix("|\(client.serial)") } } },
                "the walsenders are not on the renewed client certificates: \(f.walsenders)")
        let rowsBefore = try f.primary.sql("SELECT count(*) FROM fleet")
        _ = try f.primary.sql("INSERT INTO fleet VALUES ('after-maintain')")
        for host in f.hosts[1...] {
            #expect(LocalCluster.wait(timeout: 15) { (try? host.cluster.sql("SELECT count(*) FROM fleet WHERE label = 'after-maintain'")) == "1" }, "\(host.name) stopped replicating")
        }
        _ = rowsBefore
        f.step("5a: maintain renewed 4 leaves and db3's through its request, re-signed the CRL, deployed all three, the standbys reconnected on their new certificates, probe OK")
        let quiet = try maintain()
        #expect((quiet["renewed"] as? [String])?.isEmpty == true && (quiet["crls_signed"] as? [String])?.isEmpty == true, "\(quiet)")
        #expect(f.results(quiet["deploy"] as? [[String: Any]] ?? []) == Dictionary(uniqueKeysWithValues: names.map { ($0, "up-to-date") }), "the second run contacted a host: \(quiet)")

        // With db3's sshd down and something new for every host (a revocation in the CRL): exit 1, and the metrics say db3 failed.
        let extra = try f.ca(["issue", "client", "reporting", "--json", "--passphrase-file", f.pw])
        let extraSerial = try #require(((try JSONSerialization.jsonObject(with: Data(extra.stdout.utf8)) as? [String: Any])?["issued"] as? [[String: Any]])?.first?["serial"] as? String)
        try f.ca(["revoke", extraSerial, "--reason", "cessationOfOperation", "--passphrase-file", f.pw])
        f.stopSSHD(2)
        let broken = try maintain(expect: 1)
        #expect(f.results(broken["deploy"] as? [[String: Any]] ?? []) == [names[0]: "deployed", names[1]: "deployed", names[2]: "failed"], "\(broken)")
        let metricsFile = f.scratch.file("ca.prom")
        try f.ca(["metrics", "-o", metricsFile])
        let metrics = try String(contentsOfFile: metricsFile, encoding: .utf8)
        #expect(metrics.contains("ca_host_deploy_failed{host=\"\(names[2])\"} 1") && metrics.contains("ca_host_deploy_failed{host=\"\(names[0])\"} 0")
                && metrics.contains("ca_host_up_to_date{host=\"\(names[2])\"} 0") && metrics.contains("ca_maintain_last_run_ok 0"), "\(metrics)")
        if let promtool = MaintainTools.promtool {
            let lint = try ProcessResult.run("/bin/sh", ["-c", "\(promtool) check metrics < \(metricsFile)"])
            #expect(lint.status == 0 && lint.stdout.isEmpty && lint.stderr.isEmpty, "\(lint.stdout)\(lint.stderr)")
        } else {
            #expect(!PostgresAvailability.inCI, "promtool is missing in CI")
        }
        try f.startSSHD(2)
        let healed = try maintain()
        #expect(f.results(healed["deploy"] as? [[String: Any]] ?? []) == [names[0]: "up-to-date", names[1]: "up-to-date", names[2]: "deployed"], "\(healed)")
        try f.ca(["metrics", "-o", metricsFile])
        let after = try String(contentsOfFile: metricsFile, encoding: .utf8)
        #expect(after.contains("ca_host_deploy_failed{host=\"\(names[2])\"} 0") && after.contains("ca_maintain_last_run_ok 1")
                && after.contains("ca_maintain_last_success_timestamp_seconds "), "\(after)")
        try f.rowArrives("after-heal")
        f.step("5b: a second maintain contacted nobody; with db3's sshd down maintain exited 1 and the metrics named db3; the next run finished it")
        f.proved.append("maintain renewed leaves near expiry (db3's through a request), re-signed a CRL near nextUpdate, deployed and reconnected the standbys onto their new certificates with replication running, probed OK; a second run contacted nobody; a host down left exit 1 and ca_host_deploy_failed 1 (promtool clean) until the next run")
        print("fleet PG \(f.version) proved: " + f.proved.joined(separator: "; "))
    }
}
