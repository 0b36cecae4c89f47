import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct InstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Install a host's certificates under /etc/ssl, link them into the data directory, wire the config.",
        discussion: """
            Files: /etc/ssl/certs/<ca>.crt (trust), /etc/ssl/crl/<ca>.crl, /etc/ssl/certs/<host>.crt, \
            /etc/ssl/private/<host>.key (root:ssl-cert 0640 on 9.6+ when the OS user is in ssl-cert, else \
            postgres:postgres 0600), /etc/ssl/certs/<host>-replication.crt, /etc/ssl/private/<host>-replication.key (0600). \
            --link adds server.crt, server.key, root.crt, root.crl in the data directory and the libpq files in \
            ~postgres/.postgresql. --configure writes conf.d/ca-ssl.conf, a marked block at the top of pg_hba.conf, \
            and on a standby primary_conninfo (recovery.conf up to 11, standby.signal from 12). \
            Every check runs before the first write; a second run changes nothing.
            """)

    @Argument(help: "A host in the CA database (or use --bundle).") var host: String?
    @Option(name: .long, help: ArgumentHelp("Install from a host bundle made by 'ca export' ('-' for standard input).", valueName: "file")) var bundle: String?
    @Option(name: .long, help: ArgumentHelp("Prefix for every path, link targets included (a staged tree).", valueName: "dir")) var root: String?
    @Flag(name: .long, help: "Create the data-directory links and the libpq client links.") var link = false
    @Flag(name: .long, help: "Write the PostgreSQL configuration (needs --link).") var configure = false
    @Flag(name: .long, help: "Reload PostgreSQL afterwards (10+; earlier versions need a restart).") var reload = false
    @Flag(name: .long, help: "Restart PostgreSQL afterwards (drops every connection; only when asked).") var restart = false
    @Flag(name: .long, help: "Print every operation without writing anything.") var dryRun = false
    @Flag(name: .long, help: "On a standby whose replication certificate changed: end its walreceiver so it reconnects with the new one now.") var reconnect = false
    @Option(name: .long, help: ArgumentHelp("Read the bundle passphrase from this file (else CA_BUNDLE_PASSPHRASE, else a prompt).", valueName: "file")) var bundlePassphraseFile: String?
    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("For a host that trusts no CA yet: the SHA-256 fingerprint of the CA that signed the bundle (fingerprint_sha256 in 'ca bundle --json'). Later installs check the installed trust bundle.", valueName: "sha256")) var caFingerprint: [String] = []
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    struct JSON: Encodable {
        struct Operation: Encodable {
            let path: String
            let kind: String
            let purpose: String
            let owner: String
            let group: String
            let mode: String
            let target: String?
            let outcome: String
            let backup: String?
        }
        let host: String
        let root: String
        let dryRun: Bool
        let changed: Bool
        let operations: [Operation]
        let notes: [String]
    }

    func run() throws {
        guard (host == nil) != (bundle == nil) else {
            throw CAError.invalid("give a host or --bundle FILE, not \(host == nil ? "neither" : "both")")
        }
        let rootPrefix = try root.map { try AbsolutePath($0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0, what: "--root").value } ?? ""
        let hostName = try host.map { try HostName($0).value }
        let options = InstallPlanner.Options(root: rootPrefix, link: link, configure: configure)
        if let hostName {
            let session = try Session(global: global, passphrase: passphrase)
            _ = try session.store.host(named: hostName)
            let report = try Installer().install(hostName: hostName, store: session.store, vault: session.vault, options: options,
                                                 dryRun: dryRun, reload: reload, restart: restart, reconnect: reconnect)
            return try print(report, host: hostName, root: rootPrefix)
        }
        // From a bundle there is no database to record the deployment in.
        let pins = try Self.pins(caFingerprint)
        let files = try FileRoot(prefix: rootPrefix)
        let trust = HostBundle.Trust(installed: { caName in InstalledTrust.certificates(caName: caName, root: files) }, pinned: pins)
        let material = try HostBundle.decode(try readBundle(bundle!), trust: trust) { try SecretSource.bundle(file: bundlePassphraseFile).resolve(confirm: false) }
        let plan = try InstallPlanner().plan(material, options: options)
        let report = try Installer().apply(plan, dryRun: dryRun, reload: reload, restart: restart, reconnect: reconnect, now: options.now)
        try print(report, host: material.host.name.value, root: rootPrefix)
    }

    /// --ca-fingerprint values: 64 hex digits each, colons allowed, several per option with commas.
    static func pins(_ values: [String]) throws -> [String] {
        try values.flatMap { $0.split(separator: ",").map(String.init) }.map { pin -> String in
            let clean = pin.filter { $0 != ":" }.lowercased()
            guard clean.count == 64, clean.allSatisfy(\.isHexDigit) else {
                throw CAError.invalid("invalid --ca-fingerprint '\(pin.quotedForErrorLine)': expected 64 hex digits (SHA-256), colons allowed")
            }
            return clean
        }
    }

    private func readBundle(_ path: String) throws -> String {
        String(decoding: try InputFile.read(path, limit: HostBundle.maximumSize, what: "host bundle", fix: "Make one with 'ca export HOST -o FILE'."), as: UTF8.self)
    }

    private func print(_ report: Installer.Report, host: String, root: String) throws {
        let accounts = SystemAccounts()
        if global.json {
            return try Output.json(JSON(host: host, root: root, dryRun: dryRun, changed: report.changed, operations: report.entries.map { entry in
                let op = entry.operation
                var target: String?
                var kind = "file"
                switch op.kind {
                case .directory: kind = "directory"
                case .link(let to): kind = "link"; target = to
                case .file: break
                }
                var backup: String?
                if case .backedUp(let to) = entry.outcome { backup = to }
                return JSON.Operation(path: op.path, kind: kind, purpose: op.purpose, owner: accounts.userName(op.uid), group: accounts.groupName(op.gid),
                                      mode: KeyFileRuleText.octal(op.mode), target: target, outcome: entry.outcome.word, backup: backup)
            }, notes: report.notes))
        }
        Output.table(["OUTCOME", "OWNER", "MODE", "PATH"], report.entries.map { entry in
            let op = entry.operation
            var path = op.path
            if case .link(let target) = op.kind { path += " -> \(target)" }
            if case .backedUp(let to) = entry.outcome { path += "  (old file kept as \(to))" }
            if case .replacedSymlink(let former) = entry.outcome { path += "  (replaced a symlink to \(former); its target untouched)" }
            var mode = KeyFileRuleText.octal(op.mode)
            if case .link = op.kind { mode = "link" }
            return [dryRun && entry.outcome != .unchanged ? "would: " + entry.outcome.word : entry.outcome.word,
                    "\(accounts.userName(op.uid)):\(accounts.groupName(op.gid))", mode, path]
        })
        for note in report.notes { Swift.print(note) }
        // The last line says what happened, counted: the table above is the detail.
        var counts: [String: Int] = [:]
        for entry in report.entries { counts[entry.outcome.word, default: 0] += 1 }
        let order = ["created", "updated", "replaced-symlink", "backed-up", "unchanged"]
        let tally = order.compactMap { word in counts[word].map { "\($0) \(word)" } }.joined(separator: ", ")
        let place = "'\(host)'\(root.isEmpty ? "" : " under \(root)")"
        if !report.changed {
            Swift.print("Nothing changed for \(place) (\(tally)).")
        } else {
            Swift.print("\(dryRun ? "Would install" : "Installed") \(place): \(tally).")
        }
    }
}

extension SafeFileWriter.Outcome {
    var word: String {
        switch self {
        case .created: return "created"
        case .updated: return "updated"
        case .unchanged: return "unchanged"
        case .replacedSymlink: return "replaced-symlink"
        case .backedUp: return "backed-up"
        }
    }
}

enum KeyFileRuleText {
    static func octal(_ mode: UInt32) -> String { { let digits = String(mode, radix: 8); return String(repeating: "0", count: max(0, 4 - digits.count)) + digits }() }
}
