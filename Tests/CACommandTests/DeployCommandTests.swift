import CAKit
import Foundation
import TestSupport
import Testing

/// `ca deploy` against a stand-in for ssh: a script that logs its argv and runs the remote command
/// locally, with the remote `ca` installing under a root of the host's own. What crosses "the
/// network" is what ssh would carry; the real ssh and sshd are proved in FleetTests.
@Suite(.serialized, .enabled(if: InstallFixture.enabled, "needs root and the postgres user"))
struct DeployCommandTests {
    final class Setup {
        let scratch: Scratch
        let db: String
        let pw: String
        let passphrase = "deploy test passphrase"
        let fakeSSH: String
        let remoteCA: String
        let names = ["db1.t.internal", "db2.t.internal", "down.t.internal"]

        /// Extra environment for the setup commands (a moved clock).
        let setupEnvironment: [String: String]

        /// With `loopback`, every host is 127.0.0.1 on a port nothing listens on, so a probe stays on this machine.
        init(loopback: Bool = false, environment: [String: String] = [:]) throws {
            setupEnvironment = environment
            scratch = try Scratch()
            chmod(scratch.path, 0o755)
            db = scratch.file("ca.sqlite3")
            pw = try scratch.write("pw", passphrase + "\n")
            // ssh's shape: options, --, destination, one command string for the remote shell.
            fakeSSH = try scratch.write("fake-ssh", """
                #!/bin/sh
                printf '%s\\n' "$*" >> \(scratch.file("argv.log"))
                while [ "$1" != "--" ]; do shift; done; shift
                host="$1"; shift
                case "$host" in down*) echo "ssh: connect to host $host port 22: Connection refused" >&2; exit 255;; esac
                FAKE_HOST="$host" exec /bin/sh -c "$1"

                """, mode: 0o755)
            remoteCA = try scratch.write("remote-ca", """
                #!/bin/sh
                if [ "$1" = install ] || [ "$1" = request ]; then exec \(CABinary.path) "$@" --root \(scratch.path)/hosts/"$FAKE_HOST"; fi
                exec \(CABinary.path) "$@"

                """, mode: 0o755)
            let made = try CABinary.run(["init", "--name", "deploy-ca", "--passphrase-file", pw, "--db", db], environment: environment)
            #expect(made.status == 0, "\(made.stderr)")
            for (index, name) in names.enumerated() {
                let role = index == 0 ? "primary" : "standby"
                let address = loopback ? ["--ip", "127.0.0.1", "--port", String(LocalCluster.freePort())] : ["--ip", "192.0.2.\(index + 1)"]
                for step in [["host", "add", name, "--role", role, "--data-dir", "/srv/pg/\(index)", "--config-dir", "/srv/pg/\(index)"] + address,
                             ["issue", name, "--passphrase-file", pw]] {
                    try ca(step, environment: environment)
                }
                let host = try PostgresHost(name: HostName(name), dnsNames: [], ipAddresses: [], role: index == 0 ? .primary : .standby, postgresVersion: .default,
                                            dataDirectory: AbsolutePath("/srv/pg/\(index)", what: "d"), configDirectory: AbsolutePath("/srv/pg/\(index)", what: "c"),
                                            osUser: "postgres", replicationUser: "replicator")
                try Demo.stageCluster(host, root: scratch.file("hosts/\(name)"))
            }
        }

        @discardableResult
        func ca(_ arguments: [String], expect status: Int32 = 0, environment: [String: String] = [:]) throws -> ProcessResult {
            let result = try CABinary.run(arguments + ["--db", db], environment: ["CA_SSH": fakeSSH, "CA_REMOTE_CA": remoteCA].merging(environment) { $1 })
            #expect(result.status == status, "ca \(arguments.joined(separator: " ")): \(result.stdout)\n\(result.stderr)")
            return result
        }

