import CAKit
import Foundation

/// What a finished child process left behind.
public struct ProcessResult: Sendable {
    /// The exit status, or 128 + the signal that ended the process.
    public let status: Int32
    public let stdout: String
    public let stderr: String

    /// Runs `executable` with `arguments`, waits, and captures both streams through files.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           stdin: String? = nil) throws -> ProcessResult {
        try launch(executable, arguments, environment: environment, stdin: stdin).wait()
    }

    /// Starts a process without waiting, for tests that run several at once. posix_spawn, not
    /// Foundation's Process: a child that leaves daemons behind (ca demo --postgres) must not hang us.
    public static func launch(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                              stdin: String? = nil) throws -> Running {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        var input = "/dev/null"
        if let stdin {
            input = scratch.appendingPathComponent("in").path
            _ = FileManager.default.createFile(atPath: input, contents: Data(stdin.utf8))
        }
        let pid = try Spawn.start([executable] + arguments, stdin: input, stdout: scratch.appendingPathComponent("out").path,
                                  stderr: scratch.appendingPathComponent("err").path,
                                  environment: environment ?? ProcessInfo.processInfo.environment)
        return Running(pid: pid, scratch: scratch)
    }

    public final class Running: @unchecked Sendable {
        public let pid: pid_t
        let scratch: URL
        init(pid: pid_t, scratch: URL) { self.pid = pid; self.scratch = scratch }

        public func wait() -> ProcessResult {
            let status = Spawn.wait(pid)
            defer { try? FileManager.default.removeItem(at: scratch) }
            func read(_ name: String) -> String {
                (try? String(contentsOf: scratch.appendingPathComponent(name), encoding: .utf8)) ?? ""
            }
            return ProcessResult(status: status, stdout: read("out"), stderr: read("err"))
        }
    }
}
