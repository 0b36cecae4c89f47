import CAKit
import Foundation
import TestSupport
import Testing

/// Every name is validated before it reaches a path, a subject or SQL; each rejection says why.
@Suite struct ValidationTests {
    @Test(arguments: ["db1", "db1.example.com", "DB2.Example.COM", "a", "x-1.y-2", String(repeating: "a", count: 63)])
    func acceptsHostNames(_ name: String) throws {
        #expect(try HostName(name).value == name.lowercased())
    }

    @Test(arguments: [
        ("", "empty"), ("a/b", "'/'"), ("..", "empty label"), ("a..b", "empty label"), ("db 1", "' '"),
        ("-db1", "starts or ends with '-'"), ("db1-", "starts or ends with '-'"), (".db1", "empty label"), ("db1.", "empty label"),
        (String(repeating: "a", count: 64), "longer than 63"), (Array(repeating: "abcdefghi", count: 26).joined(separator: "."), "limit is 253"),
        ("db1;rm", "';'"), ("db_1", "'_'"), ("bücher", "'ü'"), ("a\nb", "\\u{a}"),
    ])
    func rejectsHostNames(_ name: String, _ reason: String) {
        do {
            _ = try HostName(name)
            Issue.record("accepted \(name.debugDescription)")
        } catch let error as CAError {
            #expect(error.exitCode == 64)
            #expect(error.localizedDescription.contains(reason), "\(error.localizedDescription)")
            #expect(!error.localizedDescription.contains("\n"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func ipAddressesParseAndNormalise() throws {
        #expect(try IPAddress("192.0.2.10").description == "192.0.2.10")
        #expect(try IPAddress("2001:DB8:0:0::1").description == "2001:db8::1")
        #expect(try IPAddress("::1").bytes.count == 16)
        for bad in ["300.1.1.1", "1.2.3", "10.0.0.1/32", "", "::g", "1.2.3.4:5432", " 1.2.3.4"] {
            #expect(throws: CAError.self, "\(bad)") { try IPAddress(bad) }
        }
    }

    @Test func rolesAndUsers() throws {
        #expect(try Identifier.role("replicator") == "replicator")
        #expect(try Identifier.role("_repl2") == "_repl2")
        for bad in ["", "Replicator", "repl-1", "1repl", "repl icator", "a\"b", String(repeating: "r", count: 64)] {
            #expect(throws: CAError.self, "\(bad)") { try Identifier.role(bad) }
        }
        #expect(try Identifier.osUser("postgres") == "postgres")
        #expect(throws: CAError.self) { try Identifier.osUser("../etc") }
    }

    @Test func pathsVersionsNamesAndDurations() throws {
        #expect(try AbsolutePath("/var/lib/postgresql/15/main/", what: "d").value == "/var/lib/postgresql/15/main")
        for bad in ["relative/dir", "/a/../b", "/a/./b", "/a b", "/a'b", "/a\nb", ""] {
            #expect(throws: CAError.self, "\(bad)") { try AbsolutePath(bad, what: "data directory") }
        }
        #expect(try PostgresVersion("9.1").description == "9.1")
        #expect(try PostgresVersion("17").description == "17")
        #expect(try PostgresVersion("18").description == "18")
        #expect(try PostgresVersion("19").description == "19")
        #expect(try PostgresVersion("9.6") < PostgresVersion("10"))
        for bad in ["9.0", "9.7", "8.4", "20", "10.1", "18.1", "0", "-1", "nine", "", "15.", ".15"] {
            #expect(throws: CAError.self, "\(bad)") { try PostgresVersion(bad) }
        }
        #expect(try CAName.validate("acme-ca.v2") == "acme-ca.v2")
        for bad in ["", "-ca", ".ca", "a/b", "a b", String(repeating: "c", count: 65)] {
            #expect(throws: CAError.self, "\(bad)") { try CAName.validate(bad) }
        }
        #expect(try Window("30d").seconds == 30 * 86_400)
        #expect(try Window("12h").seconds == 12 * 3600)
        #expect(try Window("2w").seconds == 14 * 86_400)
        #expect(try Window("7").seconds == 7 * 86_400)
        for bad in ["", "d", "-1d", "3y", "1.5d"] {
            #expect(throws: CAError.self, "\(bad)") { try Window(bad) }
        }
    }

    @Test func daysAreBoundedByTheIssuer() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let key = try PrivateKey(generating: .ecP256)
        let ca = try Certificate.sign(Profile.root(name: "c").template(serial: SerialNumber.random(), validity: Validity.root(now: now, days: 100)),
                                      subjectKey: key, issuer: nil)
        #expect(throws: CAError.self) { try Validity.leaf(now: now, days: 0, issuer: ca) }
        #expect(throws: CAError.self) { try Validity.leaf(now: now, days: -3, issuer: ca) }
        #expect(throws: CAError.self) { try Validity.leaf(now: now, days: 101, issuer: ca) }
        let capped = try Validity.leaf(now: now, days: nil, issuer: ca)
        #expect(capped.cappedToIssuer)
        #expect(capped.notAfter == ca.notAfter)
        let fine = try Validity.leaf(now: now, days: 30, issuer: ca)
        #expect(!fine.cappedToIssuer)
        #expect(fine.notBefore >= ca.notBefore)
        #expect(throws: CAError.self) { try Validity.leaf(now: now.addingTimeInterval(200 * 86_400), days: 1, issuer: ca) }
    }

