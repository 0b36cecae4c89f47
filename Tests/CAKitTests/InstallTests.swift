import CAKit
import Foundation
import TestSupport
import Testing

/// DESIGN.md §4 on disk: paths, owners, modes and link targets per version; doctor's verdicts;
/// the write rules (planted symlinks, backups, idempotence, refusing before writing).
@Suite(.serialized, .enabled(if: InstallFixture.enabled, "needs root and the postgres user (apt-get install postgresql)"))
struct InstallTests {
    @Test(arguments: ["9.1", "9.6", "12", "15", "17", "18", "19"])
    func layoutOwnersModesAndLinksPerVersion(_ version: String) throws {
        let fixture = try InstallFixture(version: version)
        let home = try #require(SystemAccounts().user("postgres")).home
        for host in [fixture.primary, fixture.standby] {
            try fixture.install(host)
            let r = fixture.root, h = host.name.value
            let sharedKey = try PostgresVersion(version) >= PostgresVersion("9.6")
            let expected: [(String, String)] = [
                ("/etc/ssl/certs", "root:root 755"), ("/etc/ssl/private", "root:ssl-cert 710"), ("/etc/ssl/crl", "root:root 755"),
                ("/etc/ssl/certs/fixture-ca.crt", "root:root 644"), ("/etc/ssl/crl/fixture-ca.crl", "root:root 644"),
                ("/etc/ssl/certs/\(h).crt", "root:root 644"),
                ("/etc/ssl/private/\(h).key", sharedKey ? "root:ssl-cert 640" : "postgres:postgres 600"),
                ("/etc/ssl/certs/\(h)-replication.crt", "root:root 644"),
                ("/etc/ssl/private/\(h)-replication.key", "postgres:postgres 600"),
                ("\(host.dataDirectory)/server.crt", "postgres:postgres 777 -> \(r)/etc/ssl/certs/\(h).crt"),
                ("\(host.dataDirectory)/server.key", "postgres:postgres 777 -> \(r)/etc/ssl/private/\(h).key"),
                ("\(host.dataDirectory)/root.crt", "postgres:postgres 777 -> \(r)/etc/ssl/certs/fixture-ca.crt"),
                ("\(host.dataDirectory)/root.crl", "postgres:postgres 777 -> \(r)/etc/ssl/crl/fixture-ca.crl"),
                ("\(home)/.postgresql", "postgres:postgres 700"),
                ("\(home)/.postgresql/postgresql.crt", "postgres:postgres 777 -> \(r)/etc/ssl/certs/\(h)-replication.crt"),
                ("\(home)/.postgresql/postgresql.key", "postgres:postgres 777 -> \(r)/etc/ssl/private/\(h)-replication.key"),
                ("\(home)/.postgresql/root.crt", "postgres:postgres 777 -> \(r)/etc/ssl/certs/fixture-ca.crt"),
                ("\(home)/.postgresql/root.crl", "postgres:postgres 777 -> \(r)/etc/ssl/crl/fixture-ca.crl"),
                ("\(host.configDirectory)/conf.d/ca-ssl.conf", "postgres:postgres 644"),
            ]
            for (path, attributes) in expected {
                // The Debian names in /etc/ssl are ca's links into /etc/ssl/ca-managed: judged as PostgreSQL sees them.
                let debianName = path.hasPrefix("/etc/ssl/") && path.split(separator: "/").count == 4
                let seen = debianName ? InstallFixture.followedAttributes(r + path) : InstallFixture.attributes(r + path)
                #expect(seen?.description == attributes, "\(version) \(h) \(path)")
                if debianName {
                    #expect(InstallFixture.attributes(r + path)?.linkTarget?.hasPrefix("../ca-managed/") == true, "\(version) \(h) \(path) is a link into ca-managed")
                }
            }
            // The four files of the host live in one generation directory that `current` names.
            let current = try #require(InstallFixture.attributes(r + "/etc/ssl/ca-managed/hosts/\(h)/current")?.linkTarget)
            #expect(current.hasPrefix("g-"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: r + "/etc/ssl/ca-managed/hosts/\(h)/" + current).sorted()
                    == ["replication.crt", "replication.key", "server.crt", "server.key"])
            let standbyFile = version == "9.1" || version == "9.6" ? "recovery.conf" : "standby.signal"
            #expect((InstallFixture.attributes(r + "\(host.dataDirectory)/\(standbyFile)")?.description == "postgres:postgres 600") == (host.role == .standby),
                    "\(version) \(h) \(standbyFile)")
            let findings = try fixture.doctor(host)
            #expect(findings.filter { $0.level == .fail }.isEmpty, "\(version) \(h): \(findings.filter { $0.level != .ok }.map(\.reason))")
            #expect(findings.contains { $0.check == "ssl_key_file" && $0.level == .ok })
        }
        // The trust bundle installed is the CA certificate openssl accepts the server certificate under.
        let verified = try OpenSSLTool.run(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", fixture.root + "/etc/ssl/certs/fixture-ca.crt",
                                            "-crl_check", "-CRLfile", fixture.root + "/etc/ssl/crl/fixture-ca.crl", fixture.root + "/etc/ssl/certs/db2.example.com.crt"])
        #expect(verified.status == 0, "\(verified.stderr)")
    }

    /// Each breakage makes doctor FAIL with the right reason.
    @Test(arguments: ["key 0644", "key owner", "dangling link", "expired CRL", "other CA", "conninfo host"])
    func doctorFailsForTheRightReason(_ breakage: String) throws {
        let fixture = try InstallFixture()
        let host = fixture.standby, layout = fixture.layout(host)
        try fixture.install(host)
        #expect(try fixture.doctor(host).filter { $0.level == .fail }.isEmpty)
        let expected: String
        switch breakage {
        case "key 0644":
            chmod(layout.serverKey, 0o644)
            expected = "has group write or world access (mode 0644)"
        case "key owner":
            let nobody = try #require(SystemAccounts().user("nobody"))
            chown(layout.serverKey, nobody.uid, nobody.gid)
            expected = "must be owned by the database user or root"
        case "dangling link":
            unlink(layout.serverCertificate)
            expected = "is a link to a missing file"
        case "expired CRL":
            let authority = try fixture.store.activeAuthority()
            let crl = try CertificateRevocationList.sign(issuer: try authority.certificate(), key: try fixture.vault.key(of: authority), number: 99,
                                                         thisUpdate: Date().addingTimeInterval(-10 * 86_400), nextUpdate: Date().addingTimeInterval(-86_400), revoked: [])
            try crl.pem.write(toFile: layout.crl, atomically: false, encoding: .utf8)
            expected = "expired on"
        case "other CA":
            let otherKey = try PrivateKey(generating: .ecP256)
            let other = try Certificate.sign(Profile.root(name: "intruder-ca").template(serial: .random(), validity: .root(now: Date(), days: 30)),
                                             subjectKey: otherKey, issuer: nil)
            let leafKey = try PrivateKey(generating: .ecP256)
            let leaf = try Certificate.sign(Profile.server(host: host).template(serial: .random(), validity: .leaf(now: Date(), days: 10, issuer: other)),
                                            subjectKey: leafKey, issuer: (other, otherKey))
            try leaf.pem.write(toFile: layout.serverCertificate, atomically: false, encoding: .utf8)
            expected = "does not verify against the trust bundle: unable to get local issuer certificate"
        default:
            let conf = try String(contentsOfFile: layout.includeFile, encoding: .utf8)
            try conf.replacingOccurrences(of: "host=db1.example.com", with: "host=db9.example.com").write(toFile: layout.includeFile, atomically: false, encoding: .utf8)
            expected = "host=db9.example.com is not in the primary's certificate"
        }
        let fails = try fixture.doctor(host).filter { $0.level == .fail }
        #expect(fails.contains { $0.reason.contains(expected) }, "\(breakage): \(fails.map { "\($0.check) \($0.path ?? ""): \($0.reason)" })")
    }

    @Test func doctorWarnsAWeekBeforeTheCRLExpires() throws {
        let fixture = try InstallFixture()
        try fixture.install(fixture.primary)
        let in27Days = Date().addingTimeInterval(27 * 86_400)
        let findings = try Doctor.forHost(fixture.primary.name.value, store: fixture.store, root: fixture.root, now: in27Days).run()
        #expect(findings.contains { $0.level == .warn && $0.check == "CRL" && $0.reason.contains("expires in") }, "\(findings.map(\.reason))")
        #expect(!findings.contains { $0.level == .fail })
    }

    /// In /etc/ssl only root can plant a link, and ca replaces only its own: a foreign link is refused, never followed.
    @Test func aPlantedSymlinkAtASystemNameIsRefusedNeverFollowed() throws {
        let fixture = try InstallFixture()
        let layout = fixture.layout(fixture.standby)
        let victim = try fixture.scratch.write("shadow", "root:$6$secret:19000:0:99999:7:::\n", mode: 0o640)
        try FileManager.default.createDirectory(atPath: layout.privateDirectory, withIntermediateDirectories: true)
        chmod(layout.privateDirectory, 0o710)
        chown(layout.privateDirectory, 0, try #require(SystemAccounts().group("ssl-cert")))
        #expect(symlink(victim, layout.serverKey) == 0)
        #expect(throws: CAError.self) { try fixture.install(fixture.standby) }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "root:$6$secret:19000:0:99999:7:::\n")
        #expect(InstallFixture.attributes(victim)?.description == "root:root 640")
        #expect(InstallFixture.attributes(layout.serverKey)?.linkTarget == victim)
        #expect(!FileManager.default.fileExists(atPath: layout.managedDirectory + "/hosts/db2.example.com/current"))
    }

    /// In the data directory (the OS user's) a planted link is replaced, never followed.
    @Test func aPlantedSymlinkInTheDataDirectoryIsReplacedNeverFollowed() throws {
        let fixture = try InstallFixture()
        let layout = fixture.layout(fixture.standby)
        let victim = try fixture.scratch.write("shadow", "root:$6$secret:19000:0:99999:7:::\n", mode: 0o640)
        #expect(symlink(victim, layout.dataLink("server.key")) == 0)
        let report = try fixture.install(fixture.standby)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "root:$6$secret:19000:0:99999:7:::\n")
        #expect(InstallFixture.attributes(victim)?.description == "root:root 640")
        #expect(InstallFixture.attributes(layout.dataLink("server.key"))?.linkTarget == layout.serverKey)
        #expect(report.entries.contains { $0.operation.path == layout.dataLink("server.key") && $0.outcome == .updated })
    }

    @Test func aSymlinkedDirectoryIsRefusedBeforeAnyWrite() throws {
        let fixture = try InstallFixture()
        let layout = fixture.layout(fixture.standby)
        let elsewhere = fixture.scratch.file("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: layout.sslDirectory, withIntermediateDirectories: true)
        #expect(symlink(elsewhere, layout.privateDirectory) == 0)
        #expect(throws: CAError.self) { try fixture.install(fixture.standby) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: layout.certsDirectory))
    }

    @Test func aRegularFileWhereALinkGoesIsKeptAsABackup() throws {
        let fixture = try InstallFixture()
        let layout = fixture.layout(fixture.primary)
        let old = layout.dataLink("server.crt")
        try "the old certificate\n".write(toFile: old, atomically: false, encoding: .utf8)
        let report = try fixture.install(fixture.primary)
        #expect(InstallFixture.attributes(old)?.linkTarget == layout.serverCertificate)
        let entry = try #require(report.entries.first { $0.operation.path == old })
        guard case .backedUp(let backup) = entry.outcome else { Issue.record("no backup: \(entry.outcome)"); return }
        #expect(backup.hasPrefix(old + ".ca-backup-"))
        #expect(try String(contentsOfFile: backup, encoding: .utf8) == "the old certificate\n")
    }

    @Test func installingTwiceChangesNothing() throws {
        let fixture = try InstallFixture()
        let first = try fixture.install(fixture.standby)
        #expect(first.changed)
        let layout = fixture.layout(fixture.standby)
        let hba = try String(contentsOfFile: layout.hbaConf, encoding: .utf8)
        var before = stat()
        stat(layout.serverKey, &before)
        let second = try fixture.install(fixture.standby)
        #expect(!second.changed, "\(second.entries.filter { $0.outcome != .unchanged }.map(\.operation.path))")
        #expect(second.entries.allSatisfy { $0.outcome == .unchanged })
        var after = stat()
        stat(layout.serverKey, &after)
        #expect(before.st_ino == after.st_ino)
        #expect(try String(contentsOfFile: layout.hbaConf, encoding: .utf8) == hba)
        #expect(hba.components(separatedBy: PostgresConfig.beginMarker).count == 2)
        #expect(hba.hasPrefix(PostgresConfig.beginMarker))
    }

    @Test func linkWithoutADataDirectoryIsRefusedWithNothingWritten() throws {
        let fixture = try InstallFixture()
        try FileManager.default.removeItem(atPath: fixture.root + fixture.standby.dataDirectory.value)
        #expect(throws: CAError.self) { try fixture.install(fixture.standby) }
        #expect(!FileManager.default.fileExists(atPath: fixture.root + "/etc/ssl"))
        // Without --link the files still install.
        try fixture.install(fixture.standby, link: false, configure: false)
        #expect(FileManager.default.fileExists(atPath: fixture.root + "/etc/ssl/certs/db2.example.com.crt"))
    }

    /// The writer sets owner and mode on the empty temporary file before the first byte (by
    /// construction in SafeFileWriter); here: no temporary file is left behind, no key is world-readable.
    @Test func noTemporaryFilesAreLeftAndNoKeyIsWorldReadable() throws {
        let fixture = try InstallFixture()
        try fixture.install(fixture.standby)
        let layout = fixture.layout(fixture.standby)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: layout.privateDirectory).filter { $0.contains("ca-tmp") }
        #expect(leftovers.isEmpty)
        for key in [layout.serverKey, layout.clientKey] {
            let mode = try #require(InstallFixture.followedAttributes(key)).mode
            #expect(mode & 0o007 == 0)
        }
    }
}
