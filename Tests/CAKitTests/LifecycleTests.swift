import CAKit
import Foundation
import TestSupport
import Testing

/// Revocation, renewal, CA renewal and rotation, judged by `openssl verify`.
@Suite(.serialized) struct LifecycleTests {
    final class CA {
        let scratch: Scratch
        let store: CAStore
        let vault = KeyVault { "pw" }
        var issuer: Issuer { Issuer(store: store, vault: vault) }
        var lifecycle: Lifecycle { Lifecycle(store: store, vault: vault) }

        init() throws {
            scratch = try Scratch()
            store = try CAStore.openOrCreate(path: scratch.file("ca.sqlite3")).store
            _ = try Issuer.createRoot(store: store, name: "life-ca", keyType: .ecP256, days: 3650, passphrase: "pw", now: Date())
            for (name, role) in [("db1.example.com", HostRole.primary), ("db2.example.com", .standby)] {
                let host = try PostgresHost(name: HostName(name), dnsNames: [HostName("alias-" + name)], ipAddresses: [IPAddress(role == .primary ? "192.0.2.1" : "192.0.2.2")],
                                            role: role, postgresVersion: .default, dataDirectory: nil, configDirectory: nil, osUser: "postgres", replicationUser: "replicator")
                try store.write { try store.insertHost(host, at: Date()) }
                _ = try issuer.issue(host: name)
            }
        }

        func file(_ name: String, _ text: String) throws -> String { try scratch.write(name, text) }
        func bundle() throws -> String { try file("bundle-\(UUID().uuidString).crt", try store.trustedAuthorities().map(\.certificatePEM).joined()) }
    }

    @Test func aRevokedCertificateFailsCRLCheckAndTheOthersPass() throws {
        let ca = try CA()
        let before = try ca.store.write { try CRLPublisher(store: ca.store, vault: ca.vault).currentCRLs(now: Date(), force: true) }
        let client = try ca.lifecycle.resolve("db2.example.com", kind: .client)
        #expect(client.count == 1)
        let (_, crls) = try ca.lifecycle.revoke(client, reason: .keyCompromise)
        #expect(try #require(crls.first?.number) > (before.first?.number ?? 0))
        #expect(crls.first?.revokedSerials == [client[0].serial])
        let crlFile = try ca.file("ca.crl", crls.map(\.pem).joined())
        let bundle = try ca.bundle()
        let revoked = try OpenSSLTool.run(["verify", "-crl_check", "-CAfile", bundle, "-CRLfile", crlFile, try ca.file("revoked.crt", client[0].certificatePEM)])
        #expect(revoked.status != 0)
        #expect(revoked.stdout.contains("certificate revoked") || revoked.stderr.contains("certificate revoked"))
        let good = try ca.store.certificates(CertificateFilter(hostName: "db1.example.com", status: .active))
        for record in good {
            let result = try OpenSSLTool.run(["verify", "-crl_check", "-CAfile", bundle, "-CRLfile", crlFile, try ca.file("good-\(record.serial.hex).crt", record.certificatePEM)])
            #expect(result.status == 0, "\(result.stderr)")
        }
        let text = try OpenSSLTool.run(["crl", "-in", crlFile, "-noout", "-text"]).stdout
        #expect(text.contains("Key Compromise"))
        #expect(try OpenSSLTool.run(["crl", "-in", crlFile, "-CAfile", bundle, "-noout", "-verify"]).stderr.contains("verify OK"))
        #expect(throws: CAError.self) { try ca.lifecycle.revoke(client.map { var r = $0; r.status = .revoked; return r }, reason: .superseded) }
    }

