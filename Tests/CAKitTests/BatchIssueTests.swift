import CACrypto
import CAKit
import Foundation
import TestSupport
import Testing

/// Many hosts in one process, minted on several threads: every certificate is the right host's,
/// verifies with openssl, carries its own key, and a bad name anywhere in the list changes nothing.
@Suite(.serialized) struct BatchIssueTests {
    final class CA {
        let scratch: Scratch
        let store: CAStore
        let vault = KeyVault { "pw" }
        let names: [String]

        init(hosts: Int) throws {
            scratch = try Scratch()
            store = try CAStore.openOrCreate(path: scratch.file("ca.sqlite3")).store
            _ = try Issuer.createRoot(store: store, name: "batch-ca", keyType: .ecP256, days: 3650, passphrase: "pw", now: Date())
            names = (0..<hosts).map { "db\($0).example.com" }
            try store.write {
                for (index, name) in names.enumerated() {
                    let host = try PostgresHost(name: HostName(name), dnsNames: [HostName("alias\(index).example.net")],
                                                ipAddresses: [IPAddress("10.1.\(index / 250).\(index % 250 + 1)")],
                                                role: index == 0 ? .primary : .standby, postgresVersion: .default, dataDirectory: nil,
                                                configDirectory: nil, osUser: "postgres", replicationUser: "replicator")
                    try store.insertHost(host, at: Date())
                }
            }
        }

        func issuer(threads: Int) -> Issuer {
            let issuer = Issuer(store: store, vault: vault)
            issuer.threads = threads
            return issuer
        }

        func count() throws -> Int { try store.count(CertificateFilter()) }
    }

    /// Each certificate has its host's names, a unique serial, verifies under the root with openssl,
    /// and its stored key is the private half of its public key.
    func check(_ records: [CertificateRecord], of ca: CA, hosts: [String]) throws {
        #expect(records.count == 2 * hosts.count)
        #expect(Set(records.map(\.serial)).count == records.count)
        let root = try ca.scratch.write("root.crt", try ca.store.activeAuthority().certificatePEM)
        let authority = try ca.store.activeAuthority()
        var files: [String] = []
        for (index, record) in records.enumerated() {
            let host = hosts[index / 2]
            let number = Int(host.dropFirst(2).prefix { $0.isNumber })!
            #expect(record.hostName == host)
            #expect(record.kind == (index % 2 == 0 ? .server : .client))
            let certificate = try Certificate(pem: record.certificatePEM)
            if record.kind == .server {
                #expect(certificate.subject == "CN=\(host)")
                #expect(Set(record.names) == ["DNS:\(host)", "DNS:alias\(number).example.net", "IP:10.1.\(number / 250).\(number % 250 + 1)"])
            } else {
                #expect(certificate.subject.contains("CN=replicator"))
            }
            let key = try #require(try ca.vault.open(record, issuer: authority))
            #expect(certificate.matches(key))
            files.append(try ca.scratch.write("leaf-\(record.serial.hex).crt", record.certificatePEM))
        }
        for chunk in stride(from: 0, to: files.count, by: 100).map({ Array(files[$0..<min(files.count, $0 + 100)]) }) {
            let verified = try OpenSSLTool.run(["verify", "-x509_strict", "-CAfile", root] + chunk)
            #expect(verified.status == 0, "\(verified.stderr)")
            #expect(verified.stdout.components(separatedBy: ": OK\n").count - 1 == chunk.count)
        }
    }

    @Test(arguments: [1, 2, 5])
    func manyHostsOnSeveralThreads(threads: Int) throws {
        let ca = try CA(hosts: 70)
        let first = try ca.issuer(threads: threads).issue(hosts: ca.names)
        try check(first.certificates, of: ca, hosts: ca.names)
        #expect(first.superseded.isEmpty)
        // Again, in another order: each host's earlier pair is superseded, nothing else.
        let order = ca.names.reversed().map { $0 }
        let second = try ca.issuer(threads: threads).issue(hosts: order)
        try check(second.certificates, of: ca, hosts: order)
        #expect(Set(second.superseded) == Set(first.certificates.map(\.serial)))
        #expect(try ca.store.count(CertificateFilter(status: .active)) == 140)
        #expect(try ca.count() == 280)
    }

