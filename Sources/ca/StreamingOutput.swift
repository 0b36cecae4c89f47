import CAKit
import FoundationEssentials
import Glibc

/// Standard output through a 64 KiB buffer, written with write(2): a listing of 100,000 rows is a
/// few hundred system calls, and nothing is held but the buffer.
final class BufferedOutput {
    private var buffer: [UInt8] = []
    private static let limit = 1 << 16

    init() {
        fflush(nil)  // whatever print() wrote first goes first
        buffer.reserveCapacity(Self.limit + 4096)
    }

    func put(_ bytes: StaticString) {
        bytes.withUTF8Buffer { buffer.append(contentsOf: $0) }
    }

    func append(byte: UInt8) { buffer.append(byte) }
    func append<S: Sequence>(contentsOf bytes: S) where S.Element == UInt8 { buffer.append(contentsOf: bytes) }
    func spaces(_ count: Int) { if count > 0 { buffer.append(contentsOf: repeatElement(UInt8(ascii: " "), count: count)) } }

    func flushIfFull() throws { if buffer.count >= Self.limit { try flush() } }

    func flush() throws {
        var done = 0
        while done < buffer.count {
            let n = buffer[done...].withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CAError.io("cannot write to standard output: \(String(cString: strerror(errno)))")
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// `list --json` written as the rows arrive, byte for byte what `Output.json` (JSONEncoder: pretty,
/// sorted snake_case keys, ISO 8601 dates, slashes unescaped) makes of `[CertificateJSON]`, which at
/// 100,000 rows took seconds and a quarter of a gigabyte. CACommandTests checks the bytes against
/// JSONEncoder.
struct CertificateJSONStream {
    private let out: BufferedOutput
    private let now: Date
    private var count = 0

    init(_ out: BufferedOutput, now: Date) {
        self.out = out
        self.now = now
        out.put("[\n")
    }

    mutating func append(_ c: CertificateListing) throws {
        if count > 0 { out.put(",\n") }
        out.put("  {\n")
        count += 1
        out.put("    \"authority_id\" : "); out.append(contentsOf: String(c.authorityID).utf8)
        out.put(",\n    \"expired\" : "); if c.isExpired(at: now) { out.put("true") } else { out.put("false") }
        out.put(",\n    \"fingerprint_sha256\" : "); string(c.fingerprint)
        if let host = c.hostName { out.put(",\n    \"host\" : "); string(host) }
        out.put(",\n    \"key_type\" : "); string(c.keyType.rawValue)
        out.put(",\n    \"kind\" : "); string(c.kind.rawValue)
        out.put(",\n    \"names\" : [\n")
        let names = c.names
        if names.isEmpty { out.put("\n") }
        for (i, name) in names.enumerated() {
            out.put("      "); string(name); if i < names.count - 1 { out.put(",") }; out.put("\n")
        }
        out.put("    ],\n    \"not_after\" : "); date(c.notAfter)
        out.put(",\n    \"not_before\" : "); date(c.notBefore)
        out.put(",\n    \"serial\" : "); string(c.serial)
        out.put(",\n    \"status\" : "); string(c.status.rawValue)
        out.put(",\n    \"subject\" : "); string(c.subject)
        out.put("\n  }")
        try out.flushIfFull()
    }

    func finish() throws {
        out.put("\n]\n")
        try out.flush()
    }

    /// JSONEncoder's escaping: quote, backslash and C0 controls (\b \t \n \f \r, else \u00xx in
    /// lowercase hex); everything else, '/' and non-ASCII included, as it is.
    private func string(_ text: String) {
        out.append(byte: UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.put("\\\"")
            case UInt8(ascii: "\\"): out.put("\\\\")
            case 0x08: out.put("\\b")
            case 0x09: out.put("\\t")
            case 0x0A: out.put("\\n")
            case 0x0C: out.put("\\f")
            case 0x0D: out.put("\\r")
            case 0x00..<0x20:
                out.put("\\u00")
                out.append(byte: Self.hex[Int(byte >> 4)])
                out.append(byte: Self.hex[Int(byte & 0xF)])
            default: out.append(byte: byte)
            }
        }
        out.append(byte: UInt8(ascii: "\""))
    }
    private static let hex = Array("0123456789abcdef".utf8)

    /// "2026-12-04T10:21:19Z", computed from the Unix seconds (days-to-civil, proleptic Gregorian).
    /// Before the Gregorian reform JSONEncoder's ISO 8601 style may count otherwise; those dates
    /// (only a damaged row holds one) go through it so the bytes still match.
    private func date(_ value: Date) {
        let seconds = Int64(value.timeIntervalSince1970.rounded(.down))
        guard seconds >= -12_219_292_800 else {  // 1582-10-15
            return string(Date.ISO8601FormatStyle().format(value))
        }
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = seconds - days * 86_400
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        out.append(byte: UInt8(ascii: "\""))
        digits(year, 4); out.append(byte: UInt8(ascii: "-")); digits(month, 2); out.append(byte: UInt8(ascii: "-")); digits(day, 2)
        out.append(byte: UInt8(ascii: "T")); digits(rest / 3600, 2); out.append(byte: UInt8(ascii: ":"))
        digits(rest / 60 % 60, 2); out.append(byte: UInt8(ascii: ":")); digits(rest % 60, 2)
        out.put("Z\"")
    }

    /// `value` (0 ≤ value < 10^width) in `width` decimal digits, zero-padded.
    private func digits(_ value: Int64, _ width: Int) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        while divisor > 0 {
            out.append(byte: UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }
}
