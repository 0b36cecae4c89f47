import CAKit
import Foundation
import TestSupport
import Testing

/// The pieces of Foundation ca replaced when it moved to FoundationEssentials, checked against
/// Foundation itself (the tests still link it) on generated inputs.
@Suite struct EssentialsTests {
    /// Paths built from the pieces that make NSString's rules differ: slashes, dots, spaces.
    static func paths(count: Int, seed: UInt64) -> [String] {
        var random = SeededGenerator(seed: seed)
        let pieces = ["/", "//", "a", "b.c", "..", ".", " ", "etc", "ssl", "ünï"]
        var out = ["", "/", "//", "a", "/a", "a/", "/a/", "a/b", "/a/b/", "//a//b//", "./a", "../b"]
        while out.count < count {
            out.append((0..<Int.random(in: 1...6, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined())
        }
        return out
    }

    /// NSString's rules, by components (NSString itself cannot be the oracle: Swift 6.3's Foundation
    /// traps inside deletingLastPathComponent on some short paths, "a//" among them).
    static func reference(_ path: String) -> (parent: String, last: String) {
        let absolute = path.hasPrefix("/")
        let parts = path.split(separator: "/").map(String.init)
        guard let last = parts.last else { return (absolute ? "/" : "", absolute ? "/" : "") }
        let rest = parts.dropLast().joined(separator: "/")
        return (absolute ? "/" + rest : rest, last)
    }

    @Test func pathPartsFollowNSStringsRules() {
        for path in Self.paths(count: 3000, seed: 5151) where !path.contains("//") {
            let expected = Self.reference(path)
            #expect(Path.parent(path) == expected.parent, "parent of '\(path)'")
            #expect(Path.lastComponent(path) == expected.last, "last component of '\(path)'")
        }
    }

    @Test func doubledSlashes() {
        let table: [(String, String, String)] = [("//", "/", "/"), ("///", "/", "/"), ("a//", "", "a"), ("//a", "/", "a"),
                                                  ("/a//b//", "/a", "b"), ("a//b", "a", "b"), ("/var/lib/ca//", "/var/lib", "ca")]
        for (path, parent, last) in table {
            #expect(Path.parent(path) == parent, "parent of '\(path)'")
            #expect(Path.lastComponent(path) == last, "last component of '\(path)'")
        }
    }

    /// Date.iso8601 (written byte by byte, for `ca list`'s every row) is what Foundation's
    /// ISO8601DateFormatter writes, from 1583 to 9999 and at the edges of each field. (Before the
    /// Gregorian reform Foundation counts Julian days; ISO 8601 and gmtime, as ca, stay Gregorian.)
    @Test func iso8601IsFoundations() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        var random = SeededGenerator(seed: 0x1508601)
        let gregorian: Int64 = -12_212_553_600  // 1583-01-01
        var instants: [Double] = [Double(gregorian), 253_402_300_799, 0, -1, 946_684_799, 946_684_800, 951_782_400, 1_800_000_000.999]
        for _ in 0..<5000 { instants.append(Double(Int64.random(in: gregorian...253_402_300_799, using: &random))) }
        for seconds in instants {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(date.iso8601 == formatter.string(from: date), "\(seconds)")
        }
    }

    @Test func trimmingIsFoundations() {
        var random = SeededGenerator(seed: 5152)
        let pieces = [" ", "\t", "\n", "\r\n", "x", "y z", "\u{00A0}", "\u{2003}", "é", "'"]
        for _ in 0..<3000 {
            let text = (0..<Int.random(in: 0...7, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            #expect(text.trimmed == text.trimmingCharacters(in: .whitespacesAndNewlines), "'\(text.debugDescription)'")
            #expect(text.trimmedSpaces == text.trimmingCharacters(in: CharacterSet(charactersIn: " \t")), "'\(text.debugDescription)'")
            #expect(text.trimming { $0 == "'" } == text.trimmingCharacters(in: CharacterSet(charactersIn: "'")), "'\(text.debugDescription)'")
        }
    }

    @Test func numbersAreWrittenAsPrintfWrites() {
        var random = SeededGenerator(seed: 5153)
        for _ in 0..<3000 {
            let bytes = (0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(bytes.hexString.lowercased() == bytes.map { String(format: "%02x", Int($0)) }.joined())
            // Away from a tie (where printf rounds the binary value to even), one decimal as %.1f.
            let value = Double.random(in: -100_000...100_000, using: &random)
            let tenths = abs(value * 10)
            if abs(tenths - tenths.rounded(.down) - 0.5) > 1e-6 {
                #expect(value.fixed(1) == String(format: "%.1f", value), "\(value)")
            }
            #expect("ab".padded(to: 5) == "ab   ")
        }
        #expect(0.0.fixed(1) == "0.0")
        #expect((-0.04).fixed(1) == "0.0")
        #expect(12.96.fixed(1) == "13.0")
        #expect(3.14159.fixed(3) == "3.142")
        #expect(7.6.fixed(0) == "8")
        #expect("abcdef".padded(to: 3) == "abcdef")
    }

    @Test func fileErrorsSayWhereAndWhy() throws {
        let scratch = try Scratch()
        let missing = scratch.file("none/deeper")
        do {
            _ = try FileManager.default.attributesOfItem(atPath: missing)
            Issue.record("no error for a missing file")
        } catch {
            #expect(error.message.contains("No such file or directory"), "\(error.message)")
            #expect(error.message.contains(missing), "\(error.message)")
        }
        #expect(CAError.unknownHost("db9").message == CAError.unknownHost("db9").errorDescription)
    }

    /// The launcher and its libraries import FoundationEssentials only: one `import Foundation`
    /// links all of it back (ICU included) and costs every start ~1.5 ms. ca-bench and the tests may.
    @Test func theShippedModulesDoNotImportFoundation() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
        var offenders: [String] = []
        var checked = 0
        for module in ["ca", "CAKit", "CACrypto"] {
            let root = sources.appendingPathComponent(module)
            let files = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
            for file in files {
                checked += 1
                let text = try String(contentsOfFile: root.appendingPathComponent(file).path, encoding: .utf8)
                // `import Foundation`, `@preconcurrency import Foundation`, `import struct Foundation.Date`…
                let imports = text.split(separator: "\n").contains { line in
                    let words = line.split(separator: " ").map(String.init)
                    guard let at = words.firstIndex(of: "import") else { return false }
                    return words[(at + 1)...].contains { $0 == "Foundation" || $0.hasPrefix("Foundation.") }
                }
                if imports {
                    offenders.append("\(module)/\(file)")
                }
            }
        }
        #expect(checked > 80)
        #expect(offenders.isEmpty, "import Foundation in \(offenders)")
    }
}
