import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct MaintainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maintain",
        abstract: "One run for a timer: renew what expires, re-sign CRLs, deploy the hosts that are behind, probe them all.",
        discussion: """
            1. Renews every active leaf expiring within --within (new keys; a host that makes its own is marked and gets \
            them at its deploy). 2. Re-signs every CRL with a third of its period or less left. 3. Deploys exactly the \
            hosts whose installed material is older than the inventory's, standbys first; a standby whose replication \
            certificate changed ends its walreceiver, so it reconnects with the new certificate now (--no-reconnect: at \
            its next reconnect). 4. Probes every host. 5. Prints what it did and what is left. \
            Idempotent: a second run changes nothing; a run killed half-way is finished by the next. One run at a time per \
            database (a lock beside it): a second one says so and exits 75, or waits with --wait. \
            Exits 0 when everything is done and right, 1 when anything is left (each named), 64 on bad input. \
            For a timer: 'ca systemd' writes the units; the passphrase comes from the systemd credential 'ca-passphrase'.
            """)

    @Option(name: .long, help: ArgumentHelp("Renew what expires within this window (30d, 12h, 2w).", valueName: "window")) var within: String = "30d"
    @Flag(name: .long, help: "Say what would be done; write nothing here or on the hosts.") var dryRun = false
    @Flag(name: .long, help: "Wait for a run in progress instead of exiting 75.") var wait = false
    @Flag(name: .long, help: "Do not end the walreceiver of a standby whose replication certificate changed.") var noReconnect = false
    @Option(name: .long, help: ArgumentHelp("Hosts deployed at once.", valueName: "n")) var parallel: Int = 8
    @OptionGroup var remote: SSHOptions
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let window = try Window(within)
        guard (1...64).contains(parallel) else { throw CAError.invalid("invalid --parallel \(parallel): give 1 to 64") }
        let transport = try remote.transport()
        let session = try Session(global: global, passphrase: passphrase)
        _ = try session.store.activeAuthority()
        let lock: MaintainLock
        switch try MaintainLock.acquire(database: session.store.path, wait: wait) {
        case .acquired(let held): lock = held
        case .busy(let pid):
            throw CAError.inUse("another 'ca maintain' is running on this database\(pid.isEmpty ? "" : " (pid \(pid))"); this one did nothing. Rerun later, or pass --wait")
        }
        defer { withExtendedLifetime(lock) {} }
        var options = Maintainer.Options()
        options.within = window.seconds
        options.dryRun = dryRun
        options.parallel = parallel
        options.reconnect = !noReconnect
        let hosts = try session.store.hosts()
        let width = hosts.map(\.name.value.utf8.count).max() ?? 0
        let events = DeployCommand.events(json: global.json) { DeployCommand.line($0, width: width, dryRun: dryRun) }
        let report = try Maintainer(store: session.store, vault: session.vault, transport: transport)
            .run(options: options, events: events) { line in if !global.json { print(line) } }
        if global.json {
            try Output.json(report)
        } else {
            for problem in report.problems { print("left: \(Terminal.oneLine(problem))") }
            print("maintain: \(report.summary)." + (report.ok ? (dryRun ? " Nothing was written." : " Everything is done.") : " Fix what is left; the next run does only that."))
        }
        if !report.ok { throw ExitCode(1) }
    }
}