        func deploy(_ arguments: [String], expect status: Int32 = 0, environment: [String: String] = [:]) throws -> [String: [String: Any]] {
            let result = try ca(["deploy"] + arguments + ["--json", "--passphrase-file", pw], expect: status, environment: environment)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]], "\(result.stdout)\n\(result.stderr)")
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["host"] as? String ?? "?", $0) })
        }

        var argv: [String] { ((try? String(contentsOfFile: scratch.file("argv.log"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

        /// Every file under the scratch tree that holds a plain private key.
        func plainKeys() -> [String] {
            var out: [String] = []
            let enumerator = FileManager.default.enumerator(atPath: scratch.path)
            while let relative = enumerator?.nextObject() as? String {
                let path = scratch.file(relative)
                var info = stat()
                guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
                      let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
                if text.contains("BEGIN PRIVATE KEY") || text.contains("BEGIN EC PRIVATE KEY") { out.append(relative) }
            }
            return out.sorted()
        }
    }

    /// A string field of a JSON row, "" when absent (bound outside #expect, whose expansion mangles `as? String ??`).
    static func text(_ row: [String: Any]?, _ key: String) -> String {
        guard let value = row?[key] as? String else { return "" }
        return value
    }

    @Test func deployRecordsOnlyWhatTheRemoteReportedAndRerunsOnlyWhatIsLeft() throws {
        let s = try Setup()
        let (db1, db2, down) = (s.names[0], s.names[1], s.names[2])

        let dry = try s.deploy(["--all", "--dry-run"], expect: 1)
        #expect(dry[db1]?["result"] as? String == "would-change" && dry[db2]?["result"] as? String == "would-change", "\(dry)")
        #expect(!FileManager.default.fileExists(atPath: s.scratch.file("hosts/\(db1)/etc/ssl")), "the dry run wrote on the host")
        #expect(try s.ca(["log", "--json"]).stdout.contains("\"deploy\"") == false, "the dry run recorded a deployment")

        let afterDryRun = s.argv.count
        let first = try s.deploy(["--all"], expect: 1)
        #expect(first[db1]?["result"] as? String == "deployed" && first[db2]?["result"] as? String == "deployed", "\(first)")
        #expect(first[down]?["result"] as? String == "failed" && first[down]?["stage"] as? String == "connect")
        let downError = Self.text(first[down], "error")
        #expect(downError.contains("Connection refused"), "the remote's own words: \(downError)")
        #expect(first[db1]?["server_serial"] as? String != nil && (first[db1]?["trust_key_ids"] as? [String])?.count == 1)

        // Nothing secret on ssh's command line; batch mode, no terminal; the CA pinned on a first install only.
        let argv = Array(s.argv[afterDryRun...])
        #expect(!argv.isEmpty && argv.allSatisfy { !$0.contains("PRIVATE KEY") && !$0.contains(s.passphrase) && $0.contains("BatchMode=yes") && $0.contains("-T") })
        let installs = argv.filter { $0.contains(" install ") && !$0.contains("--dry-run") }
        #expect(installs.count == 2 && installs.allSatisfy { $0.contains("--ca-fingerprint") }, "\(installs)")
        // Standbys first: the primary's first ssh comes after every standby's last.
        let firstPrimary = try #require(argv.firstIndex { $0.contains("-- \(db1) ") })
        let lastStandby = try #require(argv.lastIndex { $0.contains("-- \(db2) ") || $0.contains("-- \(down) ") })
        #expect(lastStandby < firstPrimary, "\(argv)")

        // Keys only in their final place: each host's /etc/ssl/private (the database holds them encrypted).
        let keys = s.plainKeys()
        #expect(keys.count == 4 && [db1, db2].allSatisfy { host in keys.filter { $0.hasPrefix("hosts/\(host)/etc/ssl/ca-managed/hosts/\(host)/") }.count == 2 }, "\(keys)")

        // Recorded: the two that succeeded; the failure is in the audit log; status says what is next.
        let status = try #require(try JSONSerialization.jsonObject(with: Data(try s.ca(["status", "--json"]).stdout.utf8)) as? [String: Any])
        let hosts = try #require(status["host_status"] as? [[String: Any]])
        let next = Dictionary(uniqueKeysWithValues: hosts.map { ($0["host"] as? String ?? "?", $0["next"] as? String ?? "nothing") })
        #expect(next[db1] == "nothing" && next[db2] == "nothing" && next[down] == "deploy: never installed through ca", "\(next)")
        #expect(hosts.first { $0["host"] as? String == db1 }?["deployed_via"] as? String == "deploy")
        let log = try s.ca(["log"]).stdout
        #expect(log.contains("deploy failed") && log.contains(down), "\(log)")

        // The rerun contacts only what is left; --force contacts the others too, which have nothing to change.
        let before = s.argv.count
        let rerun = try s.deploy(["--all"], expect: 1)
        #expect(rerun[db1]?["result"] as? String == "up-to-date" && rerun[db2]?["result"] as? String == "up-to-date" && rerun[down]?["result"] as? String == "failed")
        #expect(s.argv[before...].allSatisfy { $0.contains("-- \(down) ") }, "the rerun contacted a host that was done: \(s.argv[before...])")
        let forced = try s.deploy(["--all", "--force"], expect: 1)
        #expect(forced[db1]?["result"] as? String == "unchanged" && forced[db2]?["result"] as? String == "unchanged", "\(forced)")
        #expect(s.argv[before...].filter { $0.contains(" install ") && $0.contains("-- \(db1) ") }.allSatisfy { !$0.contains("--ca-fingerprint") },
                "a host ca installed before was sent the pin again")

        // A renewal: status says the host is behind, the dry run shows the remote's plan and changes nothing.
        try s.ca(["issue", db1, "--passphrase-file", s.pw])
        let behind = try s.ca(["status"]).stdout
        #expect(behind.contains("\(db1) (primary): deployed") && behind.contains("next: deploy: its renewed certificates"), "\(behind)")
        let certificate = s.scratch.file("hosts/\(db1)/etc/ssl/certs/\(db1).crt")
        let old = try String(contentsOfFile: certificate, encoding: .utf8)
        let plan = try s.ca(["deploy", db1, "--dry-run", "--passphrase-file", s.pw])
        #expect(plan.stdout.hasPrefix("WOULD-CHANGE") && plan.stdout.contains("would be updated: \(s.scratch.path)/hosts/\(db1)/etc/ssl/ca-managed/hosts/\(db1)/current/server.crt")
                && plan.stdout.contains("Nothing was written"), "\(plan.stdout)")
        #expect(try String(contentsOfFile: certificate, encoding: .utf8) == old)
        let text = try s.ca(["deploy", db1, "--passphrase-file", s.pw])
        #expect(text.stdout.hasPrefix("DEPLOYED") && text.stdout.contains("Every host has its material"), "\(text.stdout)")
        #expect(try String(contentsOfFile: certificate, encoding: .utf8) != old)
    }

    @Test func aHostThatMakesItsOwnKeysIsRequestedSignedAndInstalledInOneRun() throws {
        let s = try Setup()
        let name = "keys.t.internal"
        try s.ca(["host", "add", name, "--ip", "192.0.2.9", "--keys", "host", "--data-dir", "/srv/pg/9", "--config-dir", "/srv/pg/9"])
        let host = try PostgresHost(name: HostName(name), dnsNames: [], ipAddresses: [], role: .standby, postgresVersion: .default,
                                    dataDirectory: AbsolutePath("/srv/pg/9", what: "d"), configDirectory: AbsolutePath("/srv/pg/9", what: "c"),
                                    osUser: "postgres", replicationUser: "replicator", keyPolicy: .host)
        let hostRoot = s.scratch.file("hosts/\(name)")
        try Demo.stageCluster(host, root: hostRoot)
        #expect(try s.ca(["status"]).stdout.contains("next: deploy: keys to be made there"))

        let dry = try s.deploy([name, "--dry-run"])
        #expect(Self.text(dry[name], "result") == "would-change" && !FileManager.default.fileExists(atPath: hostRoot + "/etc/ssl"), "\(dry)")

        let before = s.argv.count
        let first = try s.deploy([name])
        #expect(Self.text(first[name], "result") == "deployed", "\(first)")
        let argv = Array(s.argv[before...])
        let request = try #require(argv.firstIndex { $0.contains(" request --bundle -") }, "\(argv)")
        let install = try #require(argv.firstIndex { $0.contains(" install --bundle -") }, "\(argv)")
        #expect(request < install && argv[request].contains("--ca-fingerprint") && !argv[request].contains("--new-key"), "\(argv)")
        // The keys exist once, in the generation the host's links name; none in the database, none pending.
        let managed = "hosts/\(name)/etc/ssl/ca-managed/hosts/\(name)/"
        let keys = s.plainKeys().filter { $0.hasPrefix("hosts/\(name)/") }
        #expect(keys.count == 2 && keys.allSatisfy { $0.hasPrefix(managed + "g-") }, "\(keys)")
        let records = try CAStore.open(path: s.db).certificates(CertificateFilter(hostName: name))
        #expect(records.count == 2 && records.allSatisfy { $0.keyPEM == nil })
        #expect(try s.ca(["status"]).stdout.contains("\(name) (standby): deployed"))
        let serverKey = hostRoot + "/etc/ssl/private/\(name).key"
        let key = try String(contentsOfFile: serverKey, encoding: .utf8)

        // Nothing new: no request, nothing changed. A renewal with new keys: the next deploy asks the host for them.
        let quiet = s.argv.count
        #expect(Self.text(try s.deploy([name])[name], "result") == "unchanged")
        #expect(!s.argv[quiet...].contains { $0.contains(" request ") })
        try s.ca(["renew", "--host", name, "--within", "500d", "--passphrase-file", s.pw])
        let renewal = s.argv.count
        #expect(Self.text(try s.deploy([name])[name], "result") == "deployed")
        #expect(s.argv[renewal...].contains { $0.contains(" request --bundle - --new-key") }, "\(s.argv[renewal...])")
        #expect(try String(contentsOfFile: serverKey, encoding: .utf8) != key)
        #expect(s.plainKeys().filter { $0.hasPrefix("hosts/\(name)/") }.count == 2)
        let after = try CAStore.open(path: s.db).certificates(CertificateFilter(hostName: name, status: .active))
        #expect(after.count == 2 && after.allSatisfy { $0.keyPEM == nil && !records.map(\.serial).contains($0.serial) })
        let status = try s.ca(["status"]).stdout
        #expect(status.contains("\(name) (standby): deployed") && !status.contains("new keys made there"), "\(status)")

        // Revoked: the next deploy has the host make new keys (the old one may be compromised).
        try s.ca(["revoke", name, "--kind", "client", "--reason", "keyCompromise", "--passphrase-file", s.pw])
        let replacement = s.argv.count
        let replacementKey = try String(contentsOfFile: hostRoot + "/etc/ssl/private/\(name)-replication.key", encoding: .utf8)
        #expect(Self.text(try s.deploy([name])[name], "result") == "deployed")
        #expect(s.argv[replacement...].contains { $0.contains(" request --bundle - --new-key") }, "\(s.argv[replacement...])")
        #expect(try String(contentsOfFile: hostRoot + "/etc/ssl/private/\(name)-replication.key", encoding: .utf8) != replacementKey)

        // A remote too old for requests is told so, and nothing is signed.
        let oldCA = try s.scratch.write("old-ca", "#!/bin/sh\necho 0.2.0\n", mode: 0o755)
        let old = try s.deploy([name, "--new-key"], expect: 1, environment: ["CA_REMOTE_CA": oldCA])
        #expect(Self.text(old[name], "error").contains("ca there is 0.2.0; keys made on the host need \(CAVersion.minimumRemoteHostKeys) or later"), "\(old)")
        #expect(try CAStore.open(path: s.db).certificates(CertificateFilter(hostName: name)).count == 6)
    }

    @Test func aMissingOldOrFailingRemoteIsNamedWithItsOwnWords() throws {
        let s = try Setup()
        let db2 = s.names[1]
        let missing = try s.deploy([db2], expect: 1, environment: ["CA_REMOTE_CA": "/nonexistent/bin/ca"])
        let missingError = Self.text(missing[db2], "error")
        #expect(Self.text(missing[db2], "stage") == "version" && missingError.contains("ca is not installed there"), "\(missingError)")
        let oldCA = try s.scratch.write("old-ca", "#!/bin/sh\necho 0.1.0\n", mode: 0o755)
        let old = try s.deploy([db2], expect: 1, environment: ["CA_REMOTE_CA": oldCA])
        let oldError = Self.text(old[db2], "error")
        #expect(oldError.contains("ca there is 0.1.0; deploy needs \(CAVersion.minimumRemote) or later"), "\(oldError)")
        // A standby asked to reconnect needs a remote that knows install --reconnect (0.3.0).
        let older = try s.scratch.write("older-ca", "#!/bin/sh\necho 0.2.0\n", mode: 0o755)
        let reconnect = Self.text(try s.deploy([db2, "--reconnect"], expect: 1, environment: ["CA_REMOTE_CA": older])[db2], "error")
        #expect(reconnect.contains("ca there is 0.2.0; deploy needs \(CAVersion.minimumRemoteHostKeys) or later"), "\(reconnect)")
        let notCA = try s.scratch.write("not-ca", "#!/bin/sh\necho hello\n", mode: 0o755)
        let notCAError = Self.text(try s.deploy([db2], expect: 1, environment: ["CA_REMOTE_CA": notCA])[db2], "error")
        #expect(notCAError.contains("not a version"), "\(notCAError)")
        // The remote's error line, with its escape sequences made harmless.
        let failing = try s.scratch.write("failing-ca", """
            #!/bin/sh
            if [ "$1" = --version ]; then echo \(CAVersion.current); exit 0; fi
            cat > /dev/null
            printf 'error: cannot install: \\033[31mdisk full\\n' >&2
            exit 74

            """, mode: 0o755)
        let failed = try s.deploy([db2], expect: 1, environment: ["CA_REMOTE_CA": failing])
        let message = Self.text(failed[db2], "error")
        #expect(failed[db2]?["stage"] as? String == "install" && message.contains("cannot install: ?[31mdisk full") && !message.contains("\u{1B}"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: s.scratch.file("hosts/\(db2)/etc/ssl")))
        let status = try #require(try JSONSerialization.jsonObject(with: Data(try s.ca(["status", "--json"]).stdout.utf8)) as? [String: Any])
        #expect((status["host_status"] as? [[String: Any]])?.allSatisfy { $0["deployed_at"] == nil } == true, "a failed deploy was recorded")
    }
}
