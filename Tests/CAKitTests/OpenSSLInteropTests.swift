import CAKit
import Foundation
import TestSupport
import Testing

/// What ca issues, judged by the `openssl` command line rather than by our own reader.
@Suite(.serialized, .enabled(if: OpenSSLTool.path != nil, "openssl CLI not installed"))
struct OpenSSLInteropTests {
    /// Issues a CA and a host pair through the real store and issuer, at the real time (openssl checks validity).
    static func issue(_ type: KeyType, in scratch: Scratch) throws -> (ca: String, server: CertificateRecord, client: CertificateRecord, store: CAStore) {
        let (store, _) = try CAStore.openOrCreate(path: scratch.file("ca.sqlite3"))
        let authority = try Issuer.createRoot(store: store, name: "interop-ca", keyType: type, days: 3650, passphrase: "pw-\(type.rawValue)", now: Date())
        let host = try PostgresHost(name: HostName("db1.example.com"), dnsNames: [HostName("db1.internal.example")], ipAddresses: [IPAddress("192.0.2.10"), IPAddress("2001:db8::10")],
                                    role: .primary, postgresVersion: .default, dataDirectory: nil, configDirectory: nil,
                                    osUser: "postgres", replicationUser: "replicator")
        try store.write { try store.insertHost(host, at: Date()) }
        let result = try Issuer(store: store, vault: KeyVault { "pw-\(type.rawValue)" }).issue(host: "db1.example.com")
        let ca = try scratch.write("ca.crt", authority.certificatePEM)
        return (ca, result.certificates[0], result.certificates[1], store)
    }

