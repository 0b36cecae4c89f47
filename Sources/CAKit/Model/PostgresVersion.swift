/// A PostgreSQL major version from 9.1 to 19. Before 10 a major is two numbers (9.6), after it one.
public struct PostgresVersion: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let major: Int
    public let minor: Int

    public static let supported = "9.1–9.6, 10–19"
    /// The newest major ca knows; a later one is refused until its TLS changes are checked.
    public static let newestMajor = 19
    public static let `default` = PostgresVersion(uncheckedMajor: 15, minor: 0)

    init(uncheckedMajor major: Int, minor: Int) { self.major = major; self.minor = minor }

    public init(_ text: String) throws {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        let fix = "Give the major alone, e.g. 17 or 9.6 (PG_VERSION in the data directory has it)."
        switch (parts.count, parts.first ?? nil, parts.count > 1 ? parts[1] : nil) {
        case (2, 9?, let minor?) where (1...6).contains(minor):
            self.init(uncheckedMajor: 9, minor: minor)
        case (1, let major?, _) where (10...Self.newestMajor).contains(major):
            self.init(uncheckedMajor: major, minor: 0)
        default:
            throw CAError.invalid("unsupported PostgreSQL version '\(text.quotedForError)': ca supports \(PostgresVersion.supported)", fix: fix)
        }
    }

    /// The content of a data directory's PG_VERSION: its text (for messages) and the version, if ca knows it.
    public static func dataDirectoryFile(_ bytes: [UInt8]) -> (text: String, version: PostgresVersion?) {
        let text = String(decoding: bytes.prefix(64), as: UTF8.self).trimmed
        return (text, try? PostgresVersion(text))
    }

    public var description: String { major >= 10 ? "\(major)" : "\(major).\(minor)" }

    public static func < (a: PostgresVersion, b: PostgresVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }

    public init(from decoder: Decoder) throws { try self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
