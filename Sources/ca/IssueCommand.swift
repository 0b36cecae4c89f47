import ArgumentParser
import CAKit
import Foundation

struct IssueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Mint certificates: a host's pair (the default), or a single server or client certificate.",
        discussion: """
            'ca issue HOST' mints the host's server certificate and its replication client certificate; the host's \
            earlier active certificates become superseded (they stay valid until they expire).
            """,
        subcommands: [IssueHostCommand.self, IssueServerCommand.self, IssueClientCommand.self],
        defaultSubcommand: IssueHostCommand.self)
}

/// Options shared by every issue form.
struct LeafOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Key type for the new keys (default: the CA's): \(KeyType.spellings).", valueName: "type"))
    var key: String?

    @Option(name: .long, parsing: .unconditional, help: "Validity in days (default 397, never past the CA's expiry).")
    var days: Int?

    func keyType() throws -> KeyType? { try key.map { try KeyType(parsing: $0) } }
}

struct IssueHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "host", abstract: "Mint a host's server and replication client certificates.")
    @Argument(help: "A registered host (see 'ca host list').") var host: String
    @OptionGroup var leaf: LeafOptions
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let keyType = try leaf.keyType()
        if let days = leaf.days { try Validity.checkDays(days) }
        let name = try HostName(host).value
        let session = try Session(global: global, passphrase: passphrase)
        _ = try session.store.host(named: name)
        try IssueReport(try session.issuer.issue(host: name, keyType: keyType, days: leaf.days)).print(json: global.json)
    }
}

struct IssueServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "server", abstract: "Mint one server certificate outside the host model.")
    @Argument(help: "The certificate's CN, also its first DNS name.") var name: String
    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("More DNS names.", valueName: "name")) var dns: [String] = []
    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("IP addresses.", valueName: "address")) var ip: [String] = []
    @OptionGroup var leaf: LeafOptions
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let keyType = try leaf.keyType()
        let session = try Session(global: global, passphrase: passphrase)
        let result = try session.issuer.issueServer(commonName: name, dnsNames: dns.flatMap { $0.split(separator: ",").map(String.init) },
                                                    ipAddresses: ip.flatMap { $0.split(separator: ",").map(String.init) },
                                                    keyType: keyType, days: leaf.days)
        try IssueReport(result).print(json: global.json)
    }
}

struct IssueClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "client", abstract: "Mint one client certificate for a database role.")
    @Argument(help: "The database role; becomes the CN that PostgreSQL's cert method matches.") var role: String
    @OptionGroup var leaf: LeafOptions
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let keyType = try leaf.keyType()
        let session = try Session(global: global, passphrase: passphrase)
        try IssueReport(try session.issuer.issueClient(role: role, keyType: keyType, days: leaf.days)).print(json: global.json)
    }
}

/// What `issue` prints.
struct IssueReport {
    let result: IssueResult
    init(_ result: IssueResult) { self.result = result }

    struct JSON: Encodable {
        let issued: [CertificateJSON]
        let superseded: [String]
        let warnings: [String]
        /// Hosts whose new keys are to be made there (renew of a --keys host host).
        let waitingForHost: [String]
    }

    func print(json: Bool) throws {
        for warning in result.warnings { Terminal.warning(warning) }
        if json {
            return try Output.json(JSON(issued: result.certificates.map { CertificateJSON($0) },
                                        superseded: result.superseded.map(\.hex), warnings: result.warnings,
                                        waitingForHost: Set(result.waitingForHost.compactMap(\.hostName)).sorted()))
        }
        for record in result.certificates {
            Swift.print("Issued \(record.kind.rawValue) certificate \(record.serial.hex)")
            Swift.print("  subject  \(record.subject)")
            if !record.names.isEmpty { Swift.print("  names    \(record.names.joined(separator: ", "))") }
            Swift.print("  expires  \(record.notAfter.iso8601) (\(Output.relative(record.notAfter)))")
        }
        if !result.superseded.isEmpty {
            Swift.print("Superseded \(result.superseded.count) earlier certificate(s): \(result.superseded.map(\.hex).joined(separator: ", "))")
        }
    }
}
