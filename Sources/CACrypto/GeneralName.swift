/// A subjectAltName entry, built from typed values (never a "DNS:…,IP:…" config string).
public enum GeneralName: Hashable, Codable, Sendable, CustomStringConvertible {
    case dnsName(String)
    /// 4 octets (IPv4) or 16 octets (IPv6), in network order.
    case ipAddress([UInt8])

    public var description: String {
        switch self {
        case .dnsName(let name): return "DNS:\(name)"
        case .ipAddress(let bytes): return "IP:\(GeneralName.format(ip: bytes))"
        }
    }

    /// The bare value: the name or the textual address.
    public var value: String {
        switch self {
        case .dnsName(let name): return name
        case .ipAddress(let bytes): return GeneralName.format(ip: bytes)
        }
    }

    /// Textual form: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run compressed).
    public static func format(ip bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        guard bytes.count == 16 else { return bytes.hexString }
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        var bestStart = -1, bestLength = 0, start = -1
        for (i, group) in groups.enumerated() {
            if group == 0 {
                if start < 0 { start = i }
                if i - start + 1 > bestLength { bestStart = start; bestLength = i - start + 1 }
            } else {
                start = -1
            }
        }
        let text = groups.map { String($0, radix: 16) }
        if bestLength < 2 { return text.joined(separator: ":") }
        let head = text[..<bestStart].joined(separator: ":")
        let tail = text[(bestStart + bestLength)...].joined(separator: ":")
        return head + "::" + tail
    }
}
