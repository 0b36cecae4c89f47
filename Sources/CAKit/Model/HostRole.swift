/// What a host does in replication. Every host still gets a replication client certificate:
/// after a failover the old primary becomes a standby.
public enum HostRole: String, CaseIterable, Codable, Sendable {
    case primary
    case standby

    public init(parsing text: String) throws {
        guard let role = HostRole(rawValue: text.lowercased()) else {
            throw CAError.invalid("invalid role '\(text.quotedForError)': expected primary or standby")
        }
        self = role
    }
}
