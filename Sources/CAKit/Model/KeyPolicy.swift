/// Where a host's private keys are made. `ca`: the CA makes them, keeps them sealed in its
/// database and ships them in bundles. `host`: the host makes them (`ca request`), the CA signs its
/// requests, and no private key of the host is ever in the CA's database or in transit.
public enum KeyPolicy: String, CaseIterable, Codable, Sendable {
    case ca
    case host

    public init(parsing text: String) throws {
        guard let policy = KeyPolicy(rawValue: text.lowercased()) else {
            throw CAError.invalid("invalid key policy '\(text.quotedForError)': expected ca (the CA makes and keeps the keys) or host (keys are made on the host)")
        }
        self = policy
    }
}
