import CAKit
import Foundation
import TestSupport
import Testing

/// Hosts that make their own keys (`--keys host`): requests made by `ca request` and by `openssl req`,
/// signed against the host record and nothing else, installed beside keys that never left the host,
/// renewed and rotated with no new request. Certificates are checked with openssl and pkilint.
@Suite(.serialized, .enabled(if: InstallFixture.enabled, "needs root and the postgres user"))
struct HostKeysCommandTests {
    final class Setup {
        let scratch: Scratch
        let db: String
        let pw: String
        let root: String
        let host = "db3.keys.internal"
        var fingerprint = ""

        init(name: String = "keys-ca", directory: String = "ca") throws {
            scratch = try Scratch()
            chmod(scratch.path, 0o755)
            db = scratch.file("\(directory).sqlite3")
            pw = try scratch.write("pw", "keys passphrase\n")
            root = scratch.file("host-root")
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try ca(["init", "--name", name, "--passphrase-file", pw])
            try ca(["host", "add", host, "--dns", "replica.keys.internal", "--ip", "192.0.2.33", "--keys", "host",
                    "--data-dir", "/srv/pg/db3", "--config-dir", "/srv/pg/db3"])
            fingerprint = try CABinary.caFingerprint(db: db)
        }

        @discardableResult
        func ca(_ arguments: [String], expect status: Int32 = 0, stdin: String? = nil) throws -> ProcessResult {
            let result = try CABinary.run(arguments + ["--db", db], stdin: stdin)
            #expect(result.status == status, "ca \(arguments.joined(separator: " ")): \(result.stdout)\n\(result.stderr)")
            return result
        }

        func openssl(_ arguments: [String]) throws -> ProcessResult {
            let result = try OpenSSLTool.run(arguments)
            #expect(result.status == 0, "openssl \(arguments.joined(separator: " ")): \(result.stderr)")
            return result
        }

        /// A key and a CSR made by openssl, never by ca.
        func opensslCSR(_ name: String, subject: String, extensions: [String] = [], key: String = "ec") throws -> String {
            let keyFile = scratch.file("\(name).key")
            if !FileManager.default.fileExists(atPath: keyFile) {
                let options = key == "ec" ? ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
                    : key == "ed25519" ? ["-algorithm", "ED25519"] : ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(key)"]
                _ = try openssl(["genpkey"] + options + ["-out", keyFile])
            }
            let csr = scratch.file("\(name).csr")
            _ = try openssl(["req", "-new", "-key", keyFile, "-subj", subject, "-out", csr] + extensions.flatMap { ["-addext", $0] })
            return csr
        }

        /// What the database stores, to show that a refusal stored nothing.
        func inventory() throws -> String {
            try ca(["list", "--json"]).stdout + (try ca(["log", "--json"]).stdout)
        }

        func exportAndInstall(_ extra: [String] = []) throws -> ProcessResult {
            let bundle = scratch.file("bundle-\(UUID().uuidString).json")
            try ca(["export", host, "-o", bundle, "--passphrase-file", pw])
            let text = try String(contentsOfFile: bundle, encoding: .utf8)
            #expect(!text.contains("PRIVATE KEY") && !text.contains("key_pem"), "a bundle for a host that makes its own keys carried a key")
            return try CABinary.run(["install", "--bundle", bundle, "--root", root] + extra, environment: ["CA_DB": scratch.file("none.sqlite3")])
        }

        var hostDirectory: String { root + "/etc/ssl/ca-managed/hosts/\(host)" }
        func current(_ name: String) throws -> String { try String(contentsOfFile: hostDirectory + "/current/" + name, encoding: .utf8) }
    }

    /// The public key of a PEM key or certificate, as openssl prints it.
    static func publicKey(_ path: String, certificate: Bool) throws -> String {
        let result = try OpenSSLTool.run(certificate ? ["x509", "-in", path, "-pubkey", "-noout"] : ["pkey", "-in", path, "-pubout"])
        return result.stdout
    }

