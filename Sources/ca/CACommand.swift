import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

@main
struct CACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "A certificate authority for PostgreSQL streaming replication.",
        discussion: """
            One SQLite file holds the PKI: the root CA, the hosts, every issued certificate and the audit log.
            Start with 'ca demo', or: ca init --name NAME; ca host add db1 --dns db1.example.com --ip 192.0.2.10 --role primary; ca issue db1.

            Exit codes: 0 success, 64 bad input (nothing was changed), 70 internal error, 74 I/O error,
            75 database busy (try again), 77 wrong passphrase.
            """,
        version: CAVersion.current,
        subcommands: [
            InitCommand.self, HostCommand.self, IssueCommand.self, ListCommand.self, ShowCommand.self,
            RevokeCommand.self, RenewCommand.self, RenewCACommand.self, RotateCommand.self,
            BundleCommand.self, CRLCommand.self, ExportCommand.self, InstallCommand.self, RequestCommand.self, SignCommand.self, PgConfigCommand.self,
            DoctorCommand.self, DeployCommand.self, ProbeCommand.self, MaintainCommand.self, MetricsCommand.self, SystemdCommand.self, StatusCommand.self, LogCommand.self, DemoCommand.self,
        ])

    /// Our own errors print as one line (`error: …`) with their exit code; argument-parser's
    /// (usage, --help) keep its formatting.
    static func main() {
        // Before anything else: no core dumps, and the passphrase variables out of the environment.
        ProcessSecrets.capture()
        // The version alone needs no command tree (walking it is a few milliseconds of every start).
        if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "--version" {
            print(CAVersion.current)
            return
        }
        if Clock.offset != 0 { Terminal.warning("CA_TEST_CLOCK_OFFSET moves ca's clock by \(Int(Clock.offset)) s (a test setting; unset it)") }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as CAError {
            Terminal.error(error.message)
            if CommandLine.arguments.contains("--verbose"), case .crypto(_, let details) = error {
                for line in details { Terminal.error("  openssl: \(line)") }
            }
            Glibc.exit(error.exitCode)
        } catch {
            // Help and version keep argument-parser's output; a usage error is one line, exit 64.
            let code = exitCode(for: error)
            if code == .success || error is ExitCode { exit(withError: error) }
            let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "invalid usage"
            Terminal.error((message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message) + ". See 'ca --help'.")
            Glibc.exit(code.rawValue == 0 ? 64 : code.rawValue)
        }
    }
}
