import CAKit
import Foundation
import TestSupport
import Testing

/// Every input from outside, mutated thousands of times in-process (seeded; a trap would kill the
/// test run, a hang would exceed the time bound): host bundles, PEM certificates, keys and CRLs,
/// and the values the command line takes. Each bad input must be a CAError with one non-empty line.
@Suite struct FuzzTests {
    static let seed = UInt64(ProcessInfo.processInfo.environment["CA_FUZZ_SEED"] ?? "") ?? 4_242

    /// A byte-level mutation: flips, deletions, insertions, truncation, duplication of a span.
    static func mutate(_ input: [UInt8], _ g: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &g) {
            guard !bytes.isEmpty else { bytes = [UInt8.random(in: 0...255, using: &g)]; continue }
            let at = Int.random(in: 0..<bytes.count, using: &g)
            switch Int.random(in: 0..<6, using: &g) {
            case 0: bytes[at] ^= UInt8(1 << Int.random(in: 0..<8, using: &g))
            case 1: bytes.remove(at: at)
            case 2: bytes.insert(UInt8.random(in: 0...255, using: &g), at: at)
            case 3: bytes = Array(bytes.prefix(at))
            case 4:
                let end = min(bytes.count, at + Int.random(in: 1...64, using: &g))
                bytes.insert(contentsOf: bytes[at..<end], at: at)
            default: bytes[at] = [0x22, 0x5C, 0x7B, 0x7D, 0x00, 0x0A, 0x2D][Int.random(in: 0..<7, using: &g)]
            }
        }
        return bytes
    }

    static func isClean(_ error: Error) -> Bool {
        guard let error = error as? CAError, let message = error.errorDescription else { return false }
        return !message.isEmpty
    }

    @Test func hostBundles() throws {
        var g = SeededGenerator(seed: Self.seed)
        let scratch = try Scratch()
        let store = try CAStore.openOrCreate(path: scratch.file("ca.sqlite3")).store
        _ = try Issuer.createRoot(store: store, name: "fuzz-ca", keyType: .ecP256, days: 3650, passphrase: nil, now: Date())
        let vault = KeyVault { nil }
        for (name, role) in [("db1.example.com", HostRole.primary), ("db2.example.com", .standby)] {
            try store.write { try store.insertHost(try PostgresHost(name: HostName(name), dnsNames: [], ipAddresses: [IPAddress("192.0.2.1")], role: role,
                                                                    postgresVersion: .default, dataDirectory: nil, configDirectory: nil,
                                                                    osUser: "postgres", replicationUser: "replicator"), at: Date()) }
            _ = try Issuer(store: store, vault: vault).issue(host: name)
        }
        let material = try store.write { try HostMaterial.assemble(hostName: "db2.example.com", store: store, vault: vault, now: Date()) }
        let signer = try vault.key(of: try store.activeAuthority())
        let bundle = Array(try HostBundle.encode(material, passphrase: nil, signers: [signer], now: Date()).utf8)
        let pin = try store.activeAuthority().certificate().fingerprint
        let trust = HostBundle.Trust(installed: { _ in [] }, pinned: [pin])
        #expect(throws: Never.self) { try HostBundle.decode(String(decoding: bundle, as: UTF8.self), trust: trust) { nil } }
        var accepted = 0, refused = 0
        let started = Date()
        for _ in 0..<2000 {
            let input = String(decoding: Self.mutate(bundle, &g), as: UTF8.self)
            do {
                _ = try HostBundle.decode(input, trust: trust) { "a passphrase" }
                accepted += 1
            } catch {
                #expect(Self.isClean(error), "not a clean error: \(error)")
                refused += 1
            }
        }
        // Semantic mutations of the signed document: each field replaced; the signature must refuse them all.
        let text = String(decoding: bundle, as: UTF8.self)
        for (from, to) in [("192.0.2.1", "192.0.2.99"), ("postgres", "root"), ("/var/lib/postgresql", "/etc"), ("replicator", "postgres"),
                           ("standby", "primary"), ("fuzz-ca", "ca-certificates"), ("db2.example.com", "db9.example.com")] {
            let edited = text.replacingOccurrences(of: from, with: to)
            #expect(edited != text)
            #expect(throws: CAError.self, "\(from) → \(to) was accepted") { try HostBundle.decode(edited, trust: trust) { nil } }
        }
        let elapsed = Date().timeIntervalSince(started)
        print("fuzz: 2000 mutated host bundles (seed \(Self.seed)): \(refused) refused with one clean error, \(accepted) still valid (mutations outside the signed document, e.g. JSON whitespace); \(String(format: "%.1f", elapsed)) s")
        #expect(elapsed < 120)
        // Many names: bounded, and fast (the old quadratic loop took minutes).
        // Signed properly, so the names themselves are what is refused.
        var envelope = try #require(try JSONSerialization.jsonObject(with: Data(bundle)) as? [String: Any])
        let many = (0..<20_000).map { "\"n\($0).example.com\"" }.joined(separator: ",")
        let document = try #require(envelope["document"] as? String).replacingOccurrences(of: "\"dns_names\" : [", with: "\"dns_names\" : [\(many),")
        envelope["document"] = document
        envelope["signatures"] = [["key_id": signer.publicKeyFingerprint, "signature": Data(try signer.sign(Array(document.utf8))).base64EncodedString()]]
        let huge = String(decoding: try JSONSerialization.data(withJSONObject: envelope), as: UTF8.self)
        #expect(huge.count > 300_000)
        let quick = Date()
        #expect(throws: CAError.self) { try HostBundle.decode(huge, trust: trust) { nil } }
        #expect(Date().timeIntervalSince(quick) < 5)
    }

    @Test func pemInputs() throws {
        var g = SeededGenerator(seed: Self.seed &+ 1)
        let key = try PrivateKey(generating: .ecP256)
        let root = try Certificate.sign(Profile.root(name: "fuzz root").template(serial: .random(), validity: .root(now: Date(), days: 30)), subjectKey: key, issuer: nil)
        let crl = try CertificateRevocationList.sign(issuer: root, key: key, number: 1, thisUpdate: Date(), nextUpdate: Date().addingTimeInterval(86_400),
                                                     revoked: [RevokedEntry(serial: try .random(), revokedAt: Date(), reason: .keyCompromise)])
        let inputs = [Array(root.pem.utf8), Array(try key.pkcs8PEM(passphrase: nil).utf8), Array(try key.pkcs8PEM(passphrase: "pw", iterations: 1).utf8), Array(crl.pem.utf8)]
        var errors = 0
        for round in 0..<3000 {
            let text = String(decoding: Self.mutate(inputs[round % inputs.count], &g), as: UTF8.self)
            let attempts: [() throws -> Void] = [
                { _ = try CAError.translatingCrypto { try Certificate(pem: text) } },
                { _ = try CAError.translatingCrypto { try Certificate.all(inPEM: text) } },
                { _ = try CAError.translatingCrypto { try PrivateKey(pem: text, passphrase: "pw") } },
                { _ = try CAError.translatingCrypto { try CertificateRevocationList(pem: text) } },
            ]
            for attempt in attempts {
                do { try attempt() } catch {
                    errors += 1
                    #expect(Self.isClean(error), "round \(round): \(error)")
                }
            }
        }
        print("fuzz: 3000 mutated PEM inputs × 4 readers (seed \(Self.seed &+ 1)): \(errors) clean errors, 0 traps")
    }

    /// The values the command line takes, from random strings: each parser returns a value or one clean error.
    @Test func commandLineValues() throws {
        var g = SeededGenerator(seed: Self.seed &+ 2)
        let alphabet = Array("abcXYZ019.-_/:@ ,=+*'\"\\\n\t\u{0}\u{1b}é漢%$;".unicodeScalars)
        var values = 0
        for _ in 0..<4000 {
            var text = ""
            for _ in 0..<Int.random(in: 0...40, using: &g) { text.unicodeScalars.append(alphabet[Int.random(in: 0..<alphabet.count, using: &g)]) }
            let parsers: [() throws -> Void] = [
                { _ = try HostName(text) }, { _ = try IPAddress(text) }, { _ = try AbsolutePath(text, what: "path") },
                { _ = try Window(text) }, { _ = try PostgresVersion(text) }, { _ = try Identifier.role(text) }, { _ = try Identifier.osUser(text) },
                { _ = try CAName.validate(text) }, { _ = try Passphrase.validate(text, what: "passphrase") }, { _ = try CertificateStatus(parsing: text) },
                { _ = try HostRole(parsing: text) },
            ]
            for parse in parsers {
                values += 1
                do { try parse() } catch { #expect(Self.isClean(error), "'\(text)': \(error)") }
            }
        }
        print("fuzz: \(values) command-line values (seed \(Self.seed &+ 2)), 0 traps")
    }
}
