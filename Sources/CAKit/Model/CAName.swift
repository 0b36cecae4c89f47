/// The CA's name: the stem of its files (`/etc/ssl/ca-managed/trust/<name>.crt`), and, unless the
/// user gave a common name with spaces, its certificate's CN too.
/// Letters, digits, '.', '_', '-'; a letter or digit first; at most 64 characters.
public enum CAName {
    /// A CA certificate's common name as the user typed it ('Acme Replication CA'): 1 to 64
    /// characters, no control characters, no space at either end.
    public static func commonName(_ text: String) throws -> String {
        let fix = "Give a name of 1 to 64 characters, e.g. 'Acme Replication CA'."
        guard !text.isEmpty else { throw CAError.invalid("invalid CA name '': it is empty", fix: fix) }
        guard text.count <= 64, text.utf8.count <= 256 else { throw CAError.invalid("invalid CA name '\(text.quotedForError)': longer than 64 characters", fix: fix) }
        let invisible: Set<Unicode.GeneralCategory> = [.control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse]
        for scalar in text.unicodeScalars where invisible.contains(scalar.properties.generalCategory) {
            throw CAError.invalid("invalid CA name '\(text.quotedForError)': it holds a control or invisible character", fix: fix)
        }
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last,
              !first.properties.isWhitespace, !last.properties.isWhitespace else {
            throw CAError.invalid("invalid CA name '\(text.quotedForError)': it starts or ends with a space", fix: fix)
        }
        return text
    }

    /// The file stem of a CA whose common name is `commonName`: the name itself when it is already
    /// a valid stem, else lower case with every run of other characters turned into one '-'
    /// ('Acme Replication CA' → 'acme-replication-ca').
    public static func stem(forCommonName commonName: String) throws -> String {
        if (try? validate(commonName)) != nil { return commonName }
        var out = ""
        for scalar in commonName.lowercased().unicodeScalars {
            if scalar.isASCIIAlphanumeric || "._".unicodeScalars.contains(scalar) { out.unicodeScalars.append(scalar) }
            else if !out.isEmpty && out.last != "-" { out.append("-") }
        }
        while let last = out.last, !last.isLetter && !last.isNumber { out.removeLast() }
        out = String(out.drop { !($0.isASCII && ($0.isLetter || $0.isNumber)) }.prefix(64))
        guard !out.isEmpty else {
            throw CAError.invalid("invalid CA name '\(commonName.quotedForError)': it has no letter or digit to name its files by",
                                  fix: "Give a name with ASCII letters or digits, e.g. 'Acme Replication CA'.")
        }
        return try validate(out)
    }

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
