import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct RotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Replace the CA key in stages, without a replication outage.",
        discussion: """
            1. start: a new root; the trust bundle holds old + new. Install on every host.
            2. reissue: every active leaf re-issued under the new root (resumable). Install on every host \
            (standbys first), reload, reconnect replication.
            3. finish: refused while anything still depends on the old root; then the bundle is the new root alone. \
            Install on every host.
            Any two hosts at most one stage apart keep replicating. 'abort' before finish returns to the old root.
            """,
        subcommands: [Start.self, Status.self, Reissue.self, Finish.self, Abort.self])

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "start", abstract: "Make the next root and add it to the trust bundle.")
        @Option(name: .long, help: ArgumentHelp("Key type (default: the current root's).", valueName: "type")) var key: String?
        @Option(name: .long, parsing: .unconditional, help: "Validity of the new root in days.") var days: Int = Validity.defaultRootDays
        @OptionGroup var passphrase: PassphraseOptions
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let keyType = try key.map { try KeyType(parsing: $0) }
            try Validity.checkDays(days)
            let store = try CAStore.open(path: global.databasePath)
            let secret: String? = try store.activeAuthority().keyEncrypted ? (try passphrase.resolve() ?? { throw CAError.passphraseRequired }()) : nil
            let vault = KeyVault { secret }
            let next = try Rotation(store: store, vault: vault).start(keyType: keyType, days: days, passphrase: secret)
            if global.json { return try Output.json(try AuthorityJSON(next)) }
            print("Started: next root '\(try next.certificate().subject)' (\(next.keyType.rawValue)). The trust bundle now holds old + new.")
            print("Next: install on every host (ca install HOST / ca export HOST), then: ca rotate reissue")
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the stage and what each host must install next.")
        @OptionGroup var global: GlobalOptions

        struct JSON: Encodable {
            struct HostJSON: Encodable { let host: String; let next: String?; let blocking: Bool }
            let stage: String?
            let oldAuthority: AuthorityJSON?
            let newAuthority: AuthorityJSON?
            let leavesOnOld: Int
            let leavesOnNew: Int
            let hosts: [HostJSON]
        }

        func run() throws {
            let status = try Rotation(store: try CAStore.open(path: global.databasePath), vault: KeyVault { nil }).status()
            if global.json {
                return try Output.json(JSON(stage: status.rotation?.stage.rawValue, oldAuthority: try status.old.map(AuthorityJSON.init),
                                            newAuthority: try status.new.map(AuthorityJSON.init), leavesOnOld: status.leavesOnOld, leavesOnNew: status.leavesOnNew,
                                            hosts: status.hosts.map { .init(host: $0.host, next: $0.next, blocking: $0.blocking) }))
            }
            guard let rotation = status.rotation, let old = status.old, let new = status.new else { return print("No rotation has been started.") }
            print("Rotation:   \(rotation.stage.rawValue) (started \(rotation.startedAt.iso8601))")
            print("Old root:   \(try old.certificate().subject) [\(old.status.rawValue)], \(status.leavesOnOld) active leaves")
            print("New root:   \(try new.certificate().subject) [\(new.status.rawValue)], \(status.leavesOnNew) active leaves")
            for host in status.hosts { print("  \(host.host): \(host.next ?? "up to date")") }
        }
    }

    struct Reissue: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "reissue", abstract: "Re-issue every active leaf under the new root (resumable).")
        @OptionGroup var passphrase: PassphraseOptions
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let session = try Session(global: global, passphrase: passphrase)
            let crashAfter = Environment.value("CA_TEST_CRASH_AFTER").flatMap(Int.init)
            let bar = Terminal.stdoutIsTerminal && !global.json
            let count = try Rotation(store: session.store, vault: session.vault).reissue(progress: { progress in
                if global.json {
                    print("{\"done\":\(progress.done),\"total\":\(progress.total)}")
                } else if bar {
                    Terminal.progressBar(done: progress.done, total: progress.total)
                }
            }, crashAfter: crashAfter)
            if bar { Terminal.endProgressBar() }
            if !global.json {
                print("Re-issued \(count) certificates under the new root. Install on every host (standbys first), reload, then: ca rotate finish")
            }
        }
    }

    struct Finish: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "finish", abstract: "Retire the old root (refused while anything depends on it).")
        @OptionGroup var global: GlobalOptions
        func run() throws {
            try Rotation(store: try CAStore.open(path: global.databasePath), vault: KeyVault { nil }).finish()
            if !global.json { print("Finished: the old root is retired; the trust bundle is the new root alone. Install on every host.") }
        }
    }

    struct Abort: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "abort", abstract: "Return to the old root alone (before finish).")
        @OptionGroup var passphrase: PassphraseOptions
        @OptionGroup var global: GlobalOptions
        func run() throws {
            let session = try Session(global: global, passphrase: passphrase)
            try Rotation(store: session.store, vault: session.vault).abort()
            if !global.json { print("Aborted: back to the old root alone. Install on every host.") }
        }
    }
}
