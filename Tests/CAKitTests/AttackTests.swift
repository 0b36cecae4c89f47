import CAKit
import Foundation
import TestSupport
import Testing

/// Install run as root beside directories the postgres user owns, attacked the way that user (or a
/// hostile file already in place) would: a racing symlink swapper, links planted at every target and
/// every directory on the way, foreign files, FIFOs and directories at every target, world-writable
/// and hard-linked files, a forged postmaster.pid. In every case: nothing outside the plan is read
/// into a file or written, nothing ca did not write is lost.
@Suite(.serialized, .enabled(if: InstallFixture.enabled, "needs root and the postgres user (apt-get install postgresql)"))
struct AttackTests {
    static let secret = "root:$6$attack-suite-secret:19000:0:99999:7:::"

    /// A root-only file whose content must never appear anywhere the install writes.
    static func plantSecret(_ fixture: InstallFixture) throws -> String {
        let path = try fixture.scratch.write("shadow", secret + "\n", mode: 0o600)
        chown(path, 0, 0)
        return path
    }

    /// Every file under `directory` (links not followed) holding `needle`.
    static func files(containing needle: String, under directory: String) -> [String] {
        var out: [String] = []
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return out }
        while let relative = walker.nextObject() as? String {
            let path = directory + "/" + relative
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
                  let data = FileManager.default.contents(atPath: path) else { continue }
            if String(decoding: data, as: UTF8.self).contains(needle) { out.append(path) }
        }
        return out
    }

    /// Item 1: the postgres user swaps pg_hba.conf for a link to a root-only file, again and again,
    /// while root installs. The secret never reaches a file ca writes.
    @Test func aRacingSymlinkSwapperNeverGetsARootOnlyFileIntoTheConfig() throws {
        let fixture = try InstallFixture()
        let secretPath = try Self.plantSecret(fixture)
        let layout = fixture.layout(fixture.standby)
        let directory = layout.configDirectory
        let hba = layout.hbaConf, real = directory + "/.hba-real", evil = directory + "/.hba-evil"
        #expect(symlink(secretPath, evil) == 0)
        let stop = ManagedAtomicFlag()
        let racer = Thread {
            while !stop.isSet {
                rename(hba, real); rename(evil, hba)
                usleep(UInt32.random(in: 0...200))
                rename(hba, evil); rename(real, hba)
                usleep(UInt32.random(in: 0...200))
            }
        }
        racer.start()
        var refused = 0, installed = 0
        let started = Date()
        while installed + refused < 300 && Date().timeIntervalSince(started) < 30 {
            do { try fixture.install(fixture.standby); installed += 1 } catch { refused += 1 }
        }
        stop.set()
        while racer.isExecuting { usleep(1000) }
        print("attack: symlink swapper raced \(installed + refused) installs: \(installed) completed, \(refused) refused; secret leaked into 0 files expected")
        #expect(Self.files(containing: "attack-suite-secret", under: fixture.root).isEmpty)
        #expect(try String(contentsOfFile: secretPath, encoding: .utf8) == Self.secret + "\n")
        #expect(InstallFixture.attributes(secretPath)?.description == "root:root 600")
    }

    /// Items 1 and 4: a link planted at every path of the plan and at every directory on the way:
    /// the decoy it points at is never written, read into a file, or changed in owner or mode.
    @Test func aLinkPlantedAtAnyTargetOrDirectoryIsNeverFollowed() throws {
        let template = try InstallFixture()
        let plan = try InstallPlanner().plan(
            try template.store.write { try HostMaterial.assemble(hostName: template.standby.name.value, store: template.store, vault: template.vault, now: Date()) },
            options: .init(root: template.root, link: true, configure: true))
        var paths = Set<String>()
        for op in plan.operations {
            var path = op.path
            while path.count > template.root.count {
                paths.insert(String(path.dropFirst(template.root.count)))
                path = (path as NSString).deletingLastPathComponent
            }
        }
        var refused = 0, replaced = 0
        for relative in paths.sorted() {
            let fixture = try InstallFixture()
            let target = fixture.root + relative
            let decoy = fixture.scratch.file("decoy")
            try FileManager.default.createDirectory(atPath: decoy, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let decoyFile = try fixture.scratch.write("decoy/" + (relative as NSString).lastPathComponent, Self.secret + "\n", mode: 0o600)
            try? FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: target)
            // A link to the decoy directory where a directory goes, to the decoy file where a file goes.
            let isDirectory = plan.operations.contains { $0.path == fixture.root + relative && $0.kind == .directory }
                || plan.operations.contains { $0.path.hasPrefix(fixture.root + relative + "/") }
            #expect(symlink(isDirectory ? decoy : decoyFile, target) == 0, "\(relative)")
            do { try fixture.install(fixture.standby); replaced += 1 } catch { refused += 1 }
            #expect(try FileManager.default.contentsOfDirectory(atPath: decoy) == [(relative as NSString).lastPathComponent], "\(relative): ca wrote into the decoy")
            #expect(try String(contentsOfFile: decoyFile, encoding: .utf8) == Self.secret + "\n", "\(relative)")
            #expect(InstallFixture.attributes(decoyFile)?.description == "root:root 600", "\(relative)")
            #expect(Self.files(containing: "attack-suite-secret", under: fixture.root).isEmpty, "\(relative): the decoy's content was copied")
        }
        print("attack: links planted at \(paths.count) paths: \(refused) installs refused, \(replaced) replaced the link; the decoy was never touched")
        #expect(refused > 0)
    }

    /// Item 3 and 8: a foreign regular file, a FIFO or a directory at every file or link target.
    /// A foreign file in /etc/ssl is never replaced; in the OS user's directories it is kept as a
    /// backup; a FIFO or a directory stops the install before anything switches. Nothing is lost.
    @Test(arguments: ["file", "fifo", "directory"])
    func foreignThingsAtEveryTargetAreNeverLost(_ thing: String) throws {
        let template = try InstallFixture()
        let plan = try InstallPlanner().plan(
            try template.store.write { try HostMaterial.assemble(hostName: template.standby.name.value, store: template.store, vault: template.vault, now: Date()) },
            options: .init(root: template.root, link: true, configure: true))
        let targets = plan.operations.filter { $0.kind != .directory }.map { String($0.path.dropFirst(template.root.count)) }
        for relative in targets where !relative.hasPrefix("/etc/ssl/ca-managed/hosts/") {
            // (The host's files are written into a new generation directory, never at these paths.)
            let fixture = try InstallFixture()
            let target = fixture.root + relative
            try? FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let before = try? String(contentsOfFile: target, encoding: .utf8)
            try? FileManager.default.removeItem(atPath: target)
            let content = "foreign content of \(relative)\n"
            switch thing {
            case "file": try content.write(toFile: target, atomically: false, encoding: .utf8)
            case "fifo": #expect(mkfifo(target, 0o600) == 0)
            default: try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
            }
            let started = Date()
            let outcome = Result { try fixture.install(fixture.standby) }
            #expect(Date().timeIntervalSince(started) < 10, "\(relative): install hung on a \(thing)")
            let systemName = relative.hasPrefix("/etc/ssl/") && !relative.hasPrefix("/etc/ssl/ca-managed/")
            switch thing {
            case "file":
                let edited = relative.hasSuffix("pg_hba.conf") || relative.hasSuffix("postgresql.conf")
                if systemName {
                    #expect(throws: CAError.self, "\(relative)") { try outcome.get() }
                    #expect(try String(contentsOfFile: target, encoding: .utf8) == content, "\(relative)")
                } else if edited {
                    // ca edits these files: the foreign lines stay, ca's block is added.
                    _ = before
                    #expect((try? String(contentsOfFile: target, encoding: .utf8))?.contains("foreign content") == true, "\(relative)")
                } else if relative.hasPrefix("/etc/ssl/ca-managed/") {
                    _ = try outcome.get()  // inside ca's own directory, whatever is there is ca's
                } else {
                    _ = try outcome.get()
                    let siblings = try FileManager.default.contentsOfDirectory(atPath: (target as NSString).deletingLastPathComponent)
                    let kept = siblings.filter { $0.hasPrefix((relative as NSString).lastPathComponent + ".ca-backup-") }
                    let name = (relative as NSString).lastPathComponent
                    let survived = (try? String(contentsOfFile: target, encoding: .utf8)) == content
                        || kept.contains { (try? String(contentsOfFile: (target as NSString).deletingLastPathComponent + "/" + $0, encoding: .utf8)) == content }
                    #expect(survived, "\(relative): the foreign file was lost (\(name), siblings \(siblings))")
                }
            default:
                #expect(throws: CAError.self, "\(relative): a \(thing) at the target must stop the install") { try outcome.get() }
                var info = stat()
                #expect(lstat(target, &info) == 0 && (info.st_mode & S_IFMT) == (thing == "fifo" ? S_IFIFO : S_IFDIR), "\(relative)")
                #expect(!FileManager.default.fileExists(atPath: fixture.layout(fixture.standby).currentLink), "\(relative): something switched")
            }
        }
    }

    /// The system's trust store and Debian's snakeoil pair cannot be a CA's or a host's files.
    @Test func reservedNamesAreRefused() throws {
        #expect(throws: CAError.self) { try CAName.validate("ca-certificates") }
        #expect(throws: CAError.self) { try CAName.validate("ssl-cert-snakeoil") }
        #expect(throws: CAError.self) {
            try PostgresHost(name: HostName("ssl-cert-snakeoil"), dnsNames: [], ipAddresses: [], role: .standby, postgresVersion: .default,
                             dataDirectory: nil, configDirectory: nil, osUser: "postgres", replicationUser: "replicator")
        }
        #expect(throws: CAError.self) {
            try PostgresHost(name: HostName("ca-certificates"), dnsNames: [], ipAddresses: [], role: .standby, postgresVersion: .default,
                             dataDirectory: nil, configDirectory: nil, osUser: "postgres", replicationUser: "replicator")
        }
    }

    /// A system trust store already at the CA's name is refused, not replaced (139 certificates stay 139).
    @Test func theSystemTrustStoreIsNeverReplaced() throws {
        let fixture = try InstallFixture()
        let layout = fixture.layout(fixture.standby)
        try FileManager.default.createDirectory(atPath: layout.certsDirectory, withIntermediateDirectories: true)
        // Another CA's certificates at the name ca would use: not ca's, so never replaced.
        var store = ""
        for index in 0..<5 {
            let key = try PrivateKey(generating: .ecP256)
            store += try Certificate.sign(Profile.root(name: "system root \(index)").template(serial: .random(), validity: .root(now: Date(), days: 30)),
                                          subjectKey: key, issuer: nil).pem
        }
        try store.write(toFile: layout.trustBundle, atomically: false, encoding: .utf8)
        #expect(throws: CAError.self) { try fixture.install(fixture.standby) }
        #expect(try String(contentsOfFile: layout.trustBundle, encoding: .utf8) == store)
    }

    /// A file an earlier ca wrote (a regular file at the Debian name, chaining to this CA) is ca's: replaced by the link.
    @Test func aFileAnEarlierCaWroteIsRecognisedAndReplaced() throws {
        let fixture = try InstallFixture()
        let layout = fixture.layout(fixture.standby)
        try FileManager.default.createDirectory(atPath: layout.certsDirectory, withIntermediateDirectories: true)
        let bundle = try fixture.store.trustedAuthorities().map(\.certificatePEM).joined()
        try bundle.write(toFile: layout.trustBundle, atomically: false, encoding: .utf8)
        try fixture.install(fixture.standby)
        #expect(InstallFixture.attributes(layout.trustBundle)?.linkTarget == "../ca-managed/trust/fixture-ca.crt")
    }

    /// World-writable directories on the way are refused by install and FAIL in doctor.
    @Test func aWorldWritableDirectoryIsRefused() throws {
        let fixture = try InstallFixture()
        let layout = fixture.layout(fixture.standby)
        chmod(layout.dataDirectory, 0o777)
        #expect(throws: CAError.self) { try fixture.install(fixture.standby) }
        #expect(!FileManager.default.fileExists(atPath: layout.dataLink("server.crt")))
        chmod(layout.dataDirectory, 0o700)
        try fixture.install(fixture.standby)
        chmod(layout.dataDirectory, 0o777)
        let fails = try fixture.doctor(fixture.standby).filter { $0.level == .fail }
        #expect(fails.contains { $0.reason.contains("writable by everyone") }, "\(fails.map(\.reason))")
    }

    /// A pg_hba.conf that is a hard link (to a file elsewhere) or owned by someone else is not edited.
    @Test func aHardLinkedOrForeignOwnedConfigIsNotEdited() throws {
        let fixture = try InstallFixture()
        let layout = fixture.layout(fixture.standby)
        let elsewhere = fixture.scratch.file("hba-elsewhere")
        #expect(link(layout.hbaConf, elsewhere) == 0)
        #expect(throws: CAError.self) { try fixture.install(fixture.standby) }
        unlink(elsewhere)
        let nobody = try #require(SystemAccounts().user("nobody"))
        chown(layout.hbaConf, nobody.uid, nobody.gid)
        #expect(throws: CAError.self) { try fixture.install(fixture.standby) }
    }

    /// Item 5: --reload signals only the postmaster of the data directory, run by the OS user.
    @Test(arguments: ["root process", "postgres process elsewhere", "pid 1"])
    func aForgedPostmasterPidIsNeverSignalled(_ victim: String) throws {
        let fixture = try InstallFixture()
        let layout = fixture.layout(fixture.standby)
        var child: ProcessResult.Running?
        var pid: Int32 = 1
        if victim != "pid 1" {
            // `sleep` dies on SIGHUP: if it is still alive afterwards, it was not signalled.
            let arguments = victim == "root process" ? ["/bin/sleep", "30"] : ["/usr/sbin/runuser", "-u", "postgres", "--", "/bin/sleep", "30"]
            let running = try ProcessResult.launch(arguments[0], Array(arguments.dropFirst()))
            child = running
            pid = running.pid
            usleep(200_000)
        }
        try "\(pid)\n\(layout.dataDirectory)\n".write(toFile: layout.dataLink("postmaster.pid"), atomically: false, encoding: .utf8)
        chown(layout.dataLink("postmaster.pid"), try #require(SystemAccounts().user("postgres")).uid, 0)
        let report = try Installer().install(hostName: fixture.standby.name.value, store: fixture.store, vault: fixture.vault,
                                             options: .init(root: fixture.root, link: true, configure: true), reload: true)
        #expect(report.notes.contains { $0.contains("did not signal") || $0.contains("did not reload") }, "\(victim): \(report.notes)")
        if let child {
            #expect(kill(child.pid, 0) == 0, "the \(victim) was signalled")
            kill(child.pid, SIGKILL)
            _ = child.wait()
        }
    }

    /// Item 2: a child of ca never gets the passphrase variables, whatever ca's own environment holds.
    @Test func childrenGetAMinimalEnvironment() throws {
        setenv("CA_PASSPHRASE", "child-must-not-see-this", 1)
        setenv("CA_BUNDLE_PASSPHRASE", "nor-this", 1)
        defer { unsetenv("CA_PASSPHRASE"); unsetenv("CA_BUNDLE_PASSPHRASE") }
        let scratch = try Scratch()
        let status = try Spawn.run(["/usr/bin/env"], stdout: scratch.file("out"), stderr: scratch.file("err"))
        #expect(status == 0)
        let environment = try String(contentsOfFile: scratch.file("out"), encoding: .utf8)
        #expect(!environment.contains("CA_PASSPHRASE") && !environment.contains("child-must-not-see-this"))
        #expect(!environment.contains("CA_BUNDLE_PASSPHRASE") && !environment.contains("nor-this"))
        #expect(environment.contains("PATH="))
    }
}

/// A flag one thread sets and another reads.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
