import FoundationEssentials

/// The settings PostgreSQL will use: postgresql.conf with its include, include_if_exists and
/// include_dir directives followed in order, then postgresql.auto.conf; the last value wins.
public struct PostgresSettings: Sendable {
    public private(set) var values: [String: String] = [:]
    /// Where each value in effect was set: the file and its line.
    public struct Origin: Sendable, Equatable, CustomStringConvertible {
        public let file: String
        public let line: Int
        public var description: String { "\(file) line \(line)" }
        var isAutoConf: Bool { file.hasSuffix("/postgresql.auto.conf") }
    }
    /// Where each value came from, for doctor's messages and install's override check.
    public private(set) var origins: [String: Origin] = [:]
    /// Files read as if they had this content (install: what it is about to write), including
    /// files that do not exist yet; an include_dir lists them too.
    private let overlay: [String: [UInt8]]

    /// Why the settings could not be read in full (an include loop, too many files), if so.
    public private(set) var problem: String?
    private var filesRead = 0
    /// PostgreSQL stops at 10 levels of includes; ca also stops after this many files in all, so a
    /// file that includes itself many times cannot make `doctor` run for ever.
    static let fileBudget = 256

    /// Reads as `account` would (PostgreSQL runs as the OS user): through `root`, links followed the
    /// way the server follows them, nothing read that the account could not read.
    public init(configFile: String, dataDirectory: String, root: FileRoot, account: Account, overlay: [String: [UInt8]] = [:]) {
        self.overlay = overlay
        read(configFile, depth: 0, root: root, account: account)
        read(dataDirectory + "/postgresql.auto.conf", depth: 0, root: root, account: account)
    }

    public subscript(name: String) -> String? { values[name.lowercased()] }

    /// A file setting resolved like PostgreSQL does: relative paths are relative to the data directory.
    public func path(_ name: String, dataDirectory: String) -> String? {
        guard let value = self[name], !value.isEmpty else { return nil }
        return value.hasPrefix("/") ? value : dataDirectory + "/" + value
    }

    private mutating func read(_ path: String, depth: Int, root: FileRoot, account: Account) {
        guard problem == nil else { return }
        guard depth < 10 else { problem = "'\(path)' is nested more than 10 includes deep (PostgreSQL refuses that too)"; return }
        filesRead += 1
        guard filesRead <= Self.fileBudget else { problem = "the configuration includes more than \(Self.fileBudget) files (an include loop?)"; return }
        let bytes: [UInt8]
        if let planned = overlay[path] {
            bytes = planned
        } else {
            guard case .read(let read, _, _) = root.readAs(account, path, limit: 4 << 20) else { return }
            bytes = read
        }
        let directory = Path.parent(path)
        for (index, line) in String(decoding: bytes, as: UTF8.self).components(separatedBy: "\n").enumerated() {
            guard let (name, value) = Self.parse(line) else { continue }
            let target = value.hasPrefix("/") ? value : directory + "/" + value
            switch name {
            case "include", "include_if_exists": read(target, depth: depth + 1, root: root, account: account)
            case "include_dir":
                let planned = overlay.keys.filter { Path.parent($0) == target }.map { Path.lastComponent($0) }
                // PostgreSQL reads an include_dir's files in name order (C collation).
                let files = Set(((try? root.list(target)) ?? []) + planned).filter { $0.hasSuffix(".conf") && !$0.hasPrefix(".") }
                    .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
                for file in files { read(target + "/" + file, depth: depth + 1, root: root, account: account) }
            default:
                values[name] = value
                origins[name] = Origin(file: path, line: index + 1)
            }
        }
    }

    /// How to make `name` come from `ours` (ca's include file) when a later line sets it: the
    /// command or edit that works for where it is set now.
    public func overrideFix(_ name: String, ours: String) -> String? {
        guard let origin = origins[name], origin.file != ours else { return nil }
        if origin.isAutoConf {
            return "ALTER SYSTEM RESET \(name); as a superuser (with the server stopped: delete \(origin)), then reload"
        }
        return "remove or comment out '\(name)' at \(origin), which PostgreSQL reads after ca's \(ours), then reload"
    }

    /// A boolean setting as PostgreSQL reads it (it takes several spellings), or nil if it is none.
    public static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "on", "true", "yes", "1", "t", "y": return true
        case "off", "false", "no", "0", "f", "n": return false
        default: return nil
        }
    }

    static let protocolOrder = ["tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"]

    /// Whether `found`, the value of `name` in effect, gives what ca's `wanted` asks for: the same
    /// value (booleans in any spelling), or for the TLS floor one at least as strict.
    public static func honours(_ name: String, found: String, wanted: String) -> Bool {
        if found == wanted { return true }
        if let x = boolean(found), let y = boolean(wanted) { return x == y }
        if name == "ssl_min_protocol_version", let have = protocolOrder.firstIndex(of: found.lowercased()),
           let need = protocolOrder.firstIndex(of: wanted.lowercased()) { return have >= need }
        return false
    }

    /// `name = value`, `name value`, `name = 'quoted ''value'''`; comments after '#'.
    static func parse(_ line: String) -> (String, String)? {
        var rest = Substring(line).drop { $0 == " " || $0 == "\t" }
        guard let first = rest.first, first != "#" else { return nil }
        let name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
        guard !name.isEmpty else { return nil }
        rest = rest.dropFirst(name.count).drop { $0 == " " || $0 == "\t" }
        if rest.first == "=" { rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" } }
        var value = ""
        if rest.first == "'" {
            var iterator = rest.dropFirst().makeIterator()
            while let c = iterator.next() {
                if c == "'" {
                    if let next = iterator.next(), next == "'" { value.append("'"); continue }
                    break
                }
                value.append(c)
            }
        } else {
            value = String(rest.prefix { $0 != "#" && $0 != " " && $0 != "\t" })
        }
        return (name.lowercased(), value)
    }
}
