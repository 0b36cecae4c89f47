import Foundation

/// What a finished child process left behind.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    /// Runs `executable` with `arguments`, waits, and captures both streams through files
    /// (no pipe can fill up and deadlock).
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           stdin: String? = nil) throws -> ProcessResult {
        let process = try launch(executable, arguments, environment: environment, stdin: stdin)
        return process.wait()
    }

    /// Starts a process without waiting, for tests that run several at once.
    public static func launch(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                              stdin: String? = nil) throws -> Running {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let out = scratch.appendingPathComponent("out"), err = scratch.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        if let stdin {
            let input = scratch.appendingPathComponent("in")
            _ = FileManager.default.createFile(atPath: input.path, contents: Data(stdin.utf8))
            process.standardInput = try FileHandle(forReadingFrom: input)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        return Running(process: process, scratch: scratch)
    }

    public final class Running: @unchecked Sendable {
        let process: Process
        let scratch: URL
        init(process: Process, scratch: URL) { self.process = process; self.scratch = scratch }

        public func wait() -> ProcessResult {
            process.waitUntilExit()
            defer { try? FileManager.default.removeItem(at: scratch) }
            func read(_ name: String) -> String {
                (try? String(contentsOf: scratch.appendingPathComponent(name), encoding: .utf8)) ?? ""
            }
            return ProcessResult(status: process.terminationStatus, stdout: read("out"), stderr: read("err"))
        }
    }
}
