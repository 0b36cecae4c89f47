import CAKit
import Foundation
import TestSupport
import Testing

/// Crash points. `kill -9` at random moments of issue, revoke, renew, rotate reissue and install
/// (seeded; the seed is printed), and at every file system call of an install (strace's fault
/// injection: the process is killed as it enters the Nth call of each kind). After each: the
/// database is intact with nothing lost or doubled; every file under the root holds its old or its
/// new content, the pairs match; the next run succeeds and leaves no temporary file.
@Suite(.serialized) struct FaultInjectionTests {
    static let seed = UInt64(ProcessInfo.processInfo.environment["CA_FAULT_SEED"] ?? "") ?? 20_261_202

    // MARK: The database

    /// What must hold in the database after any kill.
    static func databaseProblems(_ path: String) throws -> [String] {
        let store = try CAStore.open(path: path)
        var problems: [String] = []
        if let damage = try store.integrityProblem() { problems.append("quick_check: \(damage)") }
        let all = try store.certificates(CertificateFilter())
        for host in try store.hosts() {
            for kind in CertificateKind.allCases {
                let active = all.filter { $0.hostName == host.name.value && $0.kind == kind && $0.status == .active }
                if active.count > 1 { problems.append("\(host.name) has \(active.count) active \(kind) certificates") }
            }
        }
        let successors = all.compactMap(\.replaces)
        if Set(successors).count != successors.count { problems.append("a certificate was re-issued twice") }
        for authority in try store.trustedAuthorities() {
            let revoked = Set(try store.revocations(authorityID: authority.id).map(\.serial))
            let marked = Set(all.filter { $0.status == .revoked && $0.authorityID == authority.id }.map(\.serial))
            if revoked != marked { problems.append("revocations and certificate statuses disagree") }
            if let crl = try store.latestCRL(authorityID: authority.id), !revoked.isEmpty {
                let listed = Set(try CertificateRevocationList(pem: crl.pem).revokedSerials)
                if !revoked.isSubset(of: listed) { problems.append("a revocation is missing from the last CRL") }
            }
        }
        return problems
    }

    /// 250 kills at random moments of five commands, each followed by the checks and a clean rerun.
    @Test func killedAtRandomMomentsTheDatabaseHolds() throws {
        var generator = SeededGenerator(seed: Self.seed)
        print("fault: kill -9 at random moments, seed \(Self.seed) (CA_FAULT_SEED replays it)")
        let template = try Scratch()
        let db = template.file("template.sqlite3")
        for step in [["init", "--name", "fault-ca", "--no-passphrase"]] + (1...12).map({ ["host", "add", "db\($0).example.com"] })
            + (1...12).map({ ["issue", "db\($0).example.com"] }) {
            #expect(try CABinary.run(step + ["--db", db]).status == 0, "\(step)")
        }
        let commands: [[String]] = [["issue", "db3.example.com"], ["revoke", "db4.example.com"], ["renew", "--within", "400d"],
                                    ["rotate", "reissue"], ["revoke", "db5.example.com", "--kind", "server"]]
        var killed = 0, finished = 0
        for trial in 0..<250 {
            let command = commands[trial % commands.count]
            let copy = template.file("trial.sqlite3")
            CAStore.removeFiles(copy)
            try FileManager.default.copyItem(atPath: db, toPath: copy)
            if command.first == "rotate" { #expect(try CABinary.run(["rotate", "start", "--db", copy]).status == 0) }
            let running = try CABinary.launch(command + ["--db", copy])
            usleep(UInt32.random(in: 0...60_000, using: &generator))
            kill(running.pid, SIGKILL)
            let status = running.wait().status
            if status == 128 + 9 { killed += 1 } else { finished += 1 }
            let problems = try Self.databaseProblems(copy)
            #expect(problems.isEmpty, "trial \(trial) (\(command.joined(separator: " "))), seed \(Self.seed): \(problems)")
            // The next run finishes the job.
            let again = try CABinary.run((command.first == "revoke" ? ["status"] : command) + ["--db", copy])
            #expect(again.status == 0 || again.status == 64, "trial \(trial): rerun \(again.status): \(again.stderr)")
            #expect(try Self.databaseProblems(copy).isEmpty, "trial \(trial) after the rerun")
        }
        print("fault: 250 trials, \(killed) killed mid-command, \(finished) finished before the kill; database intact after every one")
        #expect(killed > 50)
    }

    // MARK: Install

    /// An installed host whose new certificates are in the database, and a copy of its tree as it is.
    final class InstallWorld {
        let fixture: InstallFixture
        let pristine: String
        var database: String { fixture.scratch.file("ca.sqlite3") }
        var layout: InstallLayout { fixture.layout(fixture.standby) }

        /// `rotating`: the new state also has a new trust bundle and CRL (a rotation started), so
        /// more than the pairs switch.
        init(rotating: Bool = false) throws {
            fixture = try InstallFixture()
            try fixture.install(fixture.standby)
            if rotating {
                _ = try Rotation(store: fixture.store, vault: fixture.vault).start(keyType: nil, days: nil, passphrase: nil)
                _ = try Lifecycle(store: fixture.store, vault: fixture.vault).revoke(matching: fixture.primary.name.value, kind: .client, reason: .superseded)
            }
            _ = try Issuer(store: fixture.store, vault: fixture.vault).issue(host: fixture.standby.name.value)
            pristine = fixture.scratch.file("pristine")
            try Self.copy(fixture.root, pristine)
        }

        static func copy(_ from: String, _ to: String) throws {
            _ = try? FileManager.default.removeItem(atPath: to)
            let result = try ProcessResult.run("/bin/cp", ["-a", from, to])
            #expect(result.status == 0, "\(result.stderr)")
        }

        func reset() throws { try Self.copy(pristine, fixture.root) }

        var install: [String] {
            [CABinary.path, "install", fixture.standby.name.value, "--root", fixture.root, "--link", "--configure", "--db", database]
        }

        /// Path → what is there (content digest, link target, or directory), links not followed,
        /// leaving out temporary names, generations and the lock.
        func snapshot() -> [String: String] {
            var out: [String: String] = [:]
            guard let walker = FileManager.default.enumerator(atPath: fixture.root) else { return out }
            while let relative = walker.nextObject() as? String {
                let name = (relative as NSString).lastPathComponent
                if name.contains(".ca-tmp-") || name == ".lock" || relative.contains("/ca-managed/hosts/") { continue }
                let path = fixture.root + "/" + relative
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFLNK: out[relative] = "link " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "")
                case S_IFREG: out[relative] = "file " + (FileManager.default.contents(atPath: path).map { Digest.sha256(Array($0)).hexString } ?? "")
                default: out[relative] = "directory"
                }
            }
            return out
        }

