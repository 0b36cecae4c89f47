import CAKit
import Foundation
import TestSupport
import Testing

/// The SQLite store and the issuer over it, with a fixed clock.
@Suite struct StoreTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func makeCA(_ scratch: Scratch, passphrase: String? = nil, keyType: KeyType = .ecP256) throws -> (CAStore, Issuer) {
        let (store, created) = try CAStore.openOrCreate(path: scratch.file("ca.sqlite3"))
        #expect(created)
        _ = try Issuer.createRoot(store: store, name: "unit-ca", keyType: keyType, days: 3650, passphrase: passphrase, now: now)
        return (store, Issuer(store: store, vault: KeyVault { passphrase }, now: { now }))
    }

    static func addHost(_ store: CAStore, _ name: String, role: HostRole = .standby) throws {
        let host = try PostgresHost(name: HostName(name), dnsNames: [], ipAddresses: [IPAddress("192.0.2.1")], role: role,
                                    postgresVersion: .default, dataDirectory: nil, configDirectory: nil,
                                    osUser: "postgres", replicationUser: "replicator")
        try store.write { try store.insertHost(host, at: now) }
    }

    @Test func databaseIsCreatedPrivateInWALAndMigratedOnce() throws {
        let scratch = try Scratch()
        let (store, _) = try Self.makeCA(scratch)
        var info = stat()
        #expect(stat(store.path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(store.fileMode == 0o600)
        // Reopening applies nothing and changes nothing.
        let before = try Data(contentsOf: URL(fileURLWithPath: store.path))
        let again = try CAStore.open(path: store.path)
        #expect(try again.activeAuthority().name == "unit-ca")
        #expect(try Data(contentsOf: URL(fileURLWithPath: store.path)) == before)
        #expect(try again.integrityProblem() == nil)
    }

    @Test func openRefusesWhatIsNotOurs() throws {
        let scratch = try Scratch()
        #expect(throws: CAError.noDatabase(path: scratch.file("none"))) { try CAStore.open(path: scratch.file("none")) }
        #expect(!FileManager.default.fileExists(atPath: scratch.file("none")))
        let text = try scratch.write("text", "hello, this is not sqlite at all")
        #expect(throws: CAError.self) { try CAStore.open(path: text) }
        #expect(try String(contentsOfFile: text, encoding: .utf8) == "hello, this is not sqlite at all")
        #expect(throws: CAError.self) { try CAStore.open(path: scratch.path) }
    }

    @Test func issuingAHostMintsAPairAndSupersedesTheLastOne() throws {
        let scratch = try Scratch()
        let (store, issuer) = try Self.makeCA(scratch)
        try Self.addHost(store, "db2")
        let first = try issuer.issue(host: "db2")
        #expect(first.certificates.map(\.kind) == [.server, .client])
        #expect(first.superseded.isEmpty)
        #expect(first.certificates.allSatisfy { $0.status == .active && $0.keyPEM?.contains("ENCRYPTED") == true })
        let second = try issuer.issue(host: "db2")
        #expect(Set(second.superseded) == Set(first.certificates.map(\.serial)))
        let all = try store.certificates(CertificateFilter(hostName: "db2"))
        #expect(all.count == 4)
        #expect(all.filter { $0.status == .active }.map(\.serial) == second.certificates.map(\.serial))
        #expect(try store.events().map(\.action) == ["init", "issue server", "issue client", "issue server", "issue client"])
        // Leaf keys decrypt with the CA's wrapping secret and match their certificates.
        let authority = try store.activeAuthority()
        for record in second.certificates {
            let key = try #require(try issuer.vault.open(record, issuer: authority))
            #expect(try Certificate(pem: record.certificatePEM).matches(key))
        }
    }

    @Test func unknownHostAndExpiryFilters() throws {
        let scratch = try Scratch()
        let (store, issuer) = try Self.makeCA(scratch)
        #expect(throws: CAError.unknownHost("ghost")) { try issuer.issue(host: "ghost") }
        try Self.addHost(store, "db3")
        _ = try issuer.issue(host: "db3", days: 10)
        let soon = try store.certificates(CertificateFilter(expiringBefore: Self.now.addingTimeInterval(30 * 86_400), now: Self.now))
        #expect(soon.count == 2)
        let later = try store.certificates(CertificateFilter(expiringBefore: Self.now.addingTimeInterval(5 * 86_400), now: Self.now))
        #expect(later.isEmpty)
        #expect(try store.certificateCounts()[.active] == 2)
    }

    @Test func encryptedCAKeyNeedsThePassphrase() throws {
        let scratch = try Scratch()
        let (store, _) = try Self.makeCA(scratch, passphrase: "s3cret")
        try Self.addHost(store, "db4")
        let wrong = Issuer(store: store, vault: KeyVault { "nope" }, now: { Self.now })
        #expect(throws: CAError.wrongPassphrase) { try wrong.issue(host: "db4") }
        let none = Issuer(store: store, vault: KeyVault { nil }, now: { Self.now })
        #expect(throws: CAError.passphraseRequired) { try none.issue(host: "db4") }
        #expect(try store.certificates(CertificateFilter()).isEmpty)
        let right = Issuer(store: store, vault: KeyVault { "s3cret" }, now: { Self.now })
        #expect(try right.issue(host: "db4").certificates.count == 2)
    }

    @Test func textWithANULIsStoredWhole() throws {
        let scratch = try Scratch()
        let (store, _) = try Self.makeCA(scratch)
        let detail = "before\u{0}after ünïcode \u{0}"
        try store.write { try store.record("test", subject: "nul", detail: detail, at: Self.now) }
        let stored = try store.events(limit: 1).first?.detail
        #expect(stored == detail)
    }

    @Test func theSchemaRefusesAReusedSerialUnderOneCA() throws {
        let scratch = try Scratch()
        let (store, issuer) = try Self.makeCA(scratch)
        let issued = try issuer.issueClient(role: "app").certificates[0]
        #expect(throws: CAError.self) { try store.write { try store.insertCertificate(issued) } }
        #expect(try store.certificates(CertificateFilter()).count == 1)
    }

    @Test func initRefusesASecondCA() throws {
        let scratch = try Scratch()
        let (store, _) = try Self.makeCA(scratch)
        #expect(throws: CAError.alreadyInitialized(path: store.path, name: "unit-ca")) {
            try Issuer.createRoot(store: store, name: "other", keyType: .ecP256, days: 10, passphrase: nil, now: Self.now)
        }
        #expect(try store.authorities().count == 1)
    }
}
