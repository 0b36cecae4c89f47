import CSystem
import FoundationEssentials
import Glibc

/// Applies a checked plan as one transaction, through `FileRoot` only:
/// 1. create missing directories, take the install lock (`ca-managed/.lock`), remove what a killed
///    install left behind (temporary names, unused generations);
/// 2. look at every target (a FIFO, a directory or a device where a file goes, a foreign file at a
///    system name, a world-writable directory: refused before anything is written);
/// 3. stage: every new file goes to a temporary name in its own directory (`O_CREAT|O_EXCL|O_NOFOLLOW`,
///    owner and mode set before the first byte, fsynced), the host's four files into a new generation
///    directory, every link to a temporary name; a full disk fails here, with nothing switched;
/// 4. switch: one `renameat` per target, the host's pairs by one rename of `current`; the previous
///    entry is kept under a hard link until the end, so a failure puts everything back;
/// 5. clean up the previous entries and generation.
/// Killed at any instant, every target holds its old or its new content and the pairs match; the
/// next install removes what is left over.
public struct SafeFileWriter {
    public enum Outcome: Equatable, Sendable {
        case created
        case updated
        case unchanged
        /// A symlink stood where a file goes; the link was replaced, its target left alone.
        case replacedSymlink(formerTarget: String)
        /// A file ca did not write (or a regular file where a link goes) was moved aside first.
        case backedUp(to: String)
    }

    public let root: FileRoot
    public let now: Date
    public let dryRun: Bool
    /// Owners a directory on the way may have (root and the OS user): anyone else could swap entries.
    public let trustedOwners: Set<UInt32>
    /// Where the lock and the generations live (`/etc/ssl/ca-managed`).
    public let managedDirectory: String

    public init(root: FileRoot, now: Date, dryRun: Bool, trustedOwners: Set<UInt32>, managedDirectory: String) {
        self.root = root
        self.now = now
        self.dryRun = dryRun
        self.trustedOwners = trustedOwners
        self.managedDirectory = managedDirectory
    }

    // MARK: Applying

    public func apply(_ operations: [PlannedOperation]) throws -> [Outcome] {
        var createdDirectories: [String] = []
        var lock: Int32 = -1
        defer { if lock >= 0 { close(lock) } }
        do {
            if !dryRun {
                for op in operations where op.kind == .directory {
                    if try ensureDirectory(op) { createdDirectories.append(op.path) }
                }
                lock = try takeLock()
                try removeLeftovers(operations)
            }
            let made = Set(createdDirectories)
            let looks = try operations.map { op in made.contains(op.path) ? Look(outcome: .created) : try look(op) }
            if dryRun { return looks.map(\.outcome) }
            let staged = try stage(operations, looks)
            let switched = try switchOver(staged)
            cleanUp(staged, switched)
            return looks.map(\.outcome)
        } catch {
            for path in createdDirectories.reversed() { removeEmptyDirectory(path) }
            throw error
        }
    }

    // MARK: 1. Directories, lock, leftovers

    /// Creates the directory if missing (owner and mode set before anything goes in); true if it made it.
    private func ensureDirectory(_ op: PlannedOperation) throws -> Bool {
        switch try root.parent(of: op.path) {
        case .failure(let failure): throw refusal(op.path, failure.reason)
        case .success(let (parent, name)):
            try checkChain(parent, op.path)
            if let info = FileRoot.entry(in: parent.fd, name) {
                guard info.kind == .directory else {
                    throw refusal(op.path, info.kind == .symlink ? "is a symbolic link; ca does not write through links" : "exists and is \(info.kindName), not a directory")
                }
                if info.mode & 0o002 != 0 { throw refusal(op.path, "is writable by everyone (mode \(KeyFileRule.octal(info.mode))); ca does not install into it") }
                return false
            }
            guard mkdirat(parent.fd, name, 0o700) == 0 else {
                if errno == EEXIST { return try ensureDirectory(op) }
                throw failureError(op.path, FileRoot.errnoText())
            }
            let fd = openat(parent.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw failureError(op.path, FileRoot.errnoText()) }
            defer { close(fd) }
            try own(fd, op)
            fsync(fd)
            try sync(parent.fd)
            return true
        }
    }

