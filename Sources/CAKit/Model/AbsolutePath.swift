/// An absolute directory path that is safe to write into a config file and to join with a
/// file name: '/' first, no '.' or '..' component, no quote, whitespace or control character.
public struct AbsolutePath: Hashable, Codable, Sendable, CustomStringConvertible {
    public let value: String
    public var description: String { value }

    public init(_ text: String, what: String) throws {
        let fix = "Give an absolute path such as '/var/lib/postgresql/15/main'."
        guard text.hasPrefix("/") else { throw CAError.invalid("invalid \(what) '\(text.quotedForError)': not an absolute path", fix: fix) }
        guard text.utf8.count <= 1024 else { throw CAError.invalid("invalid \(what): longer than 1024 characters", fix: fix) }
        for scalar in text.unicodeScalars {
            let allowed = scalar.isASCIIAlphanumeric || "/._-+@:,=".unicodeScalars.contains(scalar)
            if !allowed {
                throw CAError.invalid("invalid \(what) '\(text.quotedForError)': '\(String(scalar).quotedForError)' is not allowed in a path ca writes to config files", fix: fix)
            }
        }
        let parts = text.split(separator: "/")
        if parts.contains(where: { $0 == "." || $0 == ".." }) {
            throw CAError.invalid("invalid \(what) '\(text.quotedForError)': '.' and '..' components are not allowed", fix: fix)
        }
        value = parts.isEmpty ? "/" : "/" + parts.joined(separator: "/")
    }

    public init(from decoder: Decoder) throws { try self.init(try decoder.singleValueContainer().decode(String.self), what: "path") }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    /// This path under `root` ("" for none): `--root` is a prefix, so link targets include it.
    public func under(_ root: String) -> String { root.isEmpty ? value : root + value }
}
