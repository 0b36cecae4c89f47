import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "log", abstract: "Show the audit log: who did what, when.")
    @Option(name: .long, help: "How many of the newest events.") var limit: Int = 100
    @OptionGroup var global: GlobalOptions

    struct JSON: Encodable {
        let id: Int64
        let at: Date
        let osUser: String
        let action: String
        let subject: String
        let serial: String?
        let detail: String?
    }

    func run() throws {
        guard limit > 0 else { throw CAError.invalid("invalid --limit \(limit): it must be at least 1") }
        let events = try CAStore.open(path: global.databasePath).events(limit: limit)
        if global.json {
            return try Output.json(events.map { JSON(id: $0.id, at: $0.at, osUser: $0.osUser, action: $0.action, subject: $0.subject, serial: $0.serial, detail: $0.detail) })
        }
        Output.table(["TIME", "USER", "ACTION", "SUBJECT", "SERIAL", "DETAIL"], events.map {
            [$0.at.iso8601, $0.osUser, $0.action, $0.subject, $0.serial ?? "-", $0.detail ?? ""]
        })
    }
}
