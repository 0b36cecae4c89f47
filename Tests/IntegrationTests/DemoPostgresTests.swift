import CAKit
import Foundation
import TestSupport
import Testing

/// `ca demo --postgres` tells the story and leaves two servers running with a working stop command.
@Suite(.serialized, .enabled(if: PostgresAvailability.enabled, "PostgreSQL server binaries or root missing"))
struct DemoPostgresTests {
    @Test func demoReplicatesRotatesAndPrintsAStopCommandThatWorks() throws {
        let scratch = try Scratch()
        chmod(scratch.path, 0o755)
        let root = scratch.file("demo")
        let demo = try CABinary.run(["demo", "--postgres", "--dir", root])
        let pids = ["db1", "db2"].compactMap { try? String(contentsOfFile: "\(root)/pg/\($0)/postmaster.pid", encoding: .utf8) }
            .compactMap { $0.split(separator: "\n").first.flatMap { Int32($0) } }
        defer { for pid in pids { kill(pid, SIGINT) } }
        #expect(demo.status == 0, "\(demo.stdout)\n\(demo.stderr)")
        for line in ["1. Made the CA", "2. doctor: db1.demo.internal", "0 FAIL", "Stage 3: the old root retired", "Stop them with:"] {
            #expect(demo.stdout.contains(line), "missing '\(line)' in:\n\(demo.stdout)")
        }
        #expect(pids.count == 2)
        #expect(pids.allSatisfy { kill($0, 0) == 0 }, "the servers should be left running")
        let stop = try #require(demo.stdout.components(separatedBy: "\n").last { $0.contains("pg_ctl") && $0.contains("stop") })
        let stopped = try ProcessResult.run("/bin/sh", ["-c", stop.trimmingCharacters(in: .whitespaces)])
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(LocalCluster.wait(timeout: 10) { pids.allSatisfy { kill($0, 0) != 0 } })
    }
}
