/// One thing install will make true on disk.
public struct PlannedOperation: Sendable {
    public enum Kind: Sendable, Equatable {
        /// Create if missing; an existing directory is never changed.
        case directory
        /// Write these bytes atomically. `keepForeign` backs up an existing file that ca did not write.
        case file(contents: [UInt8], secret: Bool, keepForeign: Bool)
        /// A symbolic link to `target`; a regular file in its place is moved to a backup first.
        case link(target: String)
    }

    public let path: String
    public let kind: Kind
    public let uid: UInt32
    public let gid: UInt32
    public let mode: UInt32
    /// What it is, for people: "server key", "data-dir link", …
    public let purpose: String
}