    /// HostName and AbsolutePath read UTF-8 bytes (a split by Character cost more than the rest of
    /// reading a host). On generated strings they accept exactly what the Character-based rules
    /// they replaced accepted, with the same stored value.
    @Test func byteRulesAgreeWithTheCharacterRules() {
        func alphanumeric(_ s: Unicode.Scalar) -> Bool { ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s) }
        func referenceHostName(_ text: String) -> String? {
            guard !text.isEmpty, text.utf8.count <= 253 else { return nil }
            let labels = text.split(separator: ".", omittingEmptySubsequences: false)
            for label in labels {
                if label.isEmpty || label.utf8.count > 63 || label.first == "-" || label.last == "-" { return nil }
                if label.unicodeScalars.contains(where: { !(alphanumeric($0) || $0 == "-") }) { return nil }
            }
            var address = in_addr()
            if labels.last.map({ $0.allSatisfy(\.isNumber) }) == true || inet_aton(text, &address) != 0 { return nil }
            return text.lowercased()
        }
        func referencePath(_ text: String) -> String? {
            guard text.hasPrefix("/"), text.utf8.count <= 1024 else { return nil }
            if text.unicodeScalars.contains(where: { !(alphanumeric($0) || "/._-+@:,=".unicodeScalars.contains($0)) }) { return nil }
            let parts = text.split(separator: "/")
            if parts.contains(where: { $0 == "." || $0 == ".." }) { return nil }
            return parts.isEmpty ? "/" : "/" + parts.joined(separator: "/")
        }
        let pieces = ["a", "Z", "db", "0", "9", "255", "0x7f", "-", ".", "..", "/", "//", "_", "+", "@", ":", ",", "=", " ", "ü", "e\u{301}",
                      "-\u{301}", ".\u{301}", "/\u{301}", "\n", "\u{0}", "ǅ", "K", String(repeating: "x", count: 63)]
        var random = SeededGenerator(seed: 0xB17E5)
        var accepted = (names: 0, paths: 0)
        for trial in 0..<6000 {
            // Mostly pieces a valid name or path is made of, so both rules accept often enough.
            let friendly = trial % 2 == 1 ? ["a", "Z", "db", "9", "-", "/", "_", "."] : ["a", "Z", "db", "9", "255", "-", "."]
            var text = (0..<Int.random(in: 0...8, using: &random)).map { _ in
                (Int.random(in: 0..<10, using: &random) < 8 ? friendly : pieces).randomElement(using: &random)!
            }.joined()
            if trial % 2 == 1 { text = "/" + text }
            let name = try? HostName(text)
            #expect(name?.value == referenceHostName(text), "\(text.debugDescription)")
            let path = try? AbsolutePath(text, what: "path")
            #expect(path?.value == referencePath(text), "\(text.debugDescription)")
            accepted.names += name == nil ? 0 : 1
            accepted.paths += path == nil ? 0 : 1
        }
        // Both sides of each rule were reached.
        #expect(accepted.names > 200 && accepted.names < 5800)
        #expect(accepted.paths > 200 && accepted.paths < 2900)
    }
}
