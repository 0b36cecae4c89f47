import CSystem
import FoundationEssentials
import Glibc

/// The one way `install`, `doctor` and the settings reader reach files (Go's `os.Root`, systemd's
/// `chase()`). Paths are absolute and start with `prefix` (the `--root` prefix, "" for none). Every
/// component below the prefix is opened with `openat(…, O_NOFOLLOW)` from a directory descriptor,
/// files are read through the descriptor they were opened with, and type, owner and mode come from
/// `fstat` of that same descriptor, never from an earlier look at the path. The prefix itself is the
/// operator's choice and is opened as given.
///
/// `chase` follows links the way a server process does, for `doctor`: component by component, at
/// most `maxLinks` of them, recording every directory it passed so the caller can tell whether the
/// OS user could have passed it too; `readAs` reads only what that user could read itself.
public final class FileRoot {
    public enum Kind: Sendable, Equatable { case regular, directory, symlink, fifo, socket, device }

    /// What `fstat` says of one descriptor (or `fstatat(AT_SYMLINK_NOFOLLOW)` of one name).
    public struct Info: Sendable, Equatable {
        public let kind: Kind
        public let uid: UInt32
        public let gid: UInt32
        /// Permission bits, 0o7777.
        public let mode: UInt32
        public let size: Int64
        public let links: UInt64
        public let device: UInt64
        public let inode: UInt64

        init(_ s: stat) {
            switch s.st_mode & S_IFMT {
            case S_IFREG: kind = .regular
            case S_IFDIR: kind = .directory
            case S_IFLNK: kind = .symlink
            case S_IFIFO: kind = .fifo
            case S_IFSOCK: kind = .socket
            default: kind = .device
            }
            uid = s.st_uid
            gid = s.st_gid
            mode = s.st_mode & 0o7777
            size = Int64(s.st_size)
            links = UInt64(s.st_nlink)
            device = UInt64(s.st_dev)
            inode = UInt64(s.st_ino)
        }

        /// "a directory", "a FIFO", … for error lines.
        public var kindName: String {
            switch kind {
            case .regular: return "a regular file"
            case .directory: return "a directory"
            case .symlink: return "a symbolic link"
            case .fifo: return "a FIFO"
            case .socket: return "a socket"
            case .device: return "a device"
            }
        }

        /// Writable by someone other than the owner: group (unless the group is root's) or world.
        public var writableByOthers: Bool { mode & 0o002 != 0 || (mode & 0o020 != 0 && gid != 0) }
    }

    public let prefix: String
    private let base: Int32

    /// Files `ca` reads are bounded: configs, certificates, bundles, PID files.
    public static let defaultReadLimit = 16 << 20

    public init(prefix: String = "") throws {
        self.prefix = prefix
        let fd = open(prefix.isEmpty ? "/" : prefix, CA_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CAError.io("cannot open the root '\(prefix)': \(FileRoot.errnoText())") }
        base = fd
    }

    deinit { close(base) }

    // MARK: Resolving without links

    /// An open directory reached without following a link, and the directories passed on the way.
    public final class Directory {
        public let fd: Int32
        public let path: String
        public let info: Info
        /// Every directory from the prefix down to this one (this one last), with what fstat said.
        public let chain: [(path: String, info: Info)]

        init(fd: Int32, path: String, info: Info, chain: [(path: String, info: Info)]) {
            self.fd = fd
            self.path = path
            self.info = info
            self.chain = chain
        }

        deinit { close(fd) }
    }

    /// Why a path could not be resolved.
    public enum Failure: Error, Equatable {
        /// `path` (a component) does not exist.
        case missing(String)
        /// `path` is a symbolic link, and ca does not step through links.
        case link(String)
        /// `path` exists but is not a directory.
        case notDirectory(String, Info)
        case system(String, String)

        public var reason: String {
            switch self {
            case .missing(let path): return "'\(path)' does not exist"
            case .link(let path): return "'\(path)' is a symbolic link; ca does not step through links when it runs as root"
            case .notDirectory(let path, let info): return "'\(path)' is \(info.kindName), not a directory"
            case .system(let path, let why): return "'\(path)': \(why)"
            }
        }
    }