    @Test(arguments: KeyType.allCases)
    func opensslVerifiesStrictlyWithTheRightPurpose(_ type: KeyType) throws {
        let scratch = try Scratch()
        let (ca, server, client, _) = try Self.issue(type, in: scratch)
        let serverFile = try scratch.write("server.crt", server.certificatePEM)
        let clientFile = try scratch.write("client.crt", client.certificatePEM)
        let good = [("sslserver", serverFile), ("sslclient", clientFile)]
        for (purpose, file) in good {
            let result = try OpenSSLTool.run(["verify", "-x509_strict", "-purpose", purpose, "-CAfile", ca, file])
            #expect(result.status == 0, "\(type) \(purpose): \(result.stdout) \(result.stderr)")
            #expect(result.stdout.contains(": OK"))
        }
        // And the wrong purpose is refused: the EKUs really are distinct.
        let crossed = try OpenSSLTool.run(["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", ca, serverFile])
        #expect(crossed.status != 0)
        let crossed2 = try OpenSSLTool.run(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", ca, clientFile])
        #expect(crossed2.status != 0)
        // Host name checks as libpq's verify-full does them.
        #expect(try OpenSSLTool.run(["verify", "-CAfile", ca, "-verify_hostname", "db1.internal.example", serverFile]).status == 0)
        #expect(try OpenSSLTool.run(["verify", "-CAfile", ca, "-verify_ip", "2001:db8::10", serverFile]).status == 0)
        #expect(try OpenSSLTool.run(["verify", "-CAfile", ca, "-verify_hostname", "db9.example.com", serverFile]).status != 0)
    }

    @Test(arguments: KeyType.allCases)
    func extensionsAreAsDesignedPerOpenSSLText(_ type: KeyType) throws {
        let scratch = try Scratch()
        let (caFile, server, client, store) = try Self.issue(type, in: scratch)
        let caText = try OpenSSLTool.text(of: try String(contentsOfFile: caFile, encoding: .utf8), in: scratch)
        let basic = try #require(OpenSSLTool.extensionBlock("Basic Constraints", in: caText))
        #expect(basic.critical && basic.body == "CA:TRUE")
        let usage = try #require(OpenSSLTool.extensionBlock("Key Usage", in: caText))
        #expect(usage.critical && usage.body == "Certificate Sign, CRL Sign")
        let caSKI = try #require(OpenSSLTool.extensionBlock("Subject Key Identifier", in: caText)).body
        #expect(caSKI.count == 59)  // 20 octets as XX:XX:…
        #expect(caText.contains("Issuer: CN = interop-ca") && caText.contains("Subject: CN = interop-ca"))

        for (record, eku) in [(server, "TLS Web Server Authentication"), (client, "TLS Web Client Authentication")] {
            let text = try OpenSSLTool.text(of: record.certificatePEM, in: scratch)
            let leafBasic = try #require(OpenSSLTool.extensionBlock("Basic Constraints", in: text))
            #expect(leafBasic.critical && leafBasic.body == "CA:FALSE")
            let leafUsage = try #require(OpenSSLTool.extensionBlock("Key Usage", in: text))
            #expect(leafUsage.critical)
            #expect(leafUsage.body == (type.isRSA ? "Digital Signature, Key Encipherment" : "Digital Signature"))
            #expect(OpenSSLTool.extensionBlock("Extended Key Usage", in: text)?.body == eku)
            // AKI is the CA's key id and nothing else: no issuer name, no serial.
            let aki = try #require(OpenSSLTool.extensionBlock("Authority Key Identifier", in: text))
            #expect(aki.body.replacingOccurrences(of: "keyid:", with: "") == caSKI)
            #expect(!aki.body.contains("DirName") && !aki.body.contains("serial"))
            #expect(OpenSSLTool.extensionBlock("Subject Key Identifier", in: text) != nil)
            #expect(text.contains("Version: 3 (0x2)"))
            // Validity: 397 days after issuance (+-1 minute for the run), backdated 5 minutes.
            let span = record.notAfter.timeIntervalSince(record.notBefore)
            #expect(abs(span - (397 * 86_400 + 300)) < 60)
            let notAfterLine = text.components(separatedBy: "\n").first { $0.contains("Not After :") } ?? ""
            #expect(notAfterLine.contains(Self.opensslDate(record.notAfter)), "\(notAfterLine)")
        }
        let serverText = try OpenSSLTool.text(of: server.certificatePEM, in: scratch)
        #expect(OpenSSLTool.extensionBlock("Subject Alternative Name", in: serverText)?.body
                == "DNS:db1.example.com, DNS:db1.internal.example, IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:10")
        #expect(serverText.contains("Subject: CN = db1.example.com"))
        let clientText = try OpenSSLTool.text(of: client.certificatePEM, in: scratch)
        #expect(clientText.contains("Subject: OU = db1.example.com, CN = replicator"))
        #expect(OpenSSLTool.extensionBlock("Subject Alternative Name", in: clientText) == nil)
        let serial = try OpenSSLTool.run(["x509", "-noout", "-serial", "-in", try scratch.write("s.pem", server.certificatePEM)]).stdout
        #expect(serial.trimmingCharacters(in: .whitespacesAndNewlines) == "serial=\(server.serial.hex)")
        _ = store
    }

    @Test(.enabled(if: RFC5280Lint.path != nil || RFC5280Lint.required, "pkilint not installed"), arguments: KeyType.allCases)
    func certificatesPassAnRFC5280Linter(_ type: KeyType) throws {
        let scratch = try Scratch()
        let (caFile, server, client, _) = try Self.issue(type, in: scratch)
        for pem in [try String(contentsOfFile: caFile, encoding: .utf8), server.certificatePEM, client.certificatePEM] {
            let problems = try RFC5280Lint.problems(in: pem, scratch: scratch)
            #expect(problems == [], "\(type): \(problems)")
        }
    }