    private func removeEmptyDirectory(_ path: String) {
        guard case .success(let (parent, name))? = try? root.parent(of: path) else { return }
        unlinkat(parent.fd, name, AT_REMOVEDIR)
    }

    /// Every directory from the prefix down may be owned only by root or the OS user, and none may be world-writable.
    private func checkChain(_ directory: FileRoot.Directory, _ path: String) throws {
        for (at, info) in directory.chain.dropFirst() {
            // A sticky world-writable directory on the way (like /tmp) is safe: others cannot replace
            // entries they do not own. The target's own directory may not be world-writable at all.
            if info.mode & 0o002 != 0 && (at == directory.path || info.mode & 0o1000 == 0) {
                throw refusal(path, "'\(at)' is writable by everyone (mode \(KeyFileRule.octal(info.mode))); fix its mode first")
            }
            if !trustedOwners.contains(info.uid) {
                throw refusal(path, "'\(at)' is owned by \(SystemAccounts().userName(info.uid)), who is neither root nor the database user; ca does not trust a path another user controls")
            }
        }
    }

    private func takeLock() throws -> Int32 {
        let directory = try root.directory(managedDirectory)
        let fd = openat(directory.fd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failureError(managedDirectory + "/.lock", FileRoot.errnoText()) }
        guard flock(fd, LOCK_EX) == 0 else {
            close(fd)
            throw failureError(managedDirectory + "/.lock", FileRoot.errnoText())
        }
        return fd
    }

    static func isLeftover(_ name: String) -> Bool { name.hasPrefix(".") && name.contains(".ca-tmp-") }

    /// Under the lock nothing else is installing, so every temporary name is a killed install's, and
    /// every generation that `current` does not name is unused.
    private func removeLeftovers(_ operations: [PlannedOperation]) throws {
        var directories = Set<String>()
        for op in operations { directories.insert(Path.parent(op.path)) }
        for op in operations where op.generationName != nil { directories.insert(generationHost(op)) }
        for path in directories.sorted() {
            guard case .success(let directory) = try root.resolveDirectory(path) else { continue }
            for name in (try? FileRoot.list(directory.fd, path: path)) ?? [] where Self.isLeftover(name) {
                removeTree(directory.fd, name)
            }
        }
        for host in Set(operations.compactMap { $0.generationName == nil ? nil : generationHost($0) }) {
            guard case .success(let directory) = try root.resolveDirectory(host) else { continue }
            let current = FileRoot.readLink(directory.fd, "current")
            for name in (try? FileRoot.list(directory.fd, path: host)) ?? [] where name.hasPrefix("g-") && name != current {
                removeTree(directory.fd, name)
            }
        }
    }

    /// Removes a file, a link, or a generation directory (one level of files), never following links.
    private func removeTree(_ directory: Int32, _ name: String) {
        if unlinkat(directory, name, 0) == 0 { return }
        let fd = openat(directory, name, CA_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }
        for entry in (try? FileRoot.list(fd, path: name)) ?? [] { unlinkat(fd, entry, 0) }
        close(fd)
        unlinkat(directory, name, AT_REMOVEDIR)
    }

    // MARK: 2. Looking

    private struct Look {
        var outcome: Outcome
        /// What stands at the target now (nil: nothing).
        var existing: FileRoot.Info?
        /// For a backup: the name the old entry is kept under.
        var backupName: String?
    }

    private func generationHost(_ op: PlannedOperation) -> String {
        Path.parent(Path.parent(op.path))
    }

