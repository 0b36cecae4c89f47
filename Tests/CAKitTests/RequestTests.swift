import CAKit
import Foundation
import TestSupport
import Testing

/// PKCS#10 requests: made and read back for every key type ca issues, refused for keys it does not,
/// and thousands of seeded mutations of a good one, none of which may be accepted as another request.
@Suite struct RequestTests {
    static func host() throws -> PostgresHost {
        try PostgresHost(name: HostName("db7.req.internal"), dnsNames: [HostName("alias.req.internal")], ipAddresses: [IPAddress("2001:db8::7")],
                         role: .standby, postgresVersion: .default, dataDirectory: nil, configDirectory: nil,
                         osUser: "postgres", replicationUser: "replicator", keyPolicy: .host)
    }

    @Test(arguments: KeyType.allCases)
    func aRequestRoundTripsAndIsSignedForItsKey(_ type: KeyType) throws {
        let key = try PrivateKey(generating: type)
        let profile = Profile.server(host: try Self.host())
        let request = try CertificateRequest.make(subject: profile.subject, names: profile.subjectAlternativeNames, key: key)
        for parsed in [try CertificateRequest(pem: request.pem), try CertificateRequest(bytes: request.der)] {
            #expect(parsed.der == request.der && parsed.isSelfSigned)
            #expect(parsed.publicKey?.type == type && parsed.publicKey?.fingerprint == key.publicKeyFingerprint)
            #expect(parsed.subjectAttributes.map { "\($0.name)=\($0.value)" } == ["CN=db7.req.internal"])
            #expect(try parsed.wishes().names == profile.subjectAlternativeNames)
        }
        let publicKey = try RequestPolicy.check(request, against: profile, what: "the test request")
        let issuerKey = try PrivateKey(generating: .ecP256)
        let now = Date()
        let root = try Certificate.sign(CertificateTemplate(subject: DistinguishedName(commonName: "req root"), serial: try SerialNumber.random(),
                                                            notBefore: now, notAfter: now.addingTimeInterval(3 * 86_400), isCA: true),
                                        subjectKey: issuerKey, issuer: nil)
        let leaf = try Certificate.sign(profile.template(serial: try SerialNumber.random(), validity: try Validity.leaf(now: now, days: 1, issuer: root)),
                                        subjectPublicKey: publicKey, issuer: (root, issuerKey))
        #expect(leaf.matches(key) && leaf.isSigned(by: root) && leaf.subjectAlternativeNames == profile.subjectAlternativeNames)
        // The SubjectPublicKeyInfo written from the raw public value is the standard encoding of the key.
        let reread = try Certificate(pem: leaf.pem)
        #expect(leaf.publicKeyFingerprint == key.publicKeyFingerprint && reread.publicKeyFingerprint == key.publicKeyFingerprint)
        #expect(ChainVerifier.failure(of: leaf, trusted: [root], purpose: .server, hostName: "db7.req.internal", at: now.addingTimeInterval(60)) == nil)
        // The replication request: no names asked, and the client profile grants none.
        let client = Profile.replicationClient(host: try Self.host())
        let replication = try CertificateRequest.make(subject: client.subject, names: [], key: key)
        #expect(try RequestPolicy.check(replication, against: client, what: "the test request").fingerprint == key.publicKeyFingerprint)
        #expect(throws: CAError.self) { try RequestPolicy.check(request, against: client, what: "a server request as a client one") }
    }

    @Test func keysOfTheRightSizeOnTheWrongCurveOrTooShortAreRefusedByName() throws {
        let scratch = try Scratch()
        for (options, named) in [(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"], "EC secp256k1"),
                                 (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:brainpoolP256r1"], "EC brainpoolP256r1"),
                                 (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1536"], "RSA 1536 bits"),
                                 (["-algorithm", "ED448"], "Ed448")] {
            let key = scratch.file("k-\(named.filter(\.isLetter)).pem"), csr = scratch.file("r-\(named.filter(\.isLetter)).csr")
            #expect(try OpenSSLTool.run(["genpkey"] + options + ["-out", key]).status == 0)
            #expect(try OpenSSLTool.run(["req", "-new", "-key", key, "-subj", "/CN=db7.req.internal", "-out", csr]).status == 0)
            let request = try CertificateRequest(pem: try String(contentsOfFile: csr, encoding: .utf8))
            #expect(request.isSelfSigned && request.publicKey?.type == nil)
            do {
                _ = try RequestPolicy.check(request, against: Profile.server(host: try Self.host()), what: "the request")
                Issue.record("a \(named) key was accepted")
            } catch let error as CAError {
                #expect(error.localizedDescription.contains("its key is \(named)"), "\(error.localizedDescription)")
            }
        }
    }

    @Test func noMutationOfAGoodRequestIsAcceptedAsAnother() throws {
        var g = SeededGenerator(seed: FuzzTests.seed ^ 0x5EC)
        let host = try Self.host()
        let profile = Profile.server(host: host)
        let key = try PrivateKey(generating: .ecP256)
        let good = try CertificateRequest.make(subject: profile.subject, names: profile.subjectAlternativeNames, key: key)
        var accepted = 0, refused = 0
        for round in 0..<3_000 {
            let input = round % 2 == 0 ? good.der : Array(good.pem.utf8)
            let bytes = FuzzTests.mutate(input, &g)
            guard let request = try? CertificateRequest(bytes: bytes) else { refused += 1; continue }
            do {
                _ = try RequestPolicy.check(request, against: profile, what: "a mutated request")
                #expect(request.der == good.der, "a mutation was accepted as a different request: \(bytes.prefix(64))")
                accepted += 1
            } catch let error as CAError {
                #expect(!(error.errorDescription ?? "").isEmpty && !(error.errorDescription ?? "").contains("\n"))
                refused += 1
            }
        }
        #expect(refused > 2_500, "accepted \(accepted), refused \(refused)")

        // The envelope, mutated: a clean one-line error or the same two requests.
        let envelope = try HostRequest(caName: "req-ca", caKeyIDs: [String(repeating: "ab", count: 32)], hostName: host.name.value, createdAt: Date(),
                                       server: good, replication: good).encoded()
        for _ in 0..<2_000 {
            do {
                let decoded = try HostRequest.decode(FuzzTests.mutate(Array(envelope.utf8), &g))
                for request in [decoded.server, decoded.replication] where request.der != good.der {
                    #expect(throws: CAError.self, "a mutated request in the envelope was accepted") {
                        try RequestPolicy.check(request, against: profile, what: "a mutated request")
                    }
                }
            } catch {
                #expect(FuzzTests.isClean(error), "\(error)")
            }
        }
    }
}
