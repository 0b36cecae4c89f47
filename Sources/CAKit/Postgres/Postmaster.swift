import CSystem
import FoundationEssentials
import Glibc

/// The postmaster of one data directory, proven before ca signals it. `postmaster.pid` is written by
/// the OS user, so it is read through `FileRoot` (no link, bounded) and the PID it names is trusted only
/// once /proc shows that process is `postgres`, run by the OS user, with the data directory itself as
/// its working directory. The signal goes through a pidfd taken before the checks, so a PID reused
/// meanwhile is never signalled. `install --reload` and `LocalCluster.stop` both come through here.
public final class Postmaster {
    public let pid: Int32
    /// The program it runs (/proc/PID/exe): its pg_ctl is beside it, whatever the packaging.
    public let program: String
    private let pidfd: Int32

    private init(pid: Int32, program: String, pidfd: Int32) {
        self.pid = pid
        self.program = program
        self.pidfd = pidfd
    }

    deinit { close(pidfd) }

    public enum Lookup {
        case verified(Postmaster)
        case notRunning
        /// postmaster.pid names something that is not this postmaster (or nothing usable).
        case refused(pid: Int32?, String)
    }

    public static func find(dataDirectory: String, osUser: String, root: FileRoot) -> Lookup {
        guard let read = try? root.read(dataDirectory + "/postmaster.pid", limit: 64 << 10) else { return .notRunning }
        guard let pid = String(decoding: read.bytes, as: UTF8.self).split(separator: "\n").first
            .flatMap({ Int32($0.trimmedSpaces) }), pid > 1 else {
            return .refused(pid: nil, "\(dataDirectory)/postmaster.pid names no process")
        }
        let pidfd = ca_pidfd_open(pid)
        guard pidfd >= 0 else { return .refused(pid: pid, "no such process (\(String(cString: strerror(errno))))") }
        func refuse(_ why: String) -> Lookup { close(pidfd); return .refused(pid: pid, why) }
        guard let user = SystemAccounts().user(osUser) else { return refuse("the OS user '\(osUser)' does not exist") }
        // procfs is the kernel's own view of the process, read through FileRoot all the same (no link
        // followed on the way, bounded). The exe and cwd entries below are the kernel's magic links to the
        // process's own program and directory: following them is the point, and no user can replace them.
        guard let proc = try? FileRoot(), let read = try? proc.read("/proc/\(pid)/status", limit: 64 << 10),
              case let status = String(decoding: read.bytes, as: UTF8.self),
              let uids = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") })?.split(separator: "\t").dropFirst().compactMap({ UInt32($0) }),
              !uids.isEmpty else { return refuse("its /proc entry cannot be read") }
        guard uids.allSatisfy({ $0 == user.uid }) else { return refuse("it runs as \(SystemAccounts().userName(uids.first ?? 0)), not '\(user.name)'") }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
        guard ["postgres", "postmaster"].contains(Path.lastComponent(exe)) else { return refuse("its program is '\(exe)', not postgres") }
        var cwd = stat()
        guard stat("/proc/\(pid)/cwd", &cwd) == 0, let data = try? root.directory(dataDirectory),
              UInt64(cwd.st_dev) == data.info.device, UInt64(cwd.st_ino) == data.info.inode else {
            return refuse("its working directory is not the data directory")
        }
        // Still the same process: a signal 0 through the pidfd fails if it exited meanwhile.
        guard ca_pidfd_send_signal(pidfd, 0) == 0 else { return refuse("it exited") }
        return .verified(Postmaster(pid: pid, program: exe, pidfd: pidfd))
    }

    /// Ends this postmaster's walreceiver (a standby's replication connection): the startup process
    /// starts a new one, which connects with the certificate and key installed now. The walreceiver is
    /// found as a child of this verified postmaster, run by the same user, whose title says
    /// "walreceiver", and is signalled through a pidfd taken before those checks. Returns its PID, or
    /// nil when there is none (not a standby, or not connected).
    public func endWalreceiver(osUser: String) -> Int32? {
        guard let user = SystemAccounts().user(osUser), let proc = try? FileRoot(),
              let names = try? proc.list("/proc") else { return nil }
        for name in names {
            guard let pid = Int32(name), pid > 1, pid != self.pid else { continue }
            let child = ca_pidfd_open(pid)
            guard child >= 0 else { continue }
            defer { close(child) }
            guard let stat = try? proc.read("/proc/\(pid)/stat", limit: 4096),
                  case let text = String(decoding: stat.bytes, as: UTF8.self),
                  let endOfName = text.lastIndex(of: ")"),
                  case let fields = text[text.index(after: endOfName)...].split(separator: " "),
                  fields.count > 2, Int32(fields[1]) == self.pid,
                  stat.info.uid == user.uid,
                  let cmdline = try? proc.read("/proc/\(pid)/cmdline", limit: 4096),
                  case let title = String(decoding: cmdline.bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self),
                  title.hasPrefix("postgres: "), title.contains("walreceiver") else { continue }
            return ca_pidfd_send_signal(child, SIGTERM) == 0 ? pid : nil
        }
        return nil
    }

    /// Sends `signal` to this process (never to whatever now has its PID); false with errno set on failure.
    public func signal(_ signal: Int32) -> Bool { ca_pidfd_send_signal(pidfd, signal) == 0 }

    /// Whether the process is still alive.
    public var isAlive: Bool { signal(0) }
}
