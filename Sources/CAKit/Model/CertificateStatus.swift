/// Where a leaf is in its life. Expiry is not a status: it follows from `notAfter` and the clock.
public enum CertificateStatus: String, CaseIterable, Codable, Sendable {
    case active
    /// Replaced by a newer certificate for the same purpose; still valid until it expires.
    case superseded
    case revoked

    public init(parsing text: String) throws {
        guard let status = CertificateStatus(rawValue: text.lowercased()) else {
            throw CAError.invalid("invalid status '\(text.quotedForError)': expected one of \(CertificateStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = status
    }
}
