/// The CA's name: its certificate's CN and the stem of its files (`/etc/ssl/certs/<name>.crt`).
/// Letters, digits, '.', '_', '-'; a letter or digit first; at most 64 characters.
public enum CAName {
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
        return text
    }
}
