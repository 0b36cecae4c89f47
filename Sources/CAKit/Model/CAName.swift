/// The CA's name: its certificate's CN and the stem of its files (`/etc/ssl/certs/<name>.crt`).
/// Letters, digits, '.', '_', '-'; a letter or digit first; at most 64 characters.
public enum CAName {
    /// Names the system uses for its own files under /etc/ssl (Debian's trust store
    /// ca-certificates.crt, the ssl-cert package's snakeoil pair) and ca's own directory. A CA or a
    /// host may not take them: its files would stand where the system's are.
    public static let reserved: Set<String> = ["ca-certificates", "ssl-cert-snakeoil", "ca-managed", "java", "private", "certs", "crl"]

    public static func checkNotReserved(_ text: String, what: String) throws {
        if reserved.contains(text.lowercased()) {
            throw CAError.invalid("invalid \(what) '\(text.quotedForError)': the name is reserved for the system's own files under /etc/ssl",
                                  fix: "Choose another name; reserved: \(reserved.sorted().joined(separator: ", ")).")
        }
    }

    public static func validate(_ text: String) throws -> String {
        let fix = "Use letters, digits, '.', '_' and '-', starting with a letter or digit, e.g. 'acme-replication-ca'."
        guard !text.isEmpty else { throw CAError.invalid("invalid CA name '': it is empty", fix: fix) }
        guard text.utf8.count <= 64 else { throw CAError.invalid("invalid CA name '\(text.quotedForError)': longer than 64 characters", fix: fix) }
        guard text.unicodeScalars.first!.isASCIIAlphanumeric else {
            throw CAError.invalid("invalid CA name '\(text.quotedForError)': it must start with a letter or digit", fix: fix)
        }
        for scalar in text.unicodeScalars where !(scalar.isASCIIAlphanumeric || "._-".unicodeScalars.contains(scalar)) {
            throw CAError.invalid("invalid CA name '\(text.quotedForError)': '\(String(scalar).quotedForError)' is not allowed", fix: fix)
        }
        try checkNotReserved(text, what: "CA name")
        return text
    }
}
