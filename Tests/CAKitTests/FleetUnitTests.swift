import CAKit
import Foundation
import TestSupport
import Testing

/// The pieces under `deploy` and `probe`: the child runner, ssh's command line, the bounded fan-out,
/// and the material digest that decides which hosts are behind.
@Suite struct FleetUnitTests {
    @Test func aChildGetsItsInputAndItsTimeIsBounded() throws {
        let cat = try #require(ChildProcess.resolve("cat"))
        // More than a pipe holds (64 KiB), so input and output must be interleaved.
        let input = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let echoed = try ChildProcess.run([cat], input: input, environment: ChildEnvironment.minimal(), timeout: 20)
        #expect(echoed.status == 0 && echoed.stdout == input && !echoed.timedOut)

        let sh = try #require(ChildProcess.resolve("sh"))
        let slow = try ChildProcess.run([sh, "-c", "sleep 30"], input: [], environment: ChildEnvironment.minimal(), timeout: 0.5)
        #expect(slow.timedOut && slow.status == 128 + SIGTERM, "\(slow.status)")

        // A grandchild that keeps the pipes open (an ssh ControlMaster) does not hold us once the child exits.
        let begin = Date()
        let forked = try ChildProcess.run([sh, "-c", "sleep 6 & echo done; echo said >&2; exit 3"], input: [], environment: ChildEnvironment.minimal(), timeout: 20)
        #expect(forked.status == 3 && forked.stdoutText == "done\n" && forked.stderrText == "said\n", "\(forked)")
        #expect(Date().timeIntervalSince(begin) < 5, "waited for the grandchild")

        let capped = try ChildProcess.run([sh, "-c", "head -c 3000000 /dev/zero"], input: [], environment: ChildEnvironment.minimal(), timeout: 20, outputLimit: 1000)
        #expect(capped.status == 0 && capped.stdout.count == 1000)
        #expect(ChildProcess.resolve("/nonexistent/ssh") == nil && ChildProcess.resolve("no-such-program-here") == nil)
    }

    @Test func sshGetsOneQuotedCommandAndNoPrompt() throws {
        #expect(SSHTransport.shellQuote("/usr/local/bin/ca") == "/usr/local/bin/ca")
        #expect(SSHTransport.shellQuote("-") == "-")
        #expect(SSHTransport.shellQuote("a b") == "'a b'")
        #expect(SSHTransport.shellQuote("it's; rm -rf /") == "'it'\\''s; rm -rf /'")
        #expect(SSHTransport.shellQuote("$(id)") == "'$(id)'")
        #expect(SSHTransport.shellQuote("") == "''")
        let transport = try SSHTransport(ssh: "ssh -F /tmp/x", remoteCA: "sudo -n ca", connectTimeout: 7)
        let argv = transport.arguments(destination: "db2.example.com", remote: ["install", "--bundle", "-"])
        #expect(argv.first?.hasSuffix("/ssh") == true)
        #expect(Array(argv.dropFirst()) == ["-F", "/tmp/x", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=7", "--", "db2.example.com", "sudo -n ca install --bundle -"])
        let accounts = SystemAccounts()
        let home = accounts.user(accounts.userName(getuid()))?.home ?? ""
        if !home.isEmpty {
            #expect(try SSHTransport(ssh: "ssh -F ~/.ssh/fleet", remoteCA: "ca").ssh.last == home + "/.ssh/fleet")
        }
        #expect(throws: CAError.self) { try SSHTransport(ssh: "   ", remoteCA: "ca") }
        #expect(throws: CAError.self) { try SSHTransport(ssh: "ssh", remoteCA: "ca\u{1B}[2J") }
        #expect(SSHTransport.environment["CA_PASSPHRASE"] == nil && SSHTransport.environment["CA_BUNDLE_PASSPHRASE"] == nil)
    }

    @Test func versionsCompareByNumber() {
        #expect(CAVersion.isAtLeast("0.2.0", "0.2.0") && CAVersion.isAtLeast("0.10.0", "0.2.0") && CAVersion.isAtLeast("1.0", "0.2.0"))
        #expect(!CAVersion.isAtLeast("0.1.9", "0.2.0") && !CAVersion.isAtLeast("hello", "0.2.0") && !CAVersion.isAtLeast("", "0.2.0"))
        #expect(CAVersion.components("ca 0.3.1\n") == [0, 3, 1])
    }

    @Test func parallelMapKeepsOrderAndItsBound() {
        final class Gauge: @unchecked Sendable {
            let lock = NSLock()
            var now = 0, peak = 0
            func enter() { lock.lock(); now += 1; peak = max(peak, now); lock.unlock() }
            func leave() { lock.lock(); now -= 1; lock.unlock() }
        }
        let gauge = Gauge()
        let out = Parallel.map(Array(0..<24), limit: 4) { value -> Int in
            gauge.enter()
            usleep(30_000)
            gauge.leave()
            return value * value
        }
        #expect(out == (0..<24).map { $0 * $0 })
        #expect(gauge.peak <= 4 && gauge.peak > 1, "peak \(gauge.peak)")
    }

    @Test func theDigestSeesEveryChangeAHostMustInstallAndNothingElse() throws {
        let scratch = try Scratch()
        let store = try CAStore.openOrCreate(path: scratch.file("ca.sqlite3")).store
        let vault = KeyVault { "pw" }
        _ = try Issuer.createRoot(store: store, name: "digest-ca", keyType: .ecP256, days: 3650, passphrase: "pw", now: Date())
        for (name, role) in [("db1.example.com", HostRole.primary), ("db2.example.com", .standby)] {
            let host = try PostgresHost(name: HostName(name), dnsNames: [], ipAddresses: [IPAddress(role == .primary ? "192.0.2.1" : "192.0.2.2")],
                                        role: role, postgresVersion: .default, dataDirectory: nil, configDirectory: nil, osUser: "postgres", replicationUser: "replicator")
            try store.write { try store.insertHost(host, at: Date()) }
            _ = try Issuer(store: store, vault: vault).issue(host: name)
        }
        try vault.unlock(try store.trustedAuthorities())
        func assembled(_ name: String) throws -> String {
            try store.write { try HostMaterial.assemble(hostName: name, store: store, vault: vault, now: Date()).digest() }
        }
        func current(_ name: String) throws -> String? {
            try HostMaterial.currentDigest(hostName: name, store: store, context: try HostMaterial.DigestContext(store: store))
        }
        let first = try assembled("db2.example.com")
        // What status computes without the passphrase is what deploy computes with it.
        #expect(try current("db2.example.com") == first)
        #expect(try assembled("db2.example.com") == first, "the same material twice gave two digests")
        #expect(try assembled("db1.example.com") != first)
        // A new certificate for the primary changes the primary's material, not the standby's.
        let primaryBefore = try assembled("db1.example.com")
        _ = try Issuer(store: store, vault: vault).issue(host: "db1.example.com")
        #expect(try assembled("db1.example.com") != primaryBefore)
        #expect(try assembled("db2.example.com") == first)
        // A revocation (a new CRL) changes every host's.
        let client = try Lifecycle(store: store, vault: vault).resolve("db1.example.com", kind: .client)
        _ = try Lifecycle(store: store, vault: vault).revoke(client, reason: .superseded)
        #expect(try assembled("db2.example.com") != first)
        #expect(try current("db2.example.com") == (try assembled("db2.example.com")))
    }
}
