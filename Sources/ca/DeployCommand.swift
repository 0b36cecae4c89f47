import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Carry each host's certificates over ssh and install them there; record what each host runs.",
        discussion: """
            For each host: 'ca --version' there (it must be \(CAVersion.minimumRemote) or later), then 'ca install --bundle - \
            --link --configure --reload' there with the host's bundle on ssh's standard input. ssh reaches a host by its \
            name, with your ~/.ssh/config (HostName, User, ProxyJump …), in batch mode: no password prompt. The remote \
            must run install as root: log in as root, or give --remote-ca 'sudo -n ca'. \
            The keys travel only inside the ssh channel (a bundle with plain keys, signed by the CA): never on a command \
            line, in a file or in an environment; the remote writes them only to their final place. A host ca never \
            installed is sent the CA's fingerprint for its first install; later ones check the trust it already has. \
            Standbys go before primaries, at most --parallel at once. A deployment is recorded only after the remote \
            reported success. With --all, hosts whose last deployment has exactly the current material (and whose last \
            probe found nothing wrong) are not contacted: a rerun does only what is left. Named hosts are always deployed. \
            A host that makes its own keys (--keys host) and needs certificates (none yet, a renewal with new keys, \
            or --new-key) first runs 'ca request --bundle -' there; its requests come back over ssh, are signed here \
            against its record, and its install follows in the same run. No private key crosses the network. \
            Exits 0 when every host has its material, 1 when any is left (each named with the remote's own error).
            Example: ca deploy --all   (after 'ca rotate start', 'reissue' and 'finish', and after any renewal)
            """)

    @Argument(help: "Hosts to deploy (always contacted).") var hosts: [String] = []
    @Flag(name: .long, help: "Every host; those already up to date are skipped.") var all = false
    @Flag(name: .long, help: "With --all, contact the hosts that are up to date too.") var force = false
    @Flag(name: .long, help: "Print each host's own plan (its install --dry-run); write nothing here or there.") var dryRun = false
    @Option(name: .long, help: ArgumentHelp("Hosts at once.", valueName: "n")) var parallel: Int = 8
    @Flag(name: .long, help: "Only the files under /etc/ssl: no data-directory links, config or reload (a standby before its pg_basebackup).") var filesOnly = false
    @Flag(name: .long, help: "Send the CA's fingerprint to every host, not only to those ca never installed (a host whose trust bundle was lost).") var pin = false
    @Flag(name: .long, help: "Hosts that make their own keys make new ones (a renewal with new keys); 'ca renew' asks for this by itself.") var newKey = false
    @Flag(name: .long, help: "A standby whose replication certificate changed ends its walreceiver connection, so it reconnects with the new one now.") var reconnect = false
    @OptionGroup var remote: SSHOptions
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        guard all || !hosts.isEmpty else { throw CAError.invalid("no host to deploy", fix: "Name the hosts, or give --all.") }
        if all && !hosts.isEmpty { throw CAError.invalid("--all and host names contradict each other", fix: "Give one of them.") }
        if force && !all { throw CAError.invalid("--force goes with --all (named hosts are always deployed)") }
        guard (1...64).contains(parallel) else { throw CAError.invalid("invalid --parallel \(parallel): give 1 to 64") }
        let names = try hosts.map { try HostName($0).value }
        let transport = try remote.transport()
        let session = try Session(global: global, passphrase: passphrase)
        var seen = Set<String>()
        let targets = all ? try session.store.hosts() : try names.filter { seen.insert($0).inserted }.map { try session.store.host(named: $0) }
        guard !targets.isEmpty else { throw CAError.invalid("the CA has no hosts to deploy", fix: "Add one with 'ca host add'.") }

        let now = Clock.now()
        if newKey, let other = targets.first(where: { $0.keyPolicy == .ca }), !all {
            throw CAError.invalid("--new-key is for hosts that make their own keys; '\(other.name)' has its keys made by the CA",
                                  fix: "Renew it with 'ca renew --host \(other.name)' (new keys by default) and deploy it.")
        }
        let width = targets.map(\.name.value.utf8.count).max() ?? 0
        var options = FleetDeploy.Options()
        options.dryRun = dryRun
        options.skipCurrent = all && !force
        options.pinAll = pin
        options.filesOnly = filesOnly
        options.newKey = newKey
        options.reconnect = reconnect
        options.parallel = parallel
        let fleet = FleetDeploy(store: session.store, vault: session.vault, transport: transport)
        let results = try fleet.run(targets, options: options, now: now, events: Self.events(json: global.json) { Self.line($0, width: width, dryRun: dryRun) })
        for warning in fleet.recordingWarnings { Terminal.warning(warning) }
        let failed = results.filter { !$0.succeeded }
        if global.json {
            try Output.json(results)
        } else {
            summary(results, failed: failed, store: session.store)
        }
        if !failed.isEmpty { throw ExitCode(1) }
    }

    /// Progress on standard error (a terminal only) and one line per host as it ends.
    static func events(json: Bool, line: @escaping (Deployer.Result) -> Void) -> FleetDeploy.Events {
        let enabled = !json && isatty(STDERR_FILENO) == 1
        var progress = Progress(total: 0, enabled: false)
        var events = FleetDeploy.Events()
        events.phase = { verb, total in progress.clear(); progress = Progress(total: total, enabled: enabled, verb: verb) }
        events.started = { progress.start($0) }
        events.finished = { result in
            progress.finish(result.host)
            if !json { progress.clear(); line(result); progress.draw() }
            if progress.done == progress.total { progress.clear() }
        }
        events.skipped = { result in if !json { line(result) } }
        return events
    }

    static func line(_ result: Deployer.Result, width: Int, dryRun: Bool) {
        let word = result.result.rawValue.uppercased()
        let host = result.host + String(repeating: " ", count: max(0, width - result.host.utf8.count))
        var detail: String
        switch result.result {
        case .failed:
            detail = "[\(result.stage?.rawValue ?? "?")] \(result.error ?? "")"
        case .upToDate:
            detail = "nothing new since its deployment\(result.deployedAt.map { " at \($0.iso8601)" } ?? ""); not contacted (--force to)"
        default:
            let counts = ["created", "updated", "replaced-symlink", "backed-up", "unchanged"].compactMap { key in result.counts?[key].map { "\($0) \(key)" } }
            detail = counts.joined(separator: ", ")
            if let reload = result.notes?.first(where: { $0.hasPrefix("reloaded") || $0.hasPrefix("PostgreSQL is not running") || $0.hasPrefix("did not reload") }) {
                detail += "; " + (reload.hasPrefix("reloaded") ? String(reload.prefix { $0 != ";" }) : reload)
            }
            if !dryRun { detail += "; server \(result.serverSerial?.prefix(12) ?? "-"), client \(result.clientSerial?.prefix(12) ?? "-")" }
            detail += " (\(result.seconds.fixed(1)) s)"
        }
        print("\(word.padded(to: 14))\(host)  \(Terminal.oneLine(detail))")
        if dryRun, let changes = result.changes {
            for change in changes { print("    would be \(change.outcome): \(Terminal.oneLine(change.path))") }
        }
    }

    private func summary(_ results: [Deployer.Result], failed: [Deployer.Result], store: CAStore) {
        var tally: [String: Int] = [:]
        for result in results { tally[result.result.rawValue, default: 0] += 1 }
        let counts = Deployer.Result.Kind.allOrdered.compactMap { kind in tally[kind.rawValue].map { "\($0) \(kind.rawValue)" } }.joined(separator: ", ")
        if dryRun {
            print("Dry run over \(results.count) host(s): \(counts). Nothing was written here or there.")
        } else if failed.isEmpty {
            print("Every host has its material (\(results.count): \(counts)).")
        } else {
            print("\(failed.count) of \(results.count) host(s) left: \(failed.map(\.host).joined(separator: ", ")) (\(counts)). Fix what each says and rerun 'ca deploy \(all ? "--all" : failed.map(\.host).joined(separator: " "))': it does only what is left.")
        }
        if !dryRun, let rotation = try? store.openRotation(), let status = try? Rotation(store: store, vault: KeyVault { nil }).status() {
            let waiting = status.hosts.filter { $0.next != nil && $0.blocking }
            print(waiting.isEmpty ? "Rotation (\(rotation.stage.rawValue)): every host has what this stage needs; see 'ca rotate status' for the next step."
                  : "Rotation (\(rotation.stage.rawValue)): \(waiting.count) host(s) still need this stage: \(waiting.map(\.host).joined(separator: ", ")).")
        }
    }

    /// One line on standard error, redrawn, while hosts run (a terminal only).
    final class Progress {
        let total: Int
        let enabled: Bool
        let verb: String
        var done = 0
        var running: [String] = []
        init(total: Int, enabled: Bool, verb: String = "deploy") { self.total = total; self.enabled = enabled; self.verb = verb }
        func start(_ host: String) { running.append(host); draw() }
        func finish(_ host: String) { running.removeAll { $0 == host }; done += 1 }
        func draw() {
            guard enabled, done < total, !running.isEmpty else { return }
            let names = running.prefix(3).joined(separator: ", ") + (running.count > 3 ? " …" : "")
            Terminal.standardError("\r\u{1B}[K\(verb): \(done)/\(total) done, running: \(names)")
        }
        func clear() { if enabled { Terminal.standardError("\r\u{1B}[K") } }
    }
}

