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

    /// A host whose keys the CA makes was asked for what only a host that makes its own does
    /// (a request, a signature).
    public static func keysMadeByCA(_ host: String) -> CAError {
        .invalid("host '\(host)' keeps its keys in the CA (--keys ca): it makes no requests, and ca signs none for it",
                 fix: "Run 'ca host set \(host) --keys host' first if its keys are to be made on the host (then export its bundle again), or 'ca issue \(host)'.")
    }

    /// A host that makes its own keys was asked to have keys made by the CA.
    public static func keysMadeOnHost(_ host: String) -> CAError {
        .invalid("host '\(host)' makes its own keys (--keys host), so ca does not make keys for it",
                 fix: "Run 'ca deploy \(host)' (request, sign, install in one go), or 'ca request' on the host and 'ca sign \(host) --request FILE' here; 'ca host set \(host) --keys ca' to change that.")
    }
}
