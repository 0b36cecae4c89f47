import Glibc

/// A DNS host name by RFC 1123: dot-separated labels of letters, digits and '-', none empty,
/// none starting or ending with '-', at most 63 octets each and 253 in all. Stored lowercase.
/// It is the only form of name that reaches a file path, a subject or SQL.
public struct HostName: Hashable, Codable, Sendable, CustomStringConvertible {
    public let value: String
    public var description: String { value }

    public init(_ text: String, what: String = "host name") throws {
        func reject(_ rule: String) -> CAError {
            .invalid("invalid \(what) '\(text.quotedForError)': \(rule)",
                     fix: "Use letters, digits and '-' in dot-separated labels, e.g. 'db1.example.com'.")
        }
        if text.isEmpty { throw reject("it is empty") }
        if text.utf8.count > 253 { throw reject("it is \(text.utf8.count) characters long, the limit is 253") }
        // On the UTF-8 bytes, not Characters (a split by Character cost ~10,000 instructions a name):
        // every byte allowed is ASCII, and '.' never falls inside a longer UTF-8 sequence.
        let hyphen = UInt8(ascii: "-")
        let labels = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for label in labels {
            if label.isEmpty { throw reject("it has an empty label (leading, trailing or doubled '.')") }
            if label.count > 63 { throw reject("the label '\(String(decoding: label, as: UTF8.self))' is longer than 63 characters") }
            if label.first == hyphen || label.last == hyphen { throw reject("a label starts or ends with '-'") }
            if !label.allSatisfy({ $0 == hyphen || $0.isASCIIAlphanumeric }),
               let scalar = String(decoding: label, as: UTF8.self).unicodeScalars.first(where: { !($0.isASCIIAlphanumeric || $0 == "-") }) {
                throw reject("'\(String(scalar).quotedForError)' is not allowed")
            }
        }
        // A name the resolver would read as an IPv4 address (192.0.2.1, 127.1, 0x7f000001) is not a DNS name.
        var address = in_addr()
        if labels.last.map({ $0.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } }) == true || inet_aton(text, &address) != 0 {
            throw reject("it is an IP address, not a DNS name (give addresses with --ip)")
        }
        value = text.lowercased()
    }

    public init(from decoder: Decoder) throws { try self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

extension Unicode.Scalar {
    var isASCIIAlphanumeric: Bool { isASCII && UInt8(value).isASCIIAlphanumeric }
}

extension UInt8 {
    /// An ASCII letter or digit (the byte rules of HostName and AbsolutePath).
    var isASCIIAlphanumeric: Bool {
        switch self {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: false
        }
    }
}

extension StringProtocol {
    /// For error lines outside CAKit: control characters escaped, length bounded.
    public var quotedForErrorLine: String { quotedForError }

    /// The value as it may appear inside an error line: control characters escaped, length bounded.
    var quotedForError: String {
        var out = ""
        for scalar in unicodeScalars.prefix(80) {
            if scalar.value < 0x20 || scalar.value == 0x7F { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
        }
        return unicodeScalars.count > 80 ? out + "…" : out
    }
}
