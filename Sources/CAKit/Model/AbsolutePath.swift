/// An absolute directory path that is safe to write into a config file and to join with a
/// file name: '/' first, no '.' or '..' component, no quote, whitespace or control character.
public struct AbsolutePath: Hashable, Codable, Sendable, CustomStringConvertible {
    public let value: String
    public var description: String { value }

    public init(_ text: String, what: String) throws {
        let fix = "Give an absolute path such as '/var/lib/postgresql/15/main'."
        guard text.hasPrefix("/") else { throw CAError.invalid("invalid \(what) '\(text.quotedForError)': not an absolute path", fix: fix) }
        guard text.utf8.count <= 1024 else { throw CAError.invalid("invalid \(what): longer than 1024 characters", fix: fix) }
        // On the UTF-8 bytes: every character allowed is ASCII, and String's split by Character cost
        // about 20,000 instructions a path (reading a thousand hosts spent a third of its time here).
        if !text.utf8.allSatisfy(Self.allowed), let scalar = text.unicodeScalars.first(where: { !($0.isASCII && Self.allowed(UInt8($0.value))) }) {
            throw CAError.invalid("invalid \(what) '\(text.quotedForError)': '\(String(scalar).quotedForError)' is not allowed in a path ca writes to config files", fix: fix)
        }
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        let parts = text.utf8.split(separator: slash)
        if parts.contains(where: { $0.count <= 2 && $0.allSatisfy { $0 == dot } }) {
            throw CAError.invalid("invalid \(what) '\(text.quotedForError)': '.' and '..' components are not allowed", fix: fix)
        }
        // One '/' before each component and none after: already in its shortest form.
        let canonical = !parts.isEmpty && text.utf8.count(where: { $0 == slash }) == parts.count
        value = canonical ? text : "/" + parts.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
    }

    private static func allowed(_ byte: UInt8) -> Bool {
        if byte.isASCIIAlphanumeric { return true }
        switch byte {
        case UInt8(ascii: "/"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "+"),
             UInt8(ascii: "@"), UInt8(ascii: ":"), UInt8(ascii: ","), UInt8(ascii: "="): return true
        default: return false
        }
    }

    public init(from decoder: Decoder) throws { try self.init(try decoder.singleValueContainer().decode(String.self), what: "path") }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    /// This path under `root` ("" for none): `--root` is a prefix, so link targets include it.
    public func under(_ root: String) -> String { root.isEmpty ? value : root + value }
}
