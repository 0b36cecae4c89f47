import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct IssueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Mint certificates: hosts' pairs (the default), or a single server or client certificate.",
        discussion: """
            'ca issue HOST…' mints each host's server certificate and its replication client certificate ('ca issue \
            --all': every host whose keys ca makes); the hosts' earlier active certificates become superseded (they \
            stay valid until they expire).
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
    static let configuration = CommandConfiguration(
        commandName: "host", abstract: "Mint hosts' server and replication client certificates.",
        discussion: """
            Several hosts, or --all, are minted in one process: the CA key is opened once (one passphrase KDF), \
            keys are made and signed on every core, and each batch of \(Issuer.batchSize) hosts is stored in one \
            transaction (a host's pair always commits with the superseding of its earlier certificates). Every \
            name is checked first: an unknown host, or one whose keys are made there, changes nothing.
            """)
    @Argument(help: ArgumentHelp("Registered hosts (see 'ca host list').", valueName: "host")) var hosts: [String] = []
    @Flag(name: .long, help: "Every registered host whose keys ca makes (hosts added with --keys host are left to 'ca deploy').")
    var all = false
    @OptionGroup var leaf: LeafOptions
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if all && !hosts.isEmpty { throw ValidationError("give host names or --all, not both") }
        if !all && hosts.isEmpty { throw ValidationError("name a host (see 'ca host list'), or give --all") }
    }

    func run() throws {
        let keyType = try leaf.keyType()
        if let days = leaf.days { try Validity.checkDays(days) }
        var names = try hosts.map { try HostName($0).value }
        let store = try CAStore.open(path: global.databasePath)
        var chosen: [PostgresHost]? = nil  // --all: the records read here, not read again to issue
        if all {
            let registered = try store.hosts()
            let elsewhere = registered.filter { $0.keyPolicy != .ca }.map(\.name.value)
            let mine = registered.filter { $0.keyPolicy == .ca }
            chosen = mine
            names = mine.map(\.name.value)
            if !elsewhere.isEmpty {
                Terminal.note("left \(elsewhere.count) host(s) whose keys are made there to 'ca deploy': \(elsewhere.joined(separator: ", "))")
            }
            guard !names.isEmpty else {
                throw CAError.invalid(registered.isEmpty ? "no host is registered" : "no registered host has its keys made by ca",
                                      fix: registered.isEmpty ? "Add one with 'ca host add'." : "Use 'ca deploy' (or 'ca request' and 'ca sign') for them.")
            }
        } else {
            for name in names { _ = try store.host(named: name) }
        }
        let session = try Session(global: global, passphrase: passphrase)
        let bar = names.count > Issuer.batchSize && isatty(STDERR_FILENO) == 1 && !global.json
        let report = { (progress: Rotation.Progress) in
            if bar { Terminal.progressBar(done: progress.done, total: progress.total) }
        }
        let result = try chosen.map { try session.issuer.issue(registered: $0, keyType: keyType, days: leaf.days, progress: report) }
            ?? session.issuer.issue(hosts: names, keyType: keyType, days: leaf.days, progress: report)
        if bar { Terminal.endProgressBar() }
        try IssueReport(result).print(json: global.json)
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
        let hosts = Set(result.certificates.compactMap(\.hostName))
        if hosts.count > 1 {
            // Many hosts: one line each, then the totals.
            var byHost: [String: [CertificateRecord]] = [:]
            for record in result.certificates { byHost[record.hostName ?? "", default: []].append(record) }
            var printed = Set<String>()
            for record in result.certificates {
                guard let host = record.hostName, printed.insert(host).inserted, let records = byHost[host] else { continue }
                let serials = records.map { "\($0.kind.rawValue) \($0.serial.hex)" }.joined(separator: ", ")
                Swift.print("Issued \(host): \(serials); expires \(records[0].notAfter.iso8601)")
            }
            Swift.print("Issued \(result.certificates.count) certificates for \(hosts.count) hosts.")
        } else {
            for record in result.certificates {
                Swift.print("Issued \(record.kind.rawValue) certificate \(record.serial.hex)")
                Swift.print("  subject  \(record.subject)")
                if !record.names.isEmpty { Swift.print("  names    \(record.names.joined(separator: ", "))") }
                Swift.print("  expires  \(record.notAfter.iso8601) (\(Output.relative(record.notAfter)))")
            }
        }
        if hosts.count > 1, !result.superseded.isEmpty {
            Swift.print("Superseded \(result.superseded.count) earlier certificate(s).")
        } else if !result.superseded.isEmpty {
            Swift.print("Superseded \(result.superseded.count) earlier certificate(s): \(result.superseded.map(\.hex).joined(separator: ", "))")
        }
    }
}
