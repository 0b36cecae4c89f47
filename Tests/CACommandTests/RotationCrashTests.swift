import CAKit
import Foundation
import TestSupport
import Testing

/// A `ca rotate reissue` killed in its third batch of leaves, then run again: every leaf is
/// re-issued exactly once.
@Suite struct RotationCrashTests {
    @Test func killedReissueResumesAndReissuesEachLeafExactlyOnce() throws {
        let batch = Rotation.batchSize
        let total = 2 * batch + batch / 2  // two full batches, a half one (even: batchSize is a multiple of 4)
        let scratch = try Scratch()
        let db = scratch.file("ca.sqlite3")
        do {
            let store = try CAStore.openOrCreate(path: db).store
            _ = try Issuer.createRoot(store: store, name: "crash-ca", keyType: .ecP256, days: 3650, passphrase: nil, now: Date())
            // Hosts' pairs, issued in one batch (total is even: two leaves a host).
            let names = (0..<(total / 2)).map { "db\($0).example.com" }
            try store.write {
                for (index, name) in names.enumerated() {
                    try store.insertHost(PostgresHost(name: HostName(name), dnsNames: [], ipAddresses: [IPAddress("10.8.\(index / 250).\(index % 250 + 1)")],
                                                      role: .standby, postgresVersion: .default, dataDirectory: nil, configDirectory: nil,
                                                      osUser: "postgres", replicationUser: "replicator"), at: Date())
                }
            }
            _ = try Issuer(store: store, vault: KeyVault { nil }).issue(hosts: names)
        }
        #expect(try CABinary.run(["rotate", "start", "--db", db]).status == 0)
        let killed = try CABinary.run(["rotate", "reissue", "--db", db], environment: ["CA_TEST_CRASH_AFTER": "\(2 * batch + 37)"])
        #expect(killed.status == 128 + 9, "expected SIGKILL, got \(killed.status): \(killed.stderr)")

        let store = try CAStore.open(path: db)
        let rotation = try #require(try store.openRotation())
        #expect(rotation.stage == .reissuing)
        // Two batches committed; the third died with its transaction and left nothing.
        #expect(try store.activeCount(authorityID: rotation.newAuthorityID) == 2 * batch)
        #expect(try store.activeCount(authorityID: rotation.oldAuthorityID) == total - 2 * batch)
        #expect(try store.certificates(CertificateFilter()).count == total + 2 * batch)

        let resumed = try CABinary.run(["rotate", "reissue", "--json", "--db", db])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("{\"done\":\(total - 2 * batch),\"total\":\(total - 2 * batch)}"))

        let all = try store.certificates(CertificateFilter())
        #expect(all.count == 2 * total)
        let originals = all.filter { $0.authorityID == rotation.oldAuthorityID }
        let successors = all.filter { $0.authorityID == rotation.newAuthorityID }
        #expect(originals.count == total && originals.allSatisfy { $0.status == .superseded })
        #expect(successors.count == total && successors.allSatisfy { $0.status == .active })
        let replaced = successors.compactMap(\.replaces)
        #expect(replaced.count == total)
        #expect(Set(replaced) == Set(originals.map(\.serial)))
        let bySerial = Dictionary(originals.map { ($0.serial, $0) }, uniquingKeysWith: { a, _ in a })
        for successor in successors {
            let original = try #require(successor.replaces.flatMap { bySerial[$0] })
            #expect(original.subject == successor.subject)
        }
        #expect(try CABinary.run(["rotate", "finish", "--db", db]).status == 0)
    }
}
