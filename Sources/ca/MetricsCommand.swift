import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "The inventory as Prometheus text, for node_exporter's textfile collector.",
        discussion: """
            Per active certificate its expiry (host, kind, serial); per trusted CA its expiry and its CRL's nextUpdate; \
            per host its last deployment, whether it is up to date, whether its last deploy failed, and its last probe; \
            the time of the last successful 'ca maintain'. With -o FILE the file is replaced atomically (a new file in \
            the same directory, fsynced, renamed), as the textfile collector requires: point -o at its directory, \
            e.g. -o /var/lib/prometheus/node-exporter/ca.prom. No passphrase needed. Example alert rules: the README.
            """)

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file (replaced atomically, mode 0644) instead of standard output.", valueName: "file")) var output: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let store = try CAStore.open(path: global.databasePath)
        let text = try Exposition.text(store: store, now: Clock.now())
        if let output, output != "-" {
            guard output.hasSuffix(".prom") else {
                throw CAError.invalid("invalid -o '\(output.quotedForErrorLine)': the textfile collector reads only files ending in .prom", fix: "Name it e.g. ca.prom.")
            }
            try SecretFile.write(text, to: output, mode: 0o644)
        } else {
            print(text, terminator: "")
        }
    }
}
