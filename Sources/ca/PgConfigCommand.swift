import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct PgConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pg-config",
        abstract: "Print the PostgreSQL lines 'install --configure' would write for a host, for its version.",
        discussion: "For people who manage postgresql.conf and pg_hba.conf with other tools. Paths assume 'ca install --link'.")

    @Argument(help: "The host.") var host: String
    @Option(name: .long, help: ArgumentHelp("The --root prefix the files are installed under.", valueName: "dir")) var root: String?
    @OptionGroup var global: GlobalOptions

    struct JSON: Encodable {
        let host: String
        let postgresVersion: String
        let postgresqlConf: [String]
        let pgHbaConf: [String]
        let recoveryConf: [String]?
        let standbySignal: Bool
    }

    func run() throws {
        let rootPrefix = try root.map { try AbsolutePath($0, what: "--root").value } ?? ""
        let store = try CAStore.open(path: global.databasePath)
        let target = try store.host(named: try HostName(host).value)
        let home = SystemAccounts().user(target.osUser)?.home ?? "/var/lib/postgresql"
        let layout = InstallLayout(root: rootPrefix, caName: try store.activeAuthority().name, host: target, osUserHome: home)
        let config = PostgresConfig(host: target, peers: try store.hosts().filter { $0.name != target.name }, layout: layout)
        let settings = try config.serverSettings()
        let recovery = try config.recoveryConf()
        if global.json {
            return try Output.json(JSON(host: target.name.value, postgresVersion: target.postgresVersion.description, postgresqlConf: settings,
                                        pgHbaConf: config.hbaLines(), recoveryConf: recovery, standbySignal: config.needsStandbySignal))
        }
        print("# ---- \(layout.includeFile) (postgresql.conf includes it) ----")
        settings.forEach { print($0) }
        print("")
        print("# ---- \(layout.hbaConf): at the top (first match wins) ----")
        print(PostgresConfig.beginMarker)
        config.hbaLines().forEach { print($0) }
        print(PostgresConfig.endMarker)
        print("# To require a password as well as the certificate (PostgreSQL \(target.postgresVersion) syntax):")
        print("# " + config.twoFactorExample)
        print("# (then a 16+ standby's primary_conninfo needs require_auth=scram-sha-256 instead of ca's require_auth=none, and a password in ~/.pgpass)")
        if let recovery {
            print("")
            print("# ---- \(layout.recoveryConf) ----")
            recovery.forEach { print($0) }
        }
        if config.needsStandbySignal {
            print("")
            print("# ---- an empty \(layout.standbySignal) makes the server start as a standby ----")
        }
        print("")
        print("# After changing SSL files: \(target.postgresVersion >= (try PostgresVersion("10")) ? "reload (pg_ctl reload, or ca install --reload)" : "restart (9.x reads them only at start)").")
    }
}
