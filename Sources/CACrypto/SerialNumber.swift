/// A certificate serial number: 20 octets, positive, random (RFC 5280 §4.1.2.2, CA/B 64-bit entropy).
public struct SerialNumber: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// A fresh serial: 158 random bits, the top bit clear (positive) and the next one set, so the
    /// DER encoding is always exactly 20 octets.
    public static func random() throws -> SerialNumber {
        var bytes = try SecureRandom.bytes(20)
        bytes[0] = (bytes[0] & 0x3F) | 0x40
        return SerialNumber(bytes: bytes)
    }

    public init?(hex: String) {
        guard let bytes = [UInt8](hex: hex) else { return nil }
        let significant = Array(bytes.drop { $0 == 0 })
        self.bytes = significant.isEmpty ? [0] : significant
    }

    /// Uppercase hex, as `openssl x509 -serial` prints it.
    public var hex: String { bytes.hexString }
    public var description: String { hex }

    public static func < (a: SerialNumber, b: SerialNumber) -> Bool { a.hex < b.hex }
}