    @Test func anOpenSSLRequestIsSignedOnlyWithinTheHostRecord() throws {
        let s = try Setup()
        // Asking for fewer names than the record is fine: the certificate says what the record says.
        let server = try s.opensslCSR("server", subject: "/CN=\(s.host)", extensions: ["subjectAltName=DNS:\(s.host)"])
        func signed(_ csr: String, _ kind: String) throws -> String {
            let result = try s.ca(["sign", s.host, "--csr", csr, "--kind", kind, "--json", "--passphrase-file", s.pw])
            let issued = try #require((try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["issued"] as? [[String: Any]])
            return try #require(issued.first?["serial"] as? String)
        }
        let serials = ["server": try signed(server, "server"),
                       "client": try signed(try s.opensslCSR("client", subject: "/CN=replicator/OU=\(s.host)", key: "2048"), "client")]

        let trust = try s.scratch.write("trust.pem", try s.ca(["bundle"]).stdout)
        for (kind, key) in [("server", "server"), ("client", "client")] {
            let serial = try #require(serials[kind])
            let pem = try s.ca(["show", serial, "--pem"]).stdout
            let file = try s.scratch.write("\(kind).crt", pem)
            let verify = try OpenSSLTool.run(["verify", "-x509_strict", "-purpose", kind == "server" ? "sslserver" : "sslclient", "-CAfile", trust, file])
            #expect(verify.status == 0 && verify.stdout.contains(": OK"), "\(verify.stdout)\(verify.stderr)")
            #expect(try Self.publicKey(file, certificate: true) == (try Self.publicKey(s.scratch.file("\(key).key"), certificate: false)),
                    "the \(kind) certificate is not for the requester's key")
            if RFC5280Lint.path != nil || RFC5280Lint.required {
                #expect(try RFC5280Lint.problems(in: pem, scratch: s.scratch) == [], "\(kind)")
            }
            let text = try OpenSSLTool.text(of: pem, in: s.scratch)
            if kind == "server" {
                #expect(text.contains("DNS:\(s.host), DNS:replica.keys.internal, IP Address:192.0.2.33") && text.contains("TLS Web Server Authentication"), "\(text)")
                #expect(serial.count == 40 && !pem.contains("PRIVATE KEY"))
            } else {
                #expect(text.contains("Subject: CN = replicator, OU = \(s.host)") || text.contains("Subject: OU = \(s.host), CN = replicator"), "\(text)")
                #expect(text.contains("TLS Web Client Authentication") && !text.contains("Subject Alternative Name"))
            }
        }
        // The database holds no key for these certificates.
        let store = try CAStore.open(path: s.db)
        let records = try store.certificates(CertificateFilter(hostName: s.host))
        #expect(records.count == 2 && records.allSatisfy { $0.keyPEM == nil })

        // A request printed with its text first, or with the host's name in capitals, is the same request.
        let texty = try s.opensslCSR("texty", subject: "/CN=\(s.host)", extensions: ["subjectAltName=DNS:\(s.host.uppercased())"])
        let withText = try s.scratch.write("texty-text.csr", try s.openssl(["req", "-in", texty, "-text"]).stdout)
        #expect(try s.ca(["sign", s.host, "--csr", withText, "--kind", "server", "--passphrase-file", s.pw]).stdout.contains("names    DNS:\(s.host), DNS:replica.keys.internal"))
        let two = try s.scratch.write("two.csr", try String(contentsOfFile: texty, encoding: .utf8) + (try String(contentsOfFile: server, encoding: .utf8)))
        #expect(try s.ca(["sign", s.host, "--csr", two, "--kind", "server", "--passphrase-file", s.pw], expect: 64).stderr.contains("2 requests in one file"))