        /// The serials the host's four names resolve to, and whether each pair matches.
        func pairs() throws -> (serials: [String], problems: [String]) {
            var problems: [String] = []
            var serials: [String] = []
            for (certificate, key) in [(layout.serverCertificate, layout.serverKey), (layout.clientCertificate, layout.clientKey)] {
                guard let certificateText = try? String(contentsOfFile: certificate, encoding: .utf8),
                      let keyText = try? String(contentsOfFile: key, encoding: .utf8),
                      let parsed = try? Certificate(pem: certificateText), let parsedKey = try? PrivateKey(pem: keyText, passphrase: nil) else {
                    problems.append("\(certificate) or \(key) is missing or unreadable")
                    continue
                }
                if !parsed.matches(parsedKey) { problems.append("\(key) does not match \(certificate)") }
                serials.append(parsed.serial.hex)
            }
            return (serials, problems)
        }

        func leftovers() -> [String] {
            var out: [String] = []
            guard let walker = FileManager.default.enumerator(atPath: fixture.root) else { return out }
            while let relative = walker.nextObject() as? String {
                if (relative as NSString).lastPathComponent.contains(".ca-tmp-") { out.append(relative) }
            }
            let hosts = layout.managedHostDirectory
            let generations = ((try? FileManager.default.contentsOfDirectory(atPath: hosts)) ?? []).filter { $0.hasPrefix("g-") }
            if generations.count != 1 { out.append("\(generations.count) generations in \(hosts)") }
            return out
        }
    }

    /// Checks one killed install against the states before and after, then reruns it.
    static func judge(_ world: InstallWorld, before: [String: String], after: [String: String], old: [String], new: [String], _ label: String) throws {
        let now = world.snapshot()
        for path in Set(before.keys).union(after.keys).union(now.keys).sorted() {
            let seen = now[path]
            if seen != before[path] && seen != after[path] {
                Issue.record("\(label): \(path) is neither its old nor its new self (\(seen ?? "absent"))")
            }
        }
        let (serials, problems) = try world.pairs()
        #expect(problems.isEmpty, "\(label): \(problems)")
        #expect(serials == old || serials == new, "\(label): the pairs are a mix of old and new (\(serials))")
        let rerun = try ProcessResult.run(world.install[0], Array(world.install.dropFirst()))
        #expect(rerun.status == 0, "\(label): the next install failed: \(rerun.stderr)")
        #expect(world.leftovers().isEmpty, "\(label): left behind after the next run: \(world.leftovers())")
        #expect(try world.pairs().serials == new, "\(label): the next install did not finish the job")
    }

    /// The states an install goes between, from a clean run.
    static func endStates(_ world: InstallWorld) throws -> (before: [String: String], after: [String: String], old: [String], new: [String]) {
        try world.reset()
        let before = world.snapshot(), old = try world.pairs().serials
        let run = try ProcessResult.run(world.install[0], Array(world.install.dropFirst()))
        #expect(run.status == 0, "\(run.stderr)")
        let after = world.snapshot(), new = try world.pairs().serials
        #expect(old != new && old.count == 2)
        return (before, after, old, new)
    }

    @Test(.enabled(if: InstallFixture.enabled, "needs root and the postgres user"))
    func installKilledAtRandomMoments() throws {
        let world = try InstallWorld()
        let (before, after, old, new) = try Self.endStates(world)
        var generator = SeededGenerator(seed: Self.seed &+ 1)
        var killed = 0
        for trial in 0..<60 {
            try world.reset()
            let running = try ProcessResult.launch(world.install[0], Array(world.install.dropFirst()))
            usleep(UInt32.random(in: 0...80_000, using: &generator))
            kill(running.pid, SIGKILL)
            if running.wait().status == 128 + 9 { killed += 1 }
            try Self.judge(world, before: before, after: after, old: old, new: new, "random kill \(trial), seed \(Self.seed)")
        }
        print("fault: install killed at 60 random moments (\(killed) mid-run), seed \(Self.seed); old or new, pairs matched, after every one")
    }

    static let strace = ["/usr/bin/strace", "/bin/strace"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Killed on entry to every file system call an install makes (each kind's every call for the
    /// calls that change the tree, up to 25 spread over the others).
    @Test(.enabled(if: InstallFixture.enabled && (strace != nil || ProcessInfo.processInfo.environment["CI"] == "true"), "needs root and strace"),
          arguments: [false, true])
    func installKilledAtEveryFileSystemCall(rotating: Bool) throws {
        let strace = try #require(Self.strace, "strace is not installed (apt-get install strace)")
        let world = try InstallWorld(rotating: rotating)
        let (before, after, old, new) = try Self.endStates(world)
        let calls = ["openat", "mkdirat", "rename", "renameat", "renameat2", "linkat", "symlinkat", "unlinkat", "fchown", "fchownat", "fchmod", "write", "fsync", "flock"]
        // Count each kind in a clean run.
        try world.reset()
        let counts = world.fixture.scratch.file("counts")
        let counted = try ProcessResult.run(strace, ["-f", "-c", "-o", counts, "-e", "trace=" + calls.joined(separator: ",")] + world.install)
        #expect(counted.status == 0, "\(counted.stderr)")
        var perCall: [String: Int] = [:]
        for line in (try String(contentsOfFile: counts, encoding: .utf8)).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let name = fields.last.map(String.init), calls.contains(name), fields.count >= 5, let n = Int(fields[3]) { perCall[name] = n }
        }
        // New pairs in an installed tree: the switch is one rename (of `current`).
        #expect((perCall["renameat"] ?? 0) + (perCall["rename"] ?? 0) + (perCall["renameat2"] ?? 0) >= 1, "\(perCall)")
        var trials = 0
        for (call, count) in perCall.sorted(by: { $0.key < $1.key }) {
            let changing = ["mkdirat", "rename", "renameat", "renameat2", "linkat", "symlinkat", "unlinkat", "fsync", "flock"].contains(call)
            let points = changing || count <= 25 ? Array(1...count) : (0..<25).map { 1 + $0 * (count - 1) / 24 }
            for point in Set(points).sorted() {
                try world.reset()
                let result = try ProcessResult.run(strace, ["-f", "-o", "/dev/null", "-e", "trace=none", "-e", "inject=\(call):signal=KILL:when=\(point)"] + world.install)
                _ = result
                try Self.judge(world, before: before, after: after, old: old, new: new, "killed at \(call) #\(point)\(rotating ? " (rotating)" : "")")
                trials += 1
            }
        }
        print("fault: install\(rotating ? " (new trust bundle and CRL too)" : "") killed at \(trials) file system calls (\(perCall.map { "\($0.key) \($0.value)" }.sorted().joined(separator: ", "))); old or new, pairs matched, no leftovers after the next run")
    }
}
