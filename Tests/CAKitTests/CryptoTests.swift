import CAKit
import Foundation
import TestSupport
import Testing

/// The crypto layer on its own: keys, PKCS#8, signing, reading back. Fixed reference time.
@Suite struct CryptoTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15

    static func root(_ type: KeyType) throws -> (Certificate, PrivateKey) {
        let key = try PrivateKey(generating: type)
        let template = Profile.root(name: "test-ca").template(serial: try SerialNumber.random(), validity: try Validity.root(now: now, days: 3650))
        return (try Certificate.sign(template, subjectKey: key, issuer: nil), key)
    }

    /// ca writes a certificate's PEM from its DER itself; openssl x509 writes the same text for
    /// certificates of every length modulo the 48 bytes of a base64 line.
    @Test func certificatePEMIsWhatOpenSSLWrites() throws {
        let (ca, caKey) = try Self.root(.ecP256)
        let scratch = try Scratch()
        var remainders = Set<Int>()
        for extra in 0..<40 {
            let names: [GeneralName] = [.dnsName("db.example.com")] + (0..<extra % 8).map { .dnsName("n\($0).example.org") }
                + (extra >= 8 ? [.dnsName(String(repeating: "x", count: extra - 7) + ".example.com")] : [])
            let leaf = try Certificate.sign(Profile.server(commonName: "db.example.com", names: names)
                .template(serial: try SerialNumber.random(), validity: try Validity.leaf(now: Self.now, days: 30, issuer: ca)),
                subjectKey: try PrivateKey(generating: .ecP256), issuer: (ca, caKey))
            let file = try scratch.write("leaf\(extra).crt", leaf.pem)
            let written = try OpenSSLTool.run(["x509", "-in", file])
            #expect(written.status == 0, "\(written.stderr)")
            #expect(written.stdout == leaf.pem)
            #expect(try Certificate(pem: leaf.pem).fingerprint == leaf.fingerprint)
            remainders.insert(leaf.der.count % 48)
        }
        #expect(remainders.count > 20)
    }

    /// One KeyGenerator makes every key of a batch's thread: each key is new, of its type, and one
    /// openssl checks as a whole key.
    @Test(arguments: [KeyType.ecP256, .ecP384, .ed25519, .rsa2048])
    func aKeptGeneratorMakesNewKeys(_ type: KeyType) throws {
        let generator = try KeyGenerator(type)
        let keys = try (0..<(type.isRSA ? 3 : 40)).map { _ in try generator.generate() }
        #expect(keys.allSatisfy { $0.type == type })
        #expect(Set(keys.map(\.publicKeyFingerprint)).count == keys.count)
        #expect(Set(try keys.map { try $0.pkcs8PEM(passphrase: nil) }).count == keys.count)
        let scratch = try Scratch()
        let file = try scratch.write("last.key", try keys.last!.pkcs8PEM(passphrase: nil))
        let checked = try OpenSSLTool.run(["pkey", "-in", file, "-check", "-noout"])
        #expect(checked.status == 0, "\(checked.stderr)")
    }

    @Test(arguments: KeyType.allCases)
    func keyRoundTripsThroughEncryptedPKCS8(_ type: KeyType) throws {
        let key = try PrivateKey(generating: type)
        #expect(key.type == type)
        let pem = try key.pkcs8PEM(passphrase: "correct horse", iterations: 1000)
        #expect(pem.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        let back = try PrivateKey(pem: pem, passphrase: "correct horse")
        #expect(back.type == type)
        #expect(back.publicKeyFingerprint == key.publicKeyFingerprint)
        #expect(try back.wrappingSecret(label: "x") == key.wrappingSecret(label: "x"))
        #expect(try key.wrappingSecret(label: "x") != key.wrappingSecret(label: "y"))
        #expect(throws: CryptoError.wrongPassphrase) { try PrivateKey(pem: pem, passphrase: "wrong") }
        #expect(throws: CryptoError.passphraseRequired) { try PrivateKey(pem: pem, passphrase: nil) }
        let plain = try key.pkcs8PEM(passphrase: nil)
        #expect(plain.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        #expect(try PrivateKey(pem: plain, passphrase: nil).publicKeyFingerprint == key.publicKeyFingerprint)
    }

    /// Keys OpenSSL wrote, plain and encrypted, PKCS#8 and its older formats, read back as the same
    /// key (ca reads PKCS#8 EC and Ed25519 keys from their raw values, the rest through OpenSSL).
    @Test(arguments: KeyType.allCases)
    func keysOpenSSLWroteReadBackAsTheSameKey(_ type: KeyType) throws {
        let scratch = try Scratch()
        let algorithm: [String] = switch type {
        case .ecP256: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        case .ecP384: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]
        case .ed25519: ["-algorithm", "ED25519"]
        default: ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(type == .rsa2048 ? 2048 : type == .rsa3072 ? 3072 : 4096)"]
        }
        for round in 0..<(type.isRSA ? 1 : 10) {
            let file = scratch.file("key\(round).pem")
            #expect(try OpenSSLTool.run(["genpkey"] + algorithm + ["-out", file]).status == 0)
            let spki = try OpenSSLTool.run(["pkey", "-in", file, "-pubout", "-outform", "DER", "-out", file + ".pub"])
            #expect(spki.status == 0)
            let expected = Digest.sha256(Array(try Data(contentsOf: URL(fileURLWithPath: file + ".pub")))).hexString
            var forms = [("plain", try String(contentsOfFile: file, encoding: .utf8), nil as String?)]
            let sealed = try OpenSSLTool.run(["pkcs8", "-topk8", "-in", file, "-v2", "aes-256-cbc", "-passout", "pass:pw"])
            forms.append(("encrypted", sealed.stdout, "pw"))
            if !type.isRSA && type != .ed25519 {  // SEC1, the "EC PRIVATE KEY" of older tools
                forms.append(("sec1", try OpenSSLTool.run(["ec", "-in", file]).stdout, nil))
            }
            for (form, pem, passphrase) in forms {
                let key = try PrivateKey(pem: pem, passphrase: passphrase)
                #expect(key.type == type, "\(type) \(form)")
                #expect(key.publicKeyFingerprint == expected, "\(type) \(form): not the key openssl wrote")
            }
            #expect(throws: CryptoError.wrongPassphrase) { try PrivateKey(pem: sealed.stdout, passphrase: "not it") }
        }
    }

    /// An EC PKCS#8 whose public point is another key's is refused: a key that
    /// signs as one key and names itself as another must not be taken in.
    @Test(arguments: [KeyType.ecP256, .ecP384])
    func anECKeyWithAnotherKeysPointIsRefused(_ type: KeyType) throws {
        let size = type == .ecP256 ? 65 : 97
        func der(_ key: PrivateKey) throws -> [UInt8] {
            let body = try key.pkcs8PEM(passphrase: nil).split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            return Array(try #require(Data(base64Encoded: body)))
        }
        func pem(_ der: [UInt8]) -> String {
            let text = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            return "-----BEGIN PRIVATE KEY-----\n\(text)\n-----END PRIVATE KEY-----\n"
        }
        for _ in 0..<10 {
            let one = try der(try PrivateKey(generating: type)), other = try der(try PrivateKey(generating: type))
            #expect(try PrivateKey(pem: pem(one), passphrase: nil).type == type)  // untouched, it reads
            let spliced = Array(one.dropLast(size)) + other.suffix(size)  // the point is the DER's last element
            // (A sealed key goes through the same reader once decrypted; openssl will not seal this one.)
            #expect(throws: CryptoError.self) { try PrivateKey(pem: pem(spliced), passphrase: nil) }
        }
    }

    /// ca writes PKCS#8 for EC and Ed25519 keys from their raw values: byte for byte what OpenSSL
    /// writes for the same key (`openssl pkey` re-encodes it), encrypted and read back too.
    @Test(arguments: KeyType.allCases)
    func pkcs8IsExactlyWhatOpenSSLWrites(_ type: KeyType) throws {
        let scratch = try Scratch()
        for _ in 0..<(type.isRSA ? 1 : 20) {
            let key = try PrivateKey(generating: type)
            let ours = try key.pkcs8PEM(passphrase: nil)
            let file = try scratch.write("key.pem", ours, mode: 0o600)
            let openssl = try OpenSSLTool.run(["pkey", "-in", file])
            #expect(openssl.status == 0 && openssl.stdout == ours, "\(type): ours\n\(ours)\nopenssl\n\(openssl.stdout)\(openssl.stderr)")
            let sealed = try key.pkcs8PEM(passphrase: "x", iterations: 1)
            let opened = try OpenSSLTool.run(["pkey", "-in", try scratch.write("sealed.pem", sealed, mode: 0o600), "-passin", "pass:x"])
            #expect(opened.stdout == ours, "\(type): the sealed key does not open to the same key")
        }
    }

    @Test(arguments: KeyType.allCases)
    func rootAndLeavesCarryTheDesignedFields(_ type: KeyType) throws {
        let (ca, caKey) = try Self.root(type)
        #expect(ca.isCA)
        #expect(ca.subject == "CN=test-ca")
        #expect(ca.issuer == ca.subject)
        #expect(ca.subjectKeyIdentifier != nil)
        #expect(ca.authorityKeyIdentifier == ca.subjectKeyIdentifier)
        #expect(ca.isSigned(by: ca))
        #expect(ca.matches(caKey))

        let host = try PostgresHost(name: HostName("db1.example.com"), dnsNames: [HostName("db1")], ipAddresses: [IPAddress("192.0.2.10"), IPAddress("2001:db8::10")],
                                    role: .primary, postgresVersion: .default, dataDirectory: nil, configDirectory: nil,
                                    osUser: "postgres", replicationUser: "replicator")
        let validity = try Validity.leaf(now: Self.now, days: nil, issuer: ca)
        let leafKey = try PrivateKey(generating: .ecP256)
        let serial = try SerialNumber.random()
        let server = try Certificate.sign(Profile.server(host: host).template(serial: serial, validity: validity),
                                          subjectKey: leafKey, issuer: (ca, caKey))
        #expect(server.serial == serial)
        #expect(server.serial.bytes.count == 20)
        #expect(server.serial.bytes[0] & 0x80 == 0)
        #expect(!server.isCA)
        #expect(server.subject == "CN=db1.example.com")
        #expect(server.issuer == "CN=test-ca")
        #expect(server.subjectAlternativeNames.map(\.description) == ["DNS:db1.example.com", "DNS:db1", "IP:192.0.2.10", "IP:2001:db8::10"])
        #expect(server.authorityKeyIdentifier == ca.subjectKeyIdentifier)
        #expect(server.isSigned(by: ca))
        #expect(!ca.isSigned(by: server))
        #expect(server.matches(leafKey))
        #expect(!server.matches(caKey))
        #expect(server.notAfter == Self.now.addingTimeInterval(397 * 86_400))
        #expect(server.notBefore == Self.now.addingTimeInterval(-300))

        let client = try Certificate.sign(Profile.replicationClient(host: host).template(serial: try SerialNumber.random(), validity: validity),
                                          subjectKey: try PrivateKey(generating: type), issuer: (ca, caKey))
        #expect(client.subject == "CN=replicator,OU=db1.example.com")
        #expect(client.subjectAlternativeNames.isEmpty)
        #expect(try Certificate(pem: client.pem) == client)
    }

    @Test func serialsAreRandomPositiveTwentyOctets() throws {
        var seen = Set<SerialNumber>()
        for _ in 0..<500 {
            let serial = try SerialNumber.random()
            #expect(serial.bytes.count == 20)
            #expect(serial.bytes[0] >= 0x40 && serial.bytes[0] < 0x80)
            seen.insert(serial)
        }
        #expect(seen.count == 500)
        let one = try SerialNumber.random()
        #expect(SerialNumber(hex: one.hex) == one)
        #expect(SerialNumber(hex: "00:0A") == SerialNumber(bytes: [0x0A]))
        #expect(SerialNumber(hex: "xyz") == nil)
    }

    @Test func bundlesParseEveryCertificateInOrder() throws {
        let (a, _) = try Self.root(.ecP256)
        let (b, _) = try Self.root(.ed25519)
        #expect(try Certificate.all(inPEM: a.pem + b.pem) == [a, b])
        #expect(try Certificate.all(inPEM: "nothing here").isEmpty)
        #expect(throws: CryptoError.invalidPEM(what: "certificate")) { try Certificate(pem: "garbage") }
    }

    @Test func ipv6IsPrintedCanonically() {
        #expect(GeneralName.format(ip: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]) == "2001:db8::1")
        #expect(GeneralName.format(ip: [UInt8](repeating: 0, count: 16)) == "::")
        #expect(GeneralName.format(ip: [127, 0, 0, 1]) == "127.0.0.1")
    }
}