    private func look(_ op: PlannedOperation) throws -> Look {
        if op.generationName != nil { return try lookInGeneration(op) }
        let parentPath = Path.parent(op.path)
        let name = Path.lastComponent(op.path)
        let parent: FileRoot.Directory
        switch try root.resolveDirectory(parentPath) {
        case .failure(.missing) where dryRun: return Look(outcome: .created)
        case .failure(let failure): throw refusal(op.path, failure.reason)
        case .success(let directory): parent = directory
        }
        try checkChain(parent, op.path)
        guard let info = FileRoot.entry(in: parent.fd, name) else {
            if case .edit = op.rule { throw refusal(op.path, "disappeared since ca read it; run install again") }
            return Look(outcome: .created)
        }
        switch op.kind {
        case .directory:
            guard info.kind == .directory else { throw refusal(op.path, "exists and is \(info.kindName), not a directory") }
            if info.mode & 0o002 != 0 { throw refusal(op.path, "is writable by everyone (mode \(KeyFileRule.octal(info.mode))); ca does not install into it") }
            return Look(outcome: .unchanged, existing: info)
        case .file(let contents, _, let keepForeign):
            try checkRule(op, info, parent)
            switch info.kind {
            case .regular:
                let current = try? FileRoot.read(in: parent.fd, name, path: op.path, limit: max(contents.count, 1 << 20) + 1).bytes
                if current == contents && info.uid == op.uid && info.gid == op.gid && info.mode == op.mode {
                    return Look(outcome: .unchanged, existing: info)
                }
                if keepForeign, let current, !current.isEmpty, !String(decoding: current, as: UTF8.self).contains("Written by ca") {
                    let backup = try freeBackupName(parent, op.path)
                    return Look(outcome: .backedUp(to: backup), existing: info, backupName: Path.lastComponent(backup))
                }
                return Look(outcome: .updated, existing: info)
            case .symlink:
                return Look(outcome: .replacedSymlink(formerTarget: FileRoot.readLink(parent.fd, name) ?? ""), existing: info)
            default:
                throw refusal(op.path, "exists and is \(info.kindName), not a regular file; ca replaces only files and links")
            }
        case .link(let target):
            try checkRule(op, info, parent)
            switch info.kind {
            case .symlink:
                if FileRoot.readLink(parent.fd, name) == target && info.uid == op.uid && info.gid == op.gid {
                    return Look(outcome: .unchanged, existing: info)
                }
                return Look(outcome: .updated, existing: info)
            case .regular:
                if case .systemName = op.rule { return Look(outcome: .updated, existing: info) }  // a file an earlier ca wrote
                let backup = try freeBackupName(parent, op.path)
                return Look(outcome: .backedUp(to: backup), existing: info, backupName: Path.lastComponent(backup))
            default:
                throw refusal(op.path, "exists and is \(info.kindName); ca replaces only files and links")
            }
        }
    }

    /// The rules of `PlannedOperation.Rule` for what stands at a target now.
    private func checkRule(_ op: PlannedOperation, _ info: FileRoot.Info, _ parent: FileRoot.Directory) throws {
        let name = Path.lastComponent(op.path)
        switch op.rule {
        case .standard, .managed:
            return
        case .edit(let identity):
            guard info.kind == .regular, identity.matches(info) else {
                throw refusal(op.path, "changed since ca read it (someone else is editing it); run install again")
            }
        case .systemName(let managedPrefix, let recognised):
            if info.kind == .symlink, let target = FileRoot.readLink(parent.fd, name), target.hasPrefix(managedPrefix) { return }
            if info.kind == .regular, let recognised, recognised.matches(info) { return }
            throw refusal(op.path, "exists and was not written by ca (\(info.kindName)\(info.kind == .symlink ? " to '\(FileRoot.readLink(parent.fd, name) ?? "")'" : "")); ca never replaces a file in /etc/ssl it did not write. Move it away, or give the CA or host another name")
        }
    }

    private func freeBackupName(_ parent: FileRoot.Directory, _ path: String) throws -> String {
        let stamp = now.iso8601.filter { $0.isNumber || $0 == "T" }  // 20270115T080000
        let base = "\(path).ca-backup-\(stamp)"
        for attempt in 0..<100 {
            let candidate = attempt == 0 ? base : "\(base)-\(attempt)"
            if FileRoot.entry(in: parent.fd, Path.lastComponent(candidate)) == nil { return candidate }
        }
        throw refusal(path, "every backup name '\(base)…' is taken")
    }

    private func lookInGeneration(_ op: PlannedOperation) throws -> Look {
        guard case .file(let contents, _, _) = op.kind, let name = op.generationName else { return Look(outcome: .created) }
        let host = generationHost(op)
        if let info = try root.entry(host + "/current"), info.kind != .symlink {
            throw refusal(host + "/current", "is \(info.kindName), not ca's link to the host's current files; move it away")
        }
        guard case .success(let directory) = try root.resolveDirectory(host),
              let current = FileRoot.readLink(directory.fd, "current"), current.hasPrefix("g-"), !current.contains("/") else {
            return Look(outcome: .created)
        }
        guard case .success(let generation) = try root.resolveDirectory(host + "/" + current),
              let existing = try? FileRoot.read(in: generation.fd, name, path: op.path, limit: 1 << 20) else {
            return Look(outcome: .created)
        }
        let info = existing.info
        if existing.bytes == contents && info.uid == op.uid && info.gid == op.gid && info.mode == op.mode {
            return Look(outcome: .unchanged, existing: info)
        }
        return Look(outcome: .updated, existing: info)
    }