extension Deployer.Result.Kind {
    static let allOrdered: [Self] = [.deployed, .unchanged, .upToDate, .wouldChange, .noChange, .failed]
}

/// How ca reaches the hosts: the operator's ssh and the remote ca.
struct SSHOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The ssh command (env CA_SSH; default 'ssh'), e.g. 'ssh -F ~/.ssh/fleet'.", valueName: "command")) var ssh: String?
    @Option(name: .long, help: ArgumentHelp("ca on the hosts (env CA_REMOTE_CA; default 'ca'), e.g. '/usr/local/bin/ca' or 'sudo -n ca'.", valueName: "command")) var remoteCa: String?
    @Option(name: .long, help: ArgumentHelp("Seconds for each ssh command on a host (its version check, its install).", valueName: "seconds")) var timeout: Int = 300
    @Option(name: .long, help: ArgumentHelp("Seconds ssh waits for a connection.", valueName: "seconds")) var connectTimeout: Int = 10

    func transport() throws -> SSHTransport {
        guard (1...3600).contains(timeout) else { throw CAError.invalid("invalid --timeout \(timeout): give 1 to 3600 seconds") }
        guard (1...120).contains(connectTimeout) else { throw CAError.invalid("invalid --connect-timeout \(connectTimeout): give 1 to 120 seconds") }
        let environment = ProcessInfo.processInfo.environment
        return try SSHTransport(ssh: ssh ?? environment["CA_SSH"] ?? "ssh", remoteCA: remoteCa ?? environment["CA_REMOTE_CA"] ?? "ca",
                                connectTimeout: connectTimeout, timeout: TimeInterval(timeout))
    }
}
