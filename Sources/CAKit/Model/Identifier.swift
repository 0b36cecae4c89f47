/// Names that reach PostgreSQL or the OS: a database role (certificate CN, pg_hba.conf) and an
/// OS user (file owner, `~user/.postgresql`). Strict on purpose: no quoting is ever needed.
public enum Identifier {
    /// A PostgreSQL role name usable unquoted: lowercase letter or '_' first, then letters,
    /// digits, '_'; at most 63 bytes (NAMEDATALEN - 1).
    public static func role(_ text: String) throws -> String {
        try check(text, what: "replication role", limit: 63, extra: [],
                  example: "e.g. 'replicator'")
    }

    /// A POSIX user name as Debian's adduser accepts by default.
    public static func osUser(_ text: String) throws -> String {
        try check(text, what: "OS user", limit: 32, extra: ["-"], example: "e.g. 'postgres'")
    }

    private static func check(_ text: String, what: String, limit: Int, extra: Set<Unicode.Scalar>, example: String) throws -> String {
        var fix: String { "Use lowercase letters, digits and '_'\(extra.isEmpty ? "" : " or '-'"), starting with a letter or '_', at most \(limit) characters (\(example))." }
        guard let first = text.unicodeScalars.first else { throw CAError.invalid("invalid \(what) '': it is empty", fix: fix) }
        guard text.utf8.count <= limit else { throw CAError.invalid("invalid \(what) '\(text.quotedForError)': longer than \(limit) characters", fix: fix) }
        guard ("a"..."z").contains(first) || first == "_" else {
            throw CAError.invalid("invalid \(what) '\(text.quotedForError)': it must start with a lowercase letter or '_'", fix: fix)
        }
        for scalar in text.unicodeScalars where !(("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "_" || extra.contains(scalar)) {
            throw CAError.invalid("invalid \(what) '\(text.quotedForError)': '\(String(scalar).quotedForError)' is not allowed", fix: fix)
        }
        return text
    }
}
