import CAKit
import Foundation
import TestSupport
import Testing

/// DESIGN.md §5's invariant with the files `ca install` writes: at every stage, a host at stage k
/// and a host at stage k or k+1 verify each other both ways (server cert against the other's trust
/// bundle and CRLs, client cert likewise), as PostgreSQL and libpq would with CRL_CHECK_ALL.
@Suite(.serialized, .enabled(if: InstallFixture.enabled, "needs root and the postgres user"))
struct RotationStageTests {
    struct Snapshot {
        let trust: String, crl: String, server: String, client: String
    }

    /// Copies what install wrote for a host at a stage, so later stages cannot change it.
    static func snapshot(_ fixture: InstallFixture, _ host: PostgresHost, stage: Int) throws -> Snapshot {
        let layout = fixture.layout(host)
        func copy(_ path: String, _ name: String) throws -> String {
            try fixture.scratch.write("stage\(stage)-\(host.name.value)-\(name)", try String(contentsOfFile: path, encoding: .utf8))
        }
        return Snapshot(trust: try copy(layout.trustBundle, "trust.crt"), crl: try copy(layout.crl, "root.crl"),
                        server: try copy(layout.serverCertificate, "server.crt"), client: try copy(layout.clientCertificate, "client.crt"))
    }

    /// `server` presents its server cert to `client`, and `client` its client cert to `server`.
    static func verifiesBothWays(server: Snapshot, client: Snapshot) throws -> [String] {
        var problems: [String] = []
        let checks = [("sslserver", server.server, client), ("sslclient", client.client, server)]
        for (purpose, leaf, verifier) in checks {
            let result = try OpenSSLTool.run(["verify", "-x509_strict", "-purpose", purpose, "-crl_check_all",
                                              "-CAfile", verifier.trust, "-CRLfile", verifier.crl, leaf])
            if result.status != 0 { problems.append("\(purpose) \(leaf): \(result.stdout) \(result.stderr)") }
        }
        return problems
    }

    @Test func everyPairAtMostOneStageApartVerifiesBothWays() throws {
        let fixture = try InstallFixture()
        let rotation = Rotation(store: fixture.store, vault: fixture.vault)
        let hosts = [fixture.primary, fixture.standby]
        func installAll(_ stage: Int) throws -> [Snapshot] {
            try hosts.map { host in
                try fixture.install(host, link: false, configure: false)  // records the deployment, as ca install does
                return try Self.snapshot(fixture, host, stage: stage)
            }
        }
        var stages: [[Snapshot]] = [try installAll(0)]
        _ = try rotation.start(keyType: nil, days: nil, passphrase: nil)
        stages.append(try installAll(1))
        #expect(try Certificate.all(inPEM: String(contentsOfFile: stages[1][0].trust, encoding: .utf8)).count == 2)
        _ = try rotation.reissue()
        // finish is refused until every host has installed its re-issued certificates.
        #expect(throws: CAError.self) { try rotation.finish() }
        stages.append(try installAll(2))
        try rotation.finish()
        stages.append(try installAll(3))
        #expect(try Certificate.all(inPEM: String(contentsOfFile: stages[3][0].trust, encoding: .utf8)).count == 1)

        for k in 0..<stages.count {
            for next in [k, k + 1] where next < stages.count {
                for (a, b) in [(0, 1), (1, 0)] {
                    let problems = try Self.verifiesBothWays(server: stages[k][a], client: stages[next][b])
                    #expect(problems.isEmpty, "host \(a) at stage \(k), host \(b) at stage \(next): \(problems)")
                    let reverse = try Self.verifiesBothWays(server: stages[next][b], client: stages[k][a])
                    #expect(reverse.isEmpty, "host \(b) at stage \(next), host \(a) at stage \(k): \(reverse)")
                }
            }
        }
        // Two stages apart is where it may break: a stage-3 host no longer trusts stage-0 leaves.
        #expect(!(try Self.verifiesBothWays(server: stages[0][0], client: stages[3][1])).isEmpty)
    }
}