    // MARK: 3. Staging

    private struct Step {
        let index: Int
        let parent: FileRoot.Directory
        let name: String
        let temporary: String
        /// The old entry's hard link name, once made (for undo), and whether it is a permanent backup.
        var previous: String?
        let keepPrevious: Bool
        let existed: Bool
        var isGeneration = false
    }

    private struct Staged {
        var steps: [Step] = []
        /// The new generation: the host directory, its name, the old one it replaces.
        var generation: (host: FileRoot.Directory, name: String, old: String?)?
        var operations: [PlannedOperation]
    }

    private func temporaryName(_ name: String) -> String { ".\(name).ca-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" }

    private func stage(_ operations: [PlannedOperation], _ looks: [Look]) throws -> Staged {
        var staged = Staged(operations: operations)
        do {
            // The host's four files: a new generation directory, written completely before anything switches.
            let generationOps = operations.indices.filter { operations[$0].generationName != nil }
            if generationOps.contains(where: { looks[$0].outcome != .unchanged }) {
                let hostPath = generationHost(operations[generationOps[0]])
                let host = try root.directory(hostPath)
                let old = FileRoot.readLink(host.fd, "current")
                let name = "g-\(Int(now.timeIntervalSince1970))-\(UInt32.random(in: 0...UInt32.max))"
                guard mkdirat(host.fd, name, 0o700) == 0 else { throw failureError(hostPath + "/" + name, FileRoot.errnoText()) }
                staged.generation = (host, name, old)
                let generation = try root.directory(hostPath + "/" + name)
                for index in generationOps {
                    let op = operations[index]
                    guard case .file(let contents, _, _) = op.kind, let file = op.generationName else { continue }
                    try writeNew(generation.fd, file, contents, op, path: hostPath + "/" + name + "/" + file)
                }
                let gfd = openat(generation.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                if gfd >= 0 { fchmod(gfd, 0o755); fsync(gfd); close(gfd) }
                // The link that will become `current`.
                let temporary = temporaryName("current")
                guard symlinkat(name, host.fd, temporary) == 0 else { throw failureError(hostPath + "/current", "cannot create the link: \(FileRoot.errnoText())") }
                staged.steps.append(Step(index: generationOps[0], parent: host, name: "current", temporary: temporary, previous: nil,
                                         keepPrevious: false, existed: old != nil, isGeneration: true))
                try sync(host.fd)
            }
            for (index, op) in operations.enumerated() where op.generationName == nil && op.kind != .directory && looks[index].outcome != .unchanged {
                let parentPath = Path.parent(op.path)
                let name = Path.lastComponent(op.path)
                let parent = try root.directory(parentPath)
                let temporary = temporaryName(name)
                switch op.kind {
                case .file(let contents, _, _):
                    try writeNew(parent.fd, temporary, contents, op, path: op.path)
                case .link(let target):
                    guard symlinkat(target, parent.fd, temporary) == 0 else { throw failureError(op.path, "cannot create the link: \(FileRoot.errnoText())") }
                    guard fchownat(parent.fd, temporary, op.uid, op.gid, AT_SYMLINK_NOFOLLOW) == 0 else {
                        let why = FileRoot.errnoText()
                        unlinkat(parent.fd, temporary, 0)
                        throw failureError(op.path, "cannot set the link's owner: \(why)")
                    }
                case .directory:
                    continue
                }
                staged.steps.append(Step(index: index, parent: parent, name: name, temporary: temporary,
                                         previous: looks[index].backupName, keepPrevious: looks[index].backupName != nil,
                                         existed: looks[index].existing != nil))
            }
            for step in staged.steps { try sync(step.parent.fd) }
        } catch {
            discard(staged)
            throw error
        }
        // The generation's step comes first (it was staged first): the links resolve through it.
        return staged
    }

    /// A new file at `name` (O_EXCL, no links): owner and mode before the first byte, then content, fsync.
    private func writeNew(_ directory: Int32, _ name: String, _ contents: [UInt8], _ op: PlannedOperation, path: String) throws {
        let fd = openat(directory, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failureError(path, "cannot create a temporary file: \(FileRoot.errnoText())") }
        var done = false
        defer {
            close(fd)
            if !done { unlinkat(directory, name, 0) }
        }
        try own(fd, op)
        var written = 0
        while written < contents.count {
            let n = contents[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw failureError(path, "write failed: \(FileRoot.errnoText())") }
            written += n
        }
        guard fsync(fd) == 0 else { throw failureError(path, "fsync failed: \(FileRoot.errnoText())") }
        done = true
    }

    /// Removes everything staged (temporary names and the new generation); nothing live was touched.
    private func discard(_ staged: Staged) {
        for step in staged.steps { unlinkat(step.parent.fd, step.temporary, 0) }
        if let generation = staged.generation { removeTree(generation.host.fd, generation.name) }
    }

    // MARK: 4. Switching

    private func switchOver(_ staged: Staged) throws -> [Step] {
        var done: [Step] = []
        do {
            for var step in staged.steps {
                let op = staged.operations[step.index]
                if step.existed {
                    // Recheck what stands there with the same directory descriptor, right before the rename.
                    if !step.isGeneration, let info = FileRoot.entry(in: step.parent.fd, step.name) {
                        try checkRule(op, info, step.parent)
                        if info.kind == .directory { throw failureError(op.path, "became a directory; ca replaces only files and links") }
                    }
                    let keep = step.previous ?? temporaryName(step.name + ".prev")
                    if linkat(step.parent.fd, step.name, step.parent.fd, keep, 0) == 0 {
                        step.previous = keep
                    } else if step.keepPrevious {
                        throw failureError(op.path, "cannot keep the old file as '\(keep)': \(FileRoot.errnoText())")
                    } else {
                        step.previous = nil
                    }
                }
                guard renameat(step.parent.fd, step.temporary, step.parent.fd, step.name) == 0 else {
                    let why = FileRoot.errnoText()
                    if let previous = step.previous { unlinkat(step.parent.fd, previous, 0) }
                    throw failureError(op.path, "rename failed: \(why)")
                }
                done.append(step)
                try? sync(step.parent.fd)
            }
        } catch {
            // Put back what was switched, newest first, then drop what was staged.
            for step in done.reversed() {
                if let previous = step.previous {
                    renameat(step.parent.fd, previous, step.parent.fd, step.name)
                } else {
                    unlinkat(step.parent.fd, step.name, 0)
                }
                try? sync(step.parent.fd)
            }
            discard(staged)
            throw error
        }
        return done
    }

    // MARK: 5. Cleaning up

    private func cleanUp(_ staged: Staged, _ switched: [Step]) {
        for step in switched {
            if let previous = step.previous, !step.keepPrevious { unlinkat(step.parent.fd, previous, 0) }
        }
        if let generation = staged.generation, let old = generation.old, old.hasPrefix("g-"), !old.contains("/") {
            removeTree(generation.host.fd, old)
        }
        for step in staged.steps { try? sync(step.parent.fd) }
    }

    // MARK: Helpers

    private func own(_ fd: Int32, _ op: PlannedOperation) throws {
        guard fchown(fd, op.uid, op.gid) == 0 else {
            throw failureError(op.path, "cannot set owner \(SystemAccounts().userName(op.uid)):\(SystemAccounts().groupName(op.gid)) (\(FileRoot.errnoText())); run as root")
        }
        guard fchmod(fd, op.mode) == 0 else { throw failureError(op.path, "cannot set mode \(KeyFileRule.octal(op.mode)): \(FileRoot.errnoText())") }
    }

    private func sync(_ directory: Int32) throws {
        let fd = openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    private func failureError(_ path: String, _ why: String) -> CAError { .io("cannot install '\(path)': \(why)") }
    /// A refusal before anything was switched: bad state on disk, exit 64.
    private func refusal(_ path: String, _ why: String) -> CAError { .invalid("refusing to install '\(path)': \(why)") }
}
