import Glibc

/// An IPv4 or IPv6 address, parsed by inet_pton and kept in network order.
public struct IPAddress: Hashable, Codable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(_ text: String) throws {
        var v4 = in_addr()
        var v6 = in6_addr()
        if !text.contains(":"), inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            throw CAError.invalid("invalid IP address '\(text.quotedForError)': not an IPv4 (192.0.2.10) or IPv6 (2001:db8::10) address",
                                  fix: "Give one address per --ip, without a prefix length or port.")
        }
    }

    public init(from decoder: Decoder) throws { try self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Canonical text: dotted quad or RFC 5952 IPv6.
    public var description: String { GeneralName.format(ip: bytes) }
}
