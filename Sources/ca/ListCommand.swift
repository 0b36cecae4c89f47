import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List issued certificates.",
        discussion: "Filters combine. --expiring 30d shows certificates that are still valid and expire within 30 days.")

    @Option(name: .long, help: "Only this host's certificates.") var host: String?
    @Option(name: .long, help: "Only this status: active, superseded or revoked.") var status: String?
    @Option(name: .long, help: "Only this kind: server or client.") var kind: String?
    @Option(name: .long, help: ArgumentHelp("Only those expiring within this window (30d, 12h, 2w).", valueName: "window")) var expiring: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let now = Clock.now()
        var filter = CertificateFilter(now: now)
        filter.hostName = try host.map { try HostName($0).value }
        filter.status = try status.map { try CertificateStatus(parsing: $0) }
        filter.kind = try kind.map { text in
            guard let kind = CertificateKind(rawValue: text.lowercased()) else {
                throw CAError.invalid("invalid kind '\(text)': expected server or client")
            }
            return kind
        }
        filter.expiringBefore = try expiring.map { now.addingTimeInterval(try Window($0).seconds) }
        let store = try CAStore.open(path: global.databasePath)
        if global.json {
            // Streamed: memory stays flat however many rows there are.
            var stream = CertificateJSONStream(BufferedOutput(), now: now)
            try store.eachCertificate(filter) { try stream.append($0) }
            return try stream.finish()
        }
        var listings: [CertificateListing] = []
        try store.eachCertificate(filter) { listings.append($0) }
        try CertificateTable.write(listings, now: now)
    }
}