    /// The components of `path` below the prefix.
    func components(_ path: String) throws -> [String] {
        guard path.hasPrefix("/") else { throw CAError.invalid("'\(path.quotedForError)' is not an absolute path") }
        var rest = Substring(path)
        if !prefix.isEmpty {
            guard path == prefix || path.hasPrefix(prefix + "/") else {
                throw CAError.invalid("'\(path.quotedForError)' is outside the root '\(prefix)'")
            }
            rest = rest.dropFirst(prefix.count)
        }
        let parts = rest.split(separator: "/").map(String.init)
        if parts.contains(where: { $0 == "." || $0 == ".." }) {
            throw CAError.invalid("'\(path.quotedForError)' has a '.' or '..' component")
        }
        return parts
    }

    private func join(_ parts: ArraySlice<String>) -> String {
        (prefix.isEmpty && parts.isEmpty) ? "/" : prefix + parts.map { "/" + $0 }.joined()
    }

    /// Opens the directory at `path`, every component with O_NOFOLLOW.
    public func directory(_ path: String) throws -> Directory {
        switch try resolveDirectory(path) {
        case .success(let directory): return directory
        case .failure(let failure): throw CAError.invalid(failure.reason)
        }
    }

    /// As `directory`, but says why instead of throwing for a missing component, a link or a non-directory.
    public func resolveDirectory(_ path: String) throws -> Result<Directory, Failure> {
        let parts = try components(path)
        var fd = dup(base)
        guard fd >= 0 else { return .failure(.system(path, Self.errnoText())) }
        var info = stat()
        fstat(fd, &info)
        var chain: [(path: String, info: Info)] = [(join([]), Info(info))]
        for index in parts.indices {
            let here = join(parts[...index])
            let next = openat(fd, parts[index], CA_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 {
                let code = errno
                var entry = stat()
                let exists = fstatat(fd, parts[index], &entry, AT_SYMLINK_NOFOLLOW) == 0
                close(fd)
                if !exists { return .failure(code == ENOENT ? .missing(here) : .system(here, String(cString: strerror(code)))) }
                if entry.st_mode & S_IFMT == S_IFLNK { return .failure(.link(here)) }
                if entry.st_mode & S_IFMT != S_IFDIR { return .failure(.notDirectory(here, Info(entry))) }
                return .failure(.system(here, String(cString: strerror(code))))
            }
            close(fd)
            fd = next
            fstat(fd, &info)
            chain.append((here, Info(info)))
        }
        return .success(Directory(fd: fd, path: join(parts[...]), info: Info(info), chain: chain))
    }

    /// The parent directory of `path`, opened without links, and the last component's name.
    public func parent(of path: String) throws -> Result<(Directory, String), Failure> {
        let parts = try components(path)
        guard let name = parts.last else { throw CAError.invalid("'\(path)' has no parent below the root") }
        switch try resolveDirectory(join(parts.dropLast())) {
        case .success(let directory): return .success((directory, name))
        case .failure(let failure): return .failure(failure)
        }
    }

    /// What is at `path` itself (a link is reported as a link): nil when it or a directory above it is missing.
    public func entry(_ path: String) throws -> Info? {
        guard case .success(let (directory, name)) = try parent(of: path) else { return nil }
        return Self.entry(in: directory.fd, name)
    }

    static func entry(in directory: Int32, _ name: String) -> Info? {
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return Info(info)
    }

    /// The text of a symbolic link at `path`.
    public func linkTarget(_ path: String) throws -> String? {
        guard case .success(let (directory, name)) = try parent(of: path) else { return nil }
        return Self.readLink(directory.fd, name)
    }

    static func readLink(_ directory: Int32, _ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(directory, name, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A regular file's bytes and what fstat of the descriptor said. Refuses a link, a FIFO, a
    /// device, a directory, or a file over `limit` bytes; never blocks on a FIFO.
    public func read(_ path: String, limit: Int = FileRoot.defaultReadLimit) throws -> (bytes: [UInt8], info: Info) {
        switch try parent(of: path) {
        case .failure(let failure): throw CAError.invalid("cannot read '\(path)': \(failure.reason)")
        case .success(let (directory, name)):
            return try Self.read(in: directory.fd, name, path: path, limit: limit)
        }
    }

    static func read(in directory: Int32, _ name: String, path: String, limit: Int) throws -> (bytes: [UInt8], info: Info) {
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP { throw CAError.invalid("'\(path)' is a symbolic link; ca reads only regular files here") }
            throw CAError.invalid("cannot read '\(path)': \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        return try readDescriptor(fd, path: path, limit: limit)
    }

    public static func readDescriptor(_ fd: Int32, path: String, limit: Int) throws -> (bytes: [UInt8], info: Info) {
        var raw = stat()
        guard fstat(fd, &raw) == 0 else { throw CAError.io("cannot read '\(path)': \(errnoText())") }
        let info = Info(raw)
        guard info.kind == .regular else { throw CAError.invalid("'\(path)' is \(info.kindName), not a regular file") }
        guard info.size <= Int64(limit) else { throw CAError.invalid("'\(path)' is \(info.size) bytes; ca reads at most \(limit) here") }
        var out: [UInt8] = []
        out.reserveCapacity(Int(info.size))
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw CAError.io("cannot read '\(path)': \(errnoText())")
            }
            if n == 0 { break }
            out += buffer[0..<n]
            if out.count > limit { throw CAError.invalid("'\(path)' grew past \(limit) bytes while ca read it") }
        }
        return (out, info)
    }

    /// The names in a directory (without '.' and '..'), sorted.
    public func list(_ path: String) throws -> [String] {
        let directory = try self.directory(path)
        return try Self.list(directory.fd, path: path)
    }

    static func list(_ directoryFD: Int32, path: String) throws -> [String] {
        let fd = openat(directoryFD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0, let stream = fdopendir(fd) else {
            if fd >= 0 { close(fd) }
            throw CAError.io("cannot list '\(path)': \(errnoText())")
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
            if names.count > 100_000 { throw CAError.invalid("'\(path)' holds more than 100,000 entries") }
        }
        return names.sorted()
    }

    // MARK: Following links, as a server process does (doctor)

    /// Where a path leads when its links are followed, and what was passed on the way.
    public final class Chased {
        /// The real path reached, links resolved.
        public let path: String
        /// What is there (never a link), or nil when it does not exist.
        public let info: Info?
        /// Every directory passed, with its attributes (for the OS user's search permission).
        public let directories: [(path: String, info: Info)]
        /// How many links were followed.
        public let links: Int
        let parent: Int32?
        let name: String

        init(path: String, info: Info?, directories: [(path: String, info: Info)], links: Int, parent: Int32?, name: String) {
            self.path = path
            self.info = info
            self.directories = directories
            self.links = links
            self.parent = parent
            self.name = name
        }

        deinit { if let parent { Glibc.close(parent) } }
    }

    /// Follows `path` the way the kernel would for a process, but step by step: every directory is
    /// opened with O_NOFOLLOW, links are read and resolved by hand (absolute ones from the real '/'),
    /// at most `maxLinks` of them. Throws on a loop or too many links.
    public func chase(_ path: String, maxLinks: Int = 16) throws -> Chased {
        var pending = path.split(separator: "/").map(String.init)
        guard path.hasPrefix("/") else { throw CAError.invalid("'\(path.quotedForError)' is not an absolute path") }
        var fd = open("/", CA_O_PATH | O_DIRECTORY | O_CLOEXEC)
        var stack: [String] = []
        var directories: [(path: String, info: Info)] = []
        var links = 0
        func here() -> String { "/" + stack.joined(separator: "/") }
        func note() { var s = stat(); fstat(fd, &s); directories.append((here(), Info(s))) }
        note()
        while !pending.isEmpty {
            let name = pending.removeFirst()
            if name == "." || name.isEmpty { continue }
            if name == ".." {
                let up = openat(fd, "..", CA_O_PATH | O_DIRECTORY | O_CLOEXEC)
                close(fd)
                fd = up
                if !stack.isEmpty { stack.removeLast() }
                note()
                continue
            }
            var s = stat()
            let exists = fstatat(fd, name, &s, AT_SYMLINK_NOFOLLOW) == 0
            if !exists {
                return Chased(path: here() == "/" ? "/" + name : here() + "/" + name + (pending.isEmpty ? "" : "/" + pending.joined(separator: "/")),
                              info: nil, directories: directories, links: links, parent: fd, name: name)
            }
            let info = Info(s)
            if info.kind == .symlink {
                links += 1
                guard links <= maxLinks, let target = Self.readLink(fd, name) else {
                    close(fd)
                    throw CAError.invalid("'\(path)' leads through more than \(maxLinks) symbolic links (a loop?)")
                }
                let rest = target.split(separator: "/").map(String.init)
                pending = rest + pending
                if target.hasPrefix("/") {
                    close(fd)
                    fd = open("/", CA_O_PATH | O_DIRECTORY | O_CLOEXEC)
                    stack = []
                    note()
                }
                continue
            }
            if pending.isEmpty {
                return Chased(path: here() == "/" ? "/" + name : here() + "/" + name, info: info, directories: directories, links: links, parent: fd, name: name)
            }
            guard info.kind == .directory else {
                let at = here() == "/" ? "/" + name : here() + "/" + name
                close(fd)
                throw CAError.invalid("'\(path)' passes through '\(at)', which is \(info.kindName)")
            }
            let next = openat(fd, name, CA_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(fd)
            guard next >= 0 else { throw CAError.io("cannot open '\(here())/\(name)': \(Self.errnoText())") }
            fd = next
            stack.append(name)
            note()
        }
        return Chased(path: here(), info: directories.last?.info, directories: directories, links: links, parent: fd, name: ".")
    }

    /// Why `account` could not read `path` itself (a directory on the way it cannot search, or the
    /// file's mode), or the file's bytes and attributes. Nothing is read that the account could not
    /// read on its own, so a link planted to a root-only file reveals nothing.
    public enum Access {
        case read(bytes: [UInt8], info: Info, chased: String)
        case missing(dangling: Bool)
        case refused(String)
    }

    public func readAs(_ account: Account, _ path: String, limit: Int = FileRoot.defaultReadLimit) -> Access {
        let chased: Chased
        do { chased = try chase(path) } catch { return .refused((error as? CAError)?.message ?? "\(error)") }
        for directory in chased.directories.dropLast(chased.info?.kind == .directory ? 1 : 0) {
            if !account.may(0o1, owner: directory.info.uid, group: directory.info.gid, mode: directory.info.mode) {
                return .refused("'\(account.name)' cannot search '\(directory.path)'")
            }
            // Below the prefix, a world-writable directory lets anyone swap what the server reads
            // (a sticky one on the way, like /tmp, does not: others cannot replace entries they do not own).
            let last = directory.path == chased.directories.last?.path
            if directory.info.mode & 0o002 != 0 && (last || directory.info.mode & 0o1000 == 0)
                && (prefix.isEmpty || directory.path.hasPrefix(prefix + "/")) {
                return .refused("it is reached through '\(directory.path)', which is writable by everyone (mode \(KeyFileRule.octal(directory.info.mode)))")
            }
        }
        guard let info = chased.info, let parent = chased.parent else { return .missing(dangling: chased.links > 0) }
        guard info.kind == .regular else { return .refused("is \(info.kindName), not a regular file") }
        guard account.may(0o4, owner: info.uid, group: info.gid, mode: info.mode) else {
            return .refused("'\(account.name)' cannot read it (\(SystemAccounts().userName(info.uid)):\(SystemAccounts().groupName(info.gid)) \(KeyFileRule.octal(info.mode & 0o777)))")
        }
        do {
            let (bytes, opened) = try Self.read(in: parent, chased.name, path: chased.path, limit: limit)
            // The file read must be the one whose attributes were checked.
            guard opened.device == info.device && opened.inode == info.inode else { return .refused("changed while ca read it") }
            guard account.may(0o4, owner: opened.uid, group: opened.gid, mode: opened.mode) else {
                return .refused("'\(account.name)' cannot read it")
            }
            return .read(bytes: bytes, info: opened, chased: chased.path)
        } catch {
            return .refused((error as? CAError)?.message ?? "\(error)")
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
