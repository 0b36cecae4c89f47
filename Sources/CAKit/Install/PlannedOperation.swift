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

    /// What may stand at `path` before ca replaces it.
    public enum Rule: Sendable, Equatable {
        /// A directory the OS user owns (data directory, ~/.postgresql, conf.d): a link there is
        /// replaced, never followed; a regular file is kept as a backup first (links) or per `keepForeign`.
        case standard
        /// A name in a system directory (`/etc/ssl/certs`, `/etc/ssl/private`, `/etc/ssl/crl`): ca
        /// replaces only its own link (one into `managedPrefix`), or the regular file the planner
        /// recognised as one an earlier ca wrote (by device and inode); anything else is refused.
        case systemName(managedPrefix: String, recognised: FileIdentity?)
        /// A config file ca edits (pg_hba.conf, postgresql.conf): it must still be the file the
        /// planner read, or the edit is abandoned (someone else changed it meanwhile).
        case edit(FileIdentity)
        /// Inside ca's own directory: ca wrote whatever is there.
        case managed
    }

    public let path: String
    public let kind: Kind
    public let uid: UInt32
    public let gid: UInt32
    public let mode: UInt32
    /// What it is, for people: "server key", "data-dir link", …
    public let purpose: String
    public var rule: Rule = .standard
    /// Set for the host's certificates and keys: the file's name inside a generation directory.
    /// All such operations are written into one new generation and switched by one rename.
    public var generationName: String? = nil

    public init(path: String, kind: Kind, uid: UInt32, gid: UInt32, mode: UInt32, purpose: String,
                rule: Rule = .standard, generationName: String? = nil) {
        self.path = path
        self.kind = kind
        self.uid = uid
        self.gid = gid
        self.mode = mode
        self.purpose = purpose
        self.rule = rule
        self.generationName = generationName
    }
}

/// A file as the kernel knows it, to tell whether it is still the one that was looked at.
public struct FileIdentity: Sendable, Equatable {
    public let device: UInt64
    public let inode: UInt64
    public let size: Int64

    public init(_ info: FileRoot.Info) {
        device = info.device
        inode = info.inode
        size = info.size
    }

    func matches(_ info: FileRoot.Info) -> Bool { info.device == device && info.inode == inode && info.size == size }
}
