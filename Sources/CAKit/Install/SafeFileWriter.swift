import Foundation
import Glibc

/// Applies planned operations with *at() system calls on a directory opened O_NOFOLLOW, so a
/// symlink planted at a target name is replaced, never followed, and its target never touched.
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

    public let now: Date
    public let dryRun: Bool

    public init(now: Date, dryRun: Bool) {
        self.now = now
        self.dryRun = dryRun
    }

    public func apply(_ op: PlannedOperation) throws -> Outcome {
        switch op.kind {
        case .directory: return try ensureDirectory(op)
        case .file(let contents, _, let keepForeign): return try writeFile(op, contents: contents, keepForeign: keepForeign)
        case .link(let target): return try makeLink(op, target: target)
        }
    }

    // MARK: Directories

    private func ensureDirectory(_ op: PlannedOperation) throws -> Outcome {
        var info = stat()
        if lstat(op.path, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFDIR: return .unchanged
            case S_IFLNK: throw failure(op.path, "is a symbolic link; ca does not write through links")
            default: throw failure(op.path, "exists and is not a directory")
            }
        }
        if dryRun { return .created }
        let parent = (op.path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != op.path {
            var parentInfo = stat()
            if stat(parent, &parentInfo) != 0 {
                _ = try ensureDirectory(PlannedOperation(path: parent, kind: .directory, uid: 0, gid: 0, mode: 0o755, purpose: "parent"))
            }
        }
        let directory = try openParent(op.path)
        defer { close(directory.fd) }
        guard mkdirat(directory.fd, directory.name, 0o700) == 0 else { throw failure(op.path, errnoText()) }
        let fd = openat(directory.fd, directory.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw failure(op.path, errnoText()) }
        defer { close(fd) }
        try own(fd, op)
        fsync(directory.fd)
        return .created
    }

    // MARK: Files

    private func writeFile(_ op: PlannedOperation, contents: [UInt8], keepForeign: Bool) throws -> Outcome {
        let directory = try openParent(op.path)
        defer { close(directory.fd) }
        var info = stat()
        var outcome = Outcome.created
        if fstatat(directory.fd, directory.name, &info, AT_SYMLINK_NOFOLLOW) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                let current = readAll(directory.fd, directory.name)
                if current == contents && info.st_uid == op.uid && info.st_gid == op.gid && info.st_mode & 0o7777 == op.mode { return .unchanged }
                outcome = .updated
                if keepForeign, let current, !current.isEmpty, !String(decoding: current, as: UTF8.self).contains("Written by ca") {
                    outcome = .backedUp(to: try backup(directory, op.path))
                }
            case S_IFLNK:
                outcome = .replacedSymlink(formerTarget: readLink(directory.fd, directory.name))
            default:
                throw failure(op.path, "exists and is not a regular file")
            }
        }
        if dryRun { return outcome }

        let temporary = ".\(directory.name).ca-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // Created 0600 and owned by us; owner and final mode are set before the first byte.
        let fd = openat(directory.fd, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure(op.path, "cannot create a temporary file: \(errnoText())") }
        var done = false
        defer {
            close(fd)
            if !done { unlinkat(directory.fd, temporary, 0) }
        }
        try own(fd, op)
        var written = 0
        while written < contents.count {
            let n = contents[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw failure(op.path, "write failed: \(errnoText())") }
            written += n
        }
        guard fsync(fd) == 0 else { throw failure(op.path, "fsync failed: \(errnoText())") }
        guard renameat(directory.fd, temporary, directory.fd, directory.name) == 0 else { throw failure(op.path, "rename failed: \(errnoText())") }
        done = true
        fsync(directory.fd)
        return outcome
    }

    // MARK: Links

    private func makeLink(_ op: PlannedOperation, target: String) throws -> Outcome {
        let directory = try openParent(op.path)
        defer { close(directory.fd) }
        var info = stat()
        var outcome = Outcome.created
        if fstatat(directory.fd, directory.name, &info, AT_SYMLINK_NOFOLLOW) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFLNK:
                if readLink(directory.fd, directory.name) == target {
                    if info.st_uid == op.uid && info.st_gid == op.gid { return .unchanged }
                    if !dryRun, fchownat(directory.fd, directory.name, op.uid, op.gid, AT_SYMLINK_NOFOLLOW) != 0 {
                        throw failure(op.path, "cannot set the link's owner: \(errnoText())")
                    }
                    return .updated
                }
                outcome = .updated
            case S_IFREG:
                outcome = .backedUp(to: dryRun ? backupName(op.path) : try backup(directory, op.path))
            default:
                throw failure(op.path, "exists and is neither a file nor a link")
            }
        }
        if dryRun { return outcome }
        let temporary = ".\(directory.name).ca-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard symlinkat(target, directory.fd, temporary) == 0 else { throw failure(op.path, "cannot create the link: \(errnoText())") }
        guard fchownat(directory.fd, temporary, op.uid, op.gid, AT_SYMLINK_NOFOLLOW) == 0 else {
            let reason = errnoText()
            unlinkat(directory.fd, temporary, 0)
            throw failure(op.path, "cannot set the link's owner: \(reason)")
        }
        guard renameat(directory.fd, temporary, directory.fd, directory.name) == 0 else {
            let reason = errnoText()
            unlinkat(directory.fd, temporary, 0)
            throw failure(op.path, "rename failed: \(reason)")
        }
        fsync(directory.fd)
        return outcome
    }

    // MARK: Helpers

    private struct Parent { let fd: Int32; let name: String }

    /// Opens the parent directory itself with O_NOFOLLOW: the last directory on the path is never a link.
    private func openParent(_ path: String) throws -> Parent {
        let parent = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let fd = open(parent.isEmpty ? "." : parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            if dryRun && errno == ENOENT { return Parent(fd: open("/dev/null", O_RDONLY | O_CLOEXEC), name: name) }
            throw failure(parent, errno == ELOOP ? "is a symbolic link; ca does not write through links" : errnoText())
        }
        return Parent(fd: fd, name: name)
    }

    private func own(_ fd: Int32, _ op: PlannedOperation) throws {
        guard fchown(fd, op.uid, op.gid) == 0 else {
            throw failure(op.path, "cannot set owner \(SystemAccounts().userName(op.uid)):\(SystemAccounts().groupName(op.gid)) (\(errnoText())); run as root")
        }
        guard fchmod(fd, op.mode) == 0 else { throw failure(op.path, "cannot set mode \(KeyFileRule.octal(op.mode)): \(errnoText())") }
    }

    private func backupName(_ path: String) -> String {
        let stamp = ISO8601DateFormatter.string(from: now, timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withYear, .withMonth, .withDay, .withTime])
            .replacingOccurrences(of: ":", with: "")
        return "\(path).ca-backup-\(stamp)"
    }

    private func backup(_ directory: Parent, _ path: String) throws -> String {
        let target = backupName(path)
        let name = (target as NSString).lastPathComponent
        var info = stat()
        guard fstatat(directory.fd, name, &info, AT_SYMLINK_NOFOLLOW) != 0 else { throw failure(path, "the backup '\(target)' already exists") }
        guard renameat(directory.fd, directory.name, directory.fd, name) == 0 else { throw failure(path, "cannot move it aside: \(errnoText())") }
        return target
    }

    private func readAll(_ directory: Int32, _ name: String) -> [UInt8]? {
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    private func readLink(_ directory: Int32, _ name: String) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(directory, name, &buffer, buffer.count - 1)
        guard n >= 0 else { return "" }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func errnoText() -> String { String(cString: strerror(errno)) }
    private func failure(_ path: String, _ why: String) -> CAError { .io("cannot install '\(path)': \(why)") }
}
