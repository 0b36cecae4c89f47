import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Connect to each server as libpq does and check the certificate it really serves.",
        discussion: """
            For each host: TCP to its first address (else its name) and port, PostgreSQL's SSLRequest, TLS with the \
            host name as SNI; the served chain is verified against the CA's trust bundle for the host name \
            (verify-full) and compared with the inventory's active server certificate. One line per host: OK, \
            DRIFT (serves another certificate than the inventory's), UNTRUSTED (does not verify for the host name, or the CA revoked it), EXPIRING (within 14 days) or \
            UNREACHABLE. In process, no psql or openssl. Exits 1 unless every host is OK. Records each host's result for 'ca status'.
            """)

    @Argument(help: "Hosts to probe (default with --all: every host).") var hosts: [String] = []
    @Flag(name: .long, help: "Probe every host.") var all = false
    @Option(name: .long, help: ArgumentHelp("Connect here instead of the host's first address (one host only).", valueName: "address")) var address: String?
    @Option(name: .long, help: ArgumentHelp("Seconds to wait for the connection and each read.", valueName: "seconds")) var timeout: Int = 5
    @Option(name: .long, help: ArgumentHelp("Hosts probed at once.", valueName: "n")) var parallel: Int = 16
    @OptionGroup var global: GlobalOptions

    func run() throws {
        guard (1...256).contains(parallel) else { throw CAError.invalid("invalid --parallel \(parallel): give 1 to 256") }
        guard (1...120).contains(timeout) else { throw CAError.invalid("invalid --timeout \(timeout): give 1 to 120 seconds") }
        guard all || !hosts.isEmpty else { throw CAError.invalid("no host to probe", fix: "Name the hosts, or give --all.") }
        if all && !hosts.isEmpty { throw CAError.invalid("--all and host names contradict each other", fix: "Give one of them.") }
        if address != nil && hosts.count != 1 { throw CAError.invalid("--address needs exactly one host") }
        if let address { _ = try Self.checkAddress(address) }
        let store = try CAStore.open(path: global.databasePath)
        let targets = all ? try store.hosts() : try hosts.map { try store.host(named: try HostName($0).value) }
        let now = Clock.now()
        // Not recorded with --address: that probes a place, not the host as the inventory knows it.
        let (results, recorded) = try Probe(timeout: TimeInterval(timeout)).run(targets, store: store, address: address, parallel: parallel,
                                                                                  now: now, record: address == nil)
        if let recorded { Terminal.warning("the probe results could not be recorded (\(recorded)); 'ca status' shows the previous ones") }
        if global.json {
            try Output.json(results)
        } else {
            Output.table(["RESULT", "HOST", "ADDRESS", "DETAIL"], results.map { [$0.verdict.rawValue, $0.host, "\($0.address):\($0.port)", Terminal.oneLine($0.reason)] })
        }
        if results.contains(where: { $0.verdict != .ok }) { throw ExitCode(1) }
    }

    /// An address to connect to: an IP literal or a valid host name, nothing else.
    static func checkAddress(_ text: String) throws -> String {
        if (try? IPAddress(text)) != nil { return text }
        return try HostName(text, what: "address").value
    }
}