    /// ca seals EC and Ed25519 keys itself (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC). The result has
    /// the elements openssl pkcs8 writes for the same key and iteration count, in the same order and
    /// nesting (openssl's command line takes an 8-byte salt where ca takes 16, as it always did), and
    /// openssl opens it to the very key, for iteration counts of every INTEGER length.
    @Test(arguments: [KeyType.ecP256, .ecP384, .ed25519])
    func sealedKeysAreWhatOpenSSLWrites(_ type: KeyType) throws {
        let scratch = try Scratch()
        let key = try PrivateKey(generating: type)
        let plain = try key.pkcs8PEM(passphrase: nil)
        let plainFile = try scratch.write("plain.key", plain)
        // asn1parse's elements: depth, form and value, without offsets, lengths and the bytes that are
        // random each time (salt, IV, ciphertext); and the length of the salt.
        func layout(_ file: String) throws -> (elements: [String], salt: Int?) {
            let parsed = try OpenSSLTool.run(["asn1parse", "-in", file])
            #expect(parsed.status == 0, "\(parsed.stderr)")
            var elements: [String] = [], salt: Int?
            for line in parsed.stdout.split(separator: "\n") {
                guard let m = line.firstMatch(of: /d=(\d+)\s+hl=\d+\s+l=\s*(\d+)\s+(prim|cons):\s*(.*)/) else { continue }
                let value = String(m.4).replacing(/\[HEX DUMP\]:[0-9A-F]+/, with: "").trimmingCharacters(in: .whitespaces)
                if m.1 == "5", value == "OCTET STRING", salt == nil { salt = Int(m.2) }
                elements.append("\(m.1) \(m.3) \(value)")
            }
            return (elements, salt)
        }
        for iterations in [1, 127, 128, 2048, 65_536, PrivateKey.passphraseIterations] {
            let ours = try scratch.write("ours-\(iterations).key", try key.pkcs8PEM(passphrase: "pw \(iterations)", iterations: iterations))
            let theirs = try OpenSSLTool.run(["pkcs8", "-topk8", "-in", plainFile, "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256",
                                              "-iter", "\(iterations)", "-passout", "pass:pw \(iterations)"])
            #expect(theirs.status == 0, "\(theirs.stderr)")
            let (mine, salt) = try layout(ours)
            #expect(mine == (try layout(try scratch.write("theirs-\(iterations).key", theirs.stdout))).elements, "\(type) at \(iterations)")
            #expect(mine.count == 16 && salt == 16)
            let opened = try OpenSSLTool.run(["pkcs8", "-in", ours, "-passin", "pass:pw \(iterations)"])
            #expect(opened.status == 0, "\(opened.stderr)")
            #expect(opened.stdout == plain)
            #expect(try PrivateKey(pem: try String(contentsOfFile: ours, encoding: .utf8), passphrase: "pw \(iterations)").publicKeyFingerprint
                    == key.publicKeyFingerprint)
            #expect(try OpenSSLTool.run(["pkcs8", "-in", ours, "-passin", "pass:pw"]).status != 0)
        }
    }

    @Test func theStoredCAKeyIsUnreadableWithoutThePassphrase() throws {
        let scratch = try Scratch()
        let (_, server, _, store) = try Self.issue(.ecP256, in: scratch)
        let authority = try store.activeAuthority()
        #expect(authority.keyEncrypted)
        let keyFile = try scratch.write("ca.key", authority.keyPEM)
        #expect(try OpenSSLTool.run(["pkey", "-in", keyFile, "-passin", "pass:", "-noout"]).status != 0)
        #expect(try OpenSSLTool.run(["pkey", "-in", keyFile, "-passin", "pass:wrong", "-noout"]).status != 0)
        #expect(try OpenSSLTool.run(["pkey", "-in", keyFile, "-passin", "pass:pw-ec-p256", "-noout"]).status == 0)
        // PBES2 with PBKDF2-HMAC-SHA256 at 600,000 iterations (0x0927C0) and AES-256-CBC.
        let asn1 = try OpenSSLTool.run(["asn1parse", "-in", keyFile]).stdout
        #expect(asn1.contains(":PBES2") && asn1.contains(":PBKDF2") && asn1.contains(":hmacWithSHA256") && asn1.contains(":aes-256-cbc"))
        #expect(asn1.contains("INTEGER           :0927C0"))
        // The leaf key is encrypted too, and not under the passphrase.
        let leafFile = try scratch.write("leaf.key", try #require(server.keyPEM))
        #expect(try OpenSSLTool.run(["pkey", "-in", leafFile, "-passin", "pass:pw-ec-p256", "-noout"]).status != 0)
        // No unencrypted key anywhere in the database file.
        let raw = try Data(contentsOf: URL(fileURLWithPath: store.path))
        #expect(raw.range(of: Data("BEGIN PRIVATE KEY".utf8)) == nil)
    }

    static func opensslDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "HH:mm:ss yyyy"
        return formatter.string(from: date)
    }
}