        // One-off: the names given here, never the request's.
        let oneOff = try s.opensslCSR("oneoff", subject: "/CN=api.keys.internal", extensions: ["subjectAltName=DNS:api.keys.internal"])
        let made = try s.ca(["sign", "--csr", oneOff, "--profile", "server", "--dns", "api.keys.internal", "web.keys.internal", "--passphrase-file", s.pw])
        #expect(made.stdout.contains("names    DNS:api.keys.internal, DNS:web.keys.internal"), "\(made.stdout)")
        try s.ca(["sign", "--csr", oneOff, "--profile", "server", "--dns", "other.keys.internal", "--passphrase-file", s.pw], expect: 64)
    }

    @Test func everyBadRequestIsOneLineExit64AndStoresNothing() throws {
        let s = try Setup()
        try s.ca(["host", "add", "db4.keys.internal", "--ip", "192.0.2.34", "--keys", "host", "--data-dir", "/srv/pg/db4", "--config-dir", "/srv/pg/db4"])
        try s.ca(["host", "add", "db5.ca.internal", "--ip", "192.0.2.35", "--data-dir", "/srv/pg/db5", "--config-dir", "/srv/pg/db5"])
        let good = try s.opensslCSR("good", subject: "/CN=\(s.host)")
        let der = s.scratch.file("good.der")
        _ = try s.openssl(["req", "-in", good, "-outform", "DER", "-out", der])
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: der)))
        var flipped = bytes
        flipped[flipped.count - 8] ^= 0x01
        // The same request with another key's SubjectPublicKeyInfo in it: its signature is by the first key.
        _ = try s.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", s.scratch.file("other.key")])
        let otherSPKI = s.scratch.file("other.spki")
        _ = try s.openssl(["pkey", "-in", s.scratch.file("other.key"), "-pubout", "-outform", "DER", "-out", otherSPKI])
        let goodSPKI = s.scratch.file("good.spki")
        _ = try s.openssl(["pkey", "-in", s.scratch.file("good.key"), "-pubout", "-outform", "DER", "-out", goodSPKI])
        let ours = Array(try Data(contentsOf: URL(fileURLWithPath: goodSPKI))), theirs = Array(try Data(contentsOf: URL(fileURLWithPath: otherSPKI)))
        let at = try #require((0...(bytes.count - ours.count)).first { Array(bytes[$0..<($0 + ours.count)]) == ours })
        var swapped = bytes
        swapped.replaceSubrange(at..<(at + ours.count), with: theirs)

        // An envelope from this CA's own request, for another host; and one made for another CA.
        try s.ca(["request", s.host, "--root", s.root, "-o", s.scratch.file("req.json"), "--passphrase-file", s.pw])
        let other = try Setup(name: "other-ca", directory: "other")
        try other.ca(["request", other.host, "--root", other.root, "-o", other.scratch.file("req.json"), "--passphrase-file", other.pw])

        let cases: [(String, [String])] = [
            ("more names", ["--csr", try s.opensslCSR("more", subject: "/CN=\(s.host)", extensions: ["subjectAltName=DNS:\(s.host),DNS:evil.example"]), "--kind", "server"]),
            ("an email name", ["--csr", try s.opensslCSR("mail", subject: "/CN=\(s.host)", extensions: ["subjectAltName=email:a@keys.internal"]), "--kind", "server"]),
            ("a CA flag", ["--csr", try s.opensslCSR("flag", subject: "/CN=\(s.host)", extensions: ["basicConstraints=critical,CA:TRUE"]), "--kind", "server"]),
            ("another usage", ["--csr", try s.opensslCSR("usage", subject: "/CN=\(s.host)", extensions: ["extendedKeyUsage=clientAuth,codeSigning"]), "--kind", "server"]),
            ("a signing usage", ["--csr", try s.opensslCSR("ku", subject: "/CN=\(s.host)", extensions: ["keyUsage=keyCertSign"]), "--kind", "server"]),
            ("another subject", ["--csr", try s.opensslCSR("subject", subject: "/CN=postgres/OU=\(s.host)"), "--kind", "client"]),
            ("an extra attribute", ["--csr", try s.opensslCSR("org", subject: "/O=Evil/CN=\(s.host)"), "--kind", "server"]),
            ("RSA 1024", ["--csr", try s.opensslCSR("weak", subject: "/CN=\(s.host)", key: "1024"), "--kind", "server"]),
            ("a bit flipped", ["--csr", s.scratch.file("flipped.der"), "--kind", "server"]),
            ("another key's signature", ["--csr", s.scratch.file("swapped.der"), "--kind", "server"]),
            ("truncated", ["--csr", try s.scratch.write("cut.csr", String(try String(contentsOfFile: good, encoding: .utf8).prefix(200))), "--kind", "server"]),
            ("garbage", ["--csr", try s.scratch.write("garbage.csr", "hello\n"), "--kind", "server"]),
            ("an empty file", ["--csr", try s.scratch.write("empty.csr", ""), "--kind", "server"]),
            ("an envelope as --csr", ["--csr", s.scratch.file("req.json"), "--kind", "server"]),
            ("a CSR as --request", ["--request", good]),
            ("garbage as --request", ["--request", s.scratch.file("garbage.csr")]),
            ("no --kind", ["--csr", good]),
            ("a bad --kind", ["--csr", good, "--kind", "ca"]),
            ("a host's names on a host", ["--csr", good, "--kind", "server", "--dns", "x.keys.internal"]),
            ("another CA's envelope", ["--request", other.scratch.file("req.json")]),
        ]
        // Byte-exact files the list above needs (String(decoding:) would mangle DER).
        try Data(flipped).write(to: URL(fileURLWithPath: s.scratch.file("flipped.der")))
        try Data(swapped).write(to: URL(fileURLWithPath: s.scratch.file("swapped.der")))
        let before = try s.inventory()
        for (what, arguments) in cases {
            let result = try CABinary.run(["sign", s.host] + arguments + ["--db", s.db, "--passphrase-file", s.pw])
            let lines = result.stderr.split(separator: "\n")
            #expect(result.status == 64 && lines.count == 1 && lines.first?.hasPrefix("error: ") == true && result.stdout.isEmpty,
                    "\(what): exit \(result.status): \(result.stderr)\(result.stdout)")
        }
        // The envelope of db3 offered as db4's; a request for a host whose keys the CA makes; a one-off without names.
        for (what, arguments) in [("the wrong host", ["sign", "db4.keys.internal", "--request", s.scratch.file("req.json")]),
                                  ("a ca-keys host", ["sign", "db5.ca.internal", "--csr", good, "--kind", "server"]),
                                  ("a one-off without --dns", ["sign", "--csr", good, "--profile", "server"]),
                                  ("a one-off client without --role", ["sign", "--csr", good, "--profile", "client"]),
                                  ("issue for a host-keys host", ["issue", s.host])] {
            let result = try CABinary.run(arguments + ["--db", s.db, "--passphrase-file", s.pw])
            #expect(result.status == 64 && result.stderr.split(separator: "\n").count == 1, "\(what): exit \(result.status): \(result.stderr)")
        }
        #expect(try s.inventory() == before, "a refused request changed the database")
        let refusal = try CABinary.run(["sign", s.host, "--request", other.scratch.file("req.json"), "--db", s.db, "--passphrase-file", s.pw]).stderr
        #expect(refusal.contains("made for another CA ('other-ca'"), "\(refusal)")
        let wrong = try CABinary.run(["sign", "db4.keys.internal", "--request", s.scratch.file("req.json"), "--db", s.db, "--passphrase-file", s.pw]).stderr
        #expect(wrong.contains("is for host '\(s.host)', not 'db4.keys.internal'"), "\(wrong)")
    }

    @Test func keysMadeOnTheHostStayThereThroughRenewalAndRotation() throws {
        let s = try Setup()
        // The host's record, from a bundle checked against the pinned CA.
        let template = s.scratch.file("template.json")
        try s.ca(["export", s.host, "-o", template, "--passphrase-file", s.pw])
        let unpinned = try CABinary.run(["request", "--bundle", template, "--root", s.root])
        #expect(unpinned.status == 64 && unpinned.stderr.contains("trusts no CA named 'keys-ca'"), "\(unpinned.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.root + "/etc"), "a refused request wrote on the host")
        let request = try CABinary.run(["request", "--bundle", "-", "--root", s.root, "--ca-fingerprint", s.fingerprint],
                                       stdin: try String(contentsOfFile: template, encoding: .utf8))
        #expect(request.status == 0 && request.stdout.contains("\"format\" : \"ca-host-request/1\"") && !request.stdout.contains("PRIVATE KEY"), "\(request.stderr)")
        // The keys wait beside their future certificates, with the owner and mode install gives them.
        let server = try #require(InstallFixture.attributes(s.hostDirectory + "/pending/server.key"))
        let client = try #require(InstallFixture.attributes(s.hostDirectory + "/pending/replication.key"))
        #expect(server.owner == "root" && server.group == "ssl-cert" && server.mode == 0o640, "\(server)")
        #expect(client.owner == "postgres" && client.mode == 0o600, "\(client)")
        #expect(InstallFixture.attributes(s.hostDirectory + "/pending")?.mode == 0o700)
        let pendingServer = try String(contentsOfFile: s.hostDirectory + "/pending/server.key", encoding: .utf8)
        // Asking again reuses the keys; the requests are for the same public keys.
        let again = try CABinary.run(["request", "--bundle", template, "--root", s.root, "--ca-fingerprint", s.fingerprint])
        #expect(again.status == 0 && again.stderr.contains("request is for the key at") && !again.stderr.contains("made a new"), "\(again.stderr)")
        #expect(try String(contentsOfFile: s.hostDirectory + "/pending/server.key", encoding: .utf8) == pendingServer)

        // Before the CA signs, an install has nothing to install; after, it pairs the certificates with those keys.
        let early = try s.exportAndInstall(["--ca-fingerprint", s.fingerprint])
        #expect(early.status == 64 && early.stderr.contains("no server certificate yet"), "\(early.stderr)")
        let envelope = try s.scratch.write("req.json", again.stdout)
        try s.ca(["sign", s.host, "--request", envelope, "--passphrase-file", s.pw])
        let installed = try s.exportAndInstall(["--ca-fingerprint", s.fingerprint])
        #expect(installed.status == 0, "\(installed.stderr)")
        #expect(try s.current("server.key") == pendingServer && !FileManager.default.fileExists(atPath: s.hostDirectory + "/pending"))
        #expect(InstallFixture.attributes(s.hostDirectory + "/current/server.key").map { $0.group == "ssl-cert" && $0.mode == 0o640 } == true)
        let trust = s.root + "/etc/ssl/certs/keys-ca.crt"
        func verified() throws -> Bool {
            try ["server.crt", "replication.crt"].allSatisfy { name in
                let result = try OpenSSLTool.run(["verify", "-x509_strict", "-CAfile", trust, s.hostDirectory + "/current/" + name])
                return result.status == 0
            } && Self.publicKey(s.hostDirectory + "/current/server.crt", certificate: true) == Self.publicKey(s.hostDirectory + "/current/server.key", certificate: false)
              && Self.publicKey(s.hostDirectory + "/current/replication.crt", certificate: true) == Self.publicKey(s.hostDirectory + "/current/replication.key", certificate: false)
        }
        #expect(try verified())

        // A certificate whose key is not on the host is refused, and nothing changes there.
        let stray = try s.opensslCSR("stray", subject: "/CN=\(s.host)")
        try s.ca(["sign", s.host, "--csr", stray, "--kind", "server", "--passphrase-file", s.pw])
        let certificateBefore = try s.current("server.crt")
        let refused = try s.exportAndInstall()
        #expect(refused.status == 64 && refused.stderr.contains("is not on this host"), "\(refused.stderr)")
        #expect(try s.current("server.crt") == certificateBefore)
        try s.ca(["sign", s.host, "--request", envelope, "--passphrase-file", s.pw])

        // Renewal with the same keys, and a full CA rotation: re-signed here, no request, keys unchanged there.
        let keys = (try s.current("server.key"), try s.current("replication.key"))
        try s.ca(["renew", "--within", "500d", "--keep-key", "--passphrase-file", s.pw])
        #expect(try s.exportAndInstall().status == 0)
        for step in [["rotate", "start"], ["rotate", "reissue"], ["rotate", "finish"]] {
            try s.ca(step + (step[1] == "finish" ? [] : ["--passphrase-file", s.pw]))
            let result = try s.exportAndInstall()
            #expect(result.status == 0, "\(step): \(result.stderr)")
            #expect(try verified(), "after \(step)")
        }
        #expect(try s.current("server.key") == keys.0 && s.current("replication.key") == keys.1)

        // A renewal with new keys waits for the host: its next request makes them, beside the installed ones.
        let renew = try s.ca(["renew", "--within", "500d", "--passphrase-file", s.pw])
        #expect(renew.stdout.contains("1 host(s) wait for new keys") && renew.stderr.contains("makes its own keys"), "\(renew.stdout)\(renew.stderr)")
        #expect(try s.ca(["status"]).stdout.contains("new keys"), "status does not say the host waits for new keys")
        let fresh = try CABinary.run(["request", s.host, "--new-key", "--root", s.root, "--db", s.db, "--passphrase-file", s.pw])
        #expect(fresh.status == 0 && fresh.stderr.contains("made a new server key"), "\(fresh.stderr)")
        #expect(try s.current("server.key") == keys.0, "a new key replaced the one the running server uses before its certificate came")
        try s.ca(["sign", s.host, "--request", try s.scratch.write("fresh.json", fresh.stdout), "--passphrase-file", s.pw])
        #expect(try s.exportAndInstall().status == 0)
        #expect(try s.current("server.key") != keys.0 && s.current("replication.key") != keys.1 && verified())
        #expect(!(try s.ca(["status"]).stdout.contains("new keys")))

        // Revocation works the same: the host's server certificate on the CRL installed beside it.
        let revokedSerial = try #require(try CAStore.open(path: s.db).certificates(CertificateFilter(hostName: s.host, kind: .server, status: .active)).last?.serial.hex)
        try s.ca(["revoke", s.host, "--kind", "server", "--reason", "keyCompromise", "--passphrase-file", s.pw])
        #expect(try s.ca(["status"]).stdout.contains("next: deploy: keys to be made there"), "a revoked host-keys host needs a new request")
        let crl = try s.scratch.write("revoked.crl", try s.ca(["crl", "--passphrase-file", s.pw]).stdout)
        let crlText = try OpenSSLTool.run(["crl", "-in", crl, "-noout", "-text"]).stdout
        #expect(crlText.contains("Serial Number: \(revokedSerial)"), "\(crlText)")
        let refusedByCRL = try OpenSSLTool.run(["verify", "-crl_check", "-CAfile", trust, "-CRLfile", crl, s.hostDirectory + "/current/server.crt"])
        #expect(refusedByCRL.status != 0 && refusedByCRL.stdout.contains("revoked") || refusedByCRL.stderr.contains("revoked"), "\(refusedByCRL.stdout)\(refusedByCRL.stderr)")

        // A bundle that carries keys (a host whose keys the CA makes) is no input for request.
        try s.ca(["host", "add", "db6.ca.internal", "--ip", "192.0.2.36", "--data-dir", "/srv/pg/db6", "--config-dir", "/srv/pg/db6"])
        try s.ca(["issue", "db6.ca.internal", "--passphrase-file", s.pw])
        let keyed = s.scratch.file("db6.json")
        try s.ca(["export", "db6.ca.internal", "-o", keyed, "--plain-keys", "--passphrase-file", s.pw])
        let notOurs = try CABinary.run(["request", "--bundle", keyed, "--root", s.root])
        #expect(notOurs.status == 64 && notOurs.stderr.contains("keeps its keys in the CA") || notOurs.stderr.contains("carries the host's keys"), "\(notOurs.stderr)")

        // The database file itself: the only private keys in it are the CA's (the old root and the new) and db6's two.
        _ = try ProcessResult.run("/usr/bin/sqlite3", [s.db, "PRAGMA wal_checkpoint(TRUNCATE);"])
        let file = String(decoding: try Data(contentsOf: URL(fileURLWithPath: s.db)), as: UTF8.self)
        #expect(file.components(separatedBy: "-----BEGIN ENCRYPTED PRIVATE KEY-----").count - 1 == 4, "the database holds more private keys than its two roots and db6's pair")
        #expect(!file.contains("-----BEGIN PRIVATE KEY-----"))
        let stored = try CAStore.open(path: s.db).certificates(CertificateFilter(hostName: s.host))
        #expect(stored.count >= 8 && stored.allSatisfy { $0.keyPEM == nil })
    }
}