    /// More hosts than one transaction holds, on two threads: each batch is minted while the one
    /// before it is stored. Every host gets its own pair, in order. A batch whose store fails ends
    /// the issue there: the batches before it stay, nothing of it or after it is stored.
    @Test func batchesMintedWhileTheOneBeforeIsStored() throws {
        let count = 2 * Issuer.batchSize + 40
        let ca = try CA(hosts: count)
        let path = ca.scratch.file("ca.sqlite3")
        let victim = ca.names[Issuer.batchSize + 10]  // in the second batch
        _ = try ca.issuer(threads: 1).issue(hosts: [victim])
        func setUser(_ user: String) throws {
            let r = try ProcessResult.run("/usr/bin/sqlite3", [path, "UPDATE hosts SET os_user = '\(user)' WHERE name = '\(victim)';"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        try setUser("pgsql")  // the host's seal no longer holds: its batch's store refuses it
        #expect(throws: CAError.self) { try ca.issuer(threads: 2).issue(hosts: ca.names) }
        let stored = try ca.store.certificates(CertificateFilter(status: .active))
        #expect(Set(stored.compactMap(\.hostName)) == Set(ca.names.prefix(Issuer.batchSize) + [victim]))
        #expect(stored.count == 2 * Issuer.batchSize + 2)

        try setUser("postgres")
        var done: [Int] = []
        let result = try ca.issuer(threads: 2).issue(hosts: ca.names, progress: { done.append($0.done) })
        try check(result.certificates, of: ca, hosts: ca.names)
        #expect(done == [0, Issuer.batchSize, 2 * Issuer.batchSize, count])
        #expect(try ca.store.count(CertificateFilter(status: .active)) == 2 * count)
    }

    @Test func aBadNameAnywhereChangesNothing() throws {
        let ca = try CA(hosts: 40)
        try ca.store.write {
            try ca.store.insertHost(try PostgresHost(name: HostName("own.example.com"), dnsNames: [], ipAddresses: [], role: .standby,
                                                     postgresVersion: .default, dataDirectory: nil, configDirectory: nil, osUser: "postgres",
                                                     replicationUser: "replicator", keyPolicy: .host), at: Date())
        }
        let events = try ca.store.events(limit: 1000).count
        for bad in ["nope.example.com", "own.example.com", "bad name", "db1.example.com/../x"] {
            var names = ca.names
            names.insert(bad, at: 30)
            #expect(throws: (any Error).self) { try ca.issuer(threads: 2).issue(hosts: names) }
            #expect(try ca.count() == 0)
            #expect(try ca.store.events(limit: 1000).count == events)
        }
        // A name given twice is minted once.
        let result = try ca.issuer(threads: 2).issue(hosts: ["db3.example.com", "DB3.example.com", "db3.example.com"])
        #expect(result.certificates.count == 2)
        // The same from records already read (issue --all): a host whose keys are made there refuses
        // the whole list before anything is minted; a record given twice is minted once.
        let records = try ca.store.hosts()
        let stored = try ca.count()
        #expect(throws: (any Error).self) { try ca.issuer(threads: 2).issue(registered: records) }
        #expect(try ca.count() == stored)
        let mine = records.filter { $0.keyPolicy == .ca }
        let again = try ca.issuer(threads: 2).issue(registered: mine + mine.prefix(3))
        #expect(again.certificates.count == 2 * mine.count)
        #expect(Set(again.certificates.compactMap(\.hostName)) == Set(mine.map(\.name.value)))
    }

    /// renew --keep-key and a rotation's reissue take the same threaded path: the keys stay, the
    /// names stay, and every successor verifies under its signer.
    @Test func successorsOnSeveralThreadsKeepKeysAndNames() throws {
        let ca = try CA(hosts: 30)
        let issued = try ca.issuer(threads: 2).issue(hosts: ca.names).certificates
        let renewed = try Lifecycle(store: ca.store, vault: ca.vault).renew(within: 400 * 86_400, hostName: nil, keepKey: true, days: 30)
        #expect(renewed.certificates.count == 60)
        let byOld = Dictionary(uniqueKeysWithValues: issued.map { ($0.serial, $0) })
        let authority = try ca.store.activeAuthority()
        for new in renewed.certificates {
            let old = try #require(new.replaces.flatMap { byOld[$0] })
            #expect(new.hostName == old.hostName && Set(new.names) == Set(old.names) && new.subject == old.subject)
            let key = try #require(try ca.vault.open(old, issuer: authority))
            #expect(try Certificate(pem: new.certificatePEM).matches(key))
        }
        let rotation = Rotation(store: ca.store, vault: ca.vault)
        _ = try rotation.start(keyType: nil, days: nil, passphrase: "pw")
        #expect(try rotation.reissue() == 60)
        let active = try ca.store.certificates(CertificateFilter(status: .active))
        let hosts = ca.names.flatMap { [$0, $0] }
        let sorted = active.sorted { (hosts.firstIndex(of: $0.hostName!)!, $0.kind == .server ? 0 : 1) < (hosts.firstIndex(of: $1.hostName!)!, $1.kind == .server ? 0 : 1) }
        try check(sorted, of: ca, hosts: ca.names)
    }
}