    @Test func renewKeepsNamesAndSupersedes() throws {
        let ca = try CA()
        let old = try ca.store.certificates(CertificateFilter(hostName: "db1.example.com", status: .active))
        #expect(try ca.lifecycle.renew(within: 86_400, hostName: nil, keepKey: false, days: nil).certificates.isEmpty)
        let result = try ca.lifecycle.renew(within: 400 * 86_400, hostName: "db1.example.com", keepKey: true, days: 30)
        #expect(result.certificates.count == 2)
        #expect(Set(result.superseded) == Set(old.map(\.serial)))
        for new in result.certificates {
            let predecessor = try #require(old.first { $0.serial == new.replaces })
            #expect(new.subject == predecessor.subject)
            #expect(new.names == predecessor.names)
            #expect(new.kind == predecessor.kind)
            let (a, b) = (try Certificate(pem: new.certificatePEM), try Certificate(pem: predecessor.certificatePEM))
            #expect(a.extendedKeyUsage == b.extendedKeyUsage)
            let authority = try ca.store.activeAuthority()
            #expect(try ca.vault.open(new, issuer: authority)?.publicKeyFingerprint == ca.vault.open(predecessor, issuer: authority)?.publicKeyFingerprint)
        }
        #expect(try ca.store.certificates(CertificateFilter(hostName: "db1.example.com", status: .superseded)).count == 2)
        #expect(try ca.store.certificates(CertificateFilter(status: .revoked)).isEmpty)
    }

    @Test func afterRenewCAEveryLeafVerifiesAgainstTheNewCAAlone() throws {
        let ca = try CA()
        let before = try ca.store.activeAuthority().certificate()
        let renewed = try ca.lifecycle.renewAuthority(days: 7300).certificate()
        #expect(renewed.serial != before.serial)
        #expect(renewed.notAfter > before.notAfter)
        #expect(renewed.subjectKeyIdentifier == before.subjectKeyIdentifier)
        let newCA = try ca.file("renewed.crt", renewed.pem)
        for leaf in try ca.store.certificates(CertificateFilter(status: .active)) {
            let purpose = leaf.kind == .server ? "sslserver" : "sslclient"
            let result = try OpenSSLTool.run(["verify", "-x509_strict", "-purpose", purpose, "-CAfile", newCA, try ca.file("\(leaf.serial.hex).crt", leaf.certificatePEM)])
            #expect(result.status == 0, "\(result.stderr)")
        }
        #expect(try ca.store.trustedAuthorities().count == 1)
    }

    @Test func finishIsRefusedWhileALeafHangsOffTheOldRoot() throws {
        let ca = try CA()
        let rotation = Rotation(store: ca.store, vault: ca.vault)
        #expect(throws: CAError.self) { try rotation.finish() }
        _ = try rotation.start(keyType: nil, days: nil, passphrase: "pw")
        #expect(throws: CAError.self) { try rotation.start(keyType: nil, days: nil, passphrase: "pw") }
        do {
            try rotation.finish()
            Issue.record("finish accepted with leaves on the old root")
        } catch let error as CAError {
            #expect(error.localizedDescription.contains("4 active certificates still chain to the old root"))
        }
        #expect(try ca.store.trustedAuthorities().count == 2)
        #expect(try rotation.reissue() == 4)
        try rotation.finish()
        #expect(try ca.store.trustedAuthorities().count == 1)
        #expect(try ca.store.activeAuthority().certificate().subject == "CN=life-ca G2")
    }

    @Test func abortReturnsToTheOldRootAlone() throws {
        let ca = try CA()
        let old = try ca.store.activeAuthority()
        let rotation = Rotation(store: ca.store, vault: ca.vault)
        _ = try rotation.start(keyType: .ecP384, days: nil, passphrase: "pw")
        _ = try rotation.reissue()
        try rotation.abort()
        #expect(try ca.store.activeAuthority().id == old.id)
        #expect(try ca.store.trustedAuthorities().map(\.id) == [old.id])
        let active = try ca.store.certificates(CertificateFilter(status: .active))
        #expect(active.count == 4 && active.allSatisfy { $0.authorityID == old.id })
        #expect(try ca.store.openRotation() == nil)
    }
}
