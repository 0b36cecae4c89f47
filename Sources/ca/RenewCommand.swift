import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct RenewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew",
        abstract: "Re-issue active certificates that expire soon (or have expired).",
        discussion: "Each keeps its subject, names and usage; the old one becomes superseded (not revoked). A new key unless --keep-key.")

    @Option(name: .long, help: ArgumentHelp("What counts as soon (30d, 12h, 2w).", valueName: "window")) var within: String = "30d"
    @Option(name: .long, help: "Only this host's certificates.") var host: String?
    @Flag(name: .long, help: "Keep each certificate's key.") var keepKey = false
    @Option(name: .long, parsing: .unconditional, help: "Validity of the new certificates in days (default 397).") var days: Int?
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let window = try Window(within)
        if let days { try Validity.checkDays(days) }
        let hostName = try host.map { try HostName($0).value }
        let session = try Session(global: global, passphrase: passphrase)
        if let hostName { _ = try session.store.host(named: hostName) }
        let result = try Lifecycle(store: session.store, vault: session.vault).renew(within: window.seconds, hostName: hostName, keepKey: keepKey, days: days)
        let waiting = Set(result.waitingForHost.compactMap(\.hostName)).sorted()
        if !global.json {
            for host in waiting {
                Terminal.note("'\(host)' makes its own keys: its next 'ca deploy \(host)' makes new ones there, signs and installs them (or --keep-key re-signs the keys it has now)")
            }
        }
        if result.certificates.isEmpty && !global.json {
            for warning in result.warnings { Terminal.warning(warning) }
            return print(waiting.isEmpty ? "Nothing expires within \(within)." : "Nothing renewed here; \(waiting.count) host(s) wait for new keys from their deploy.")
        }
        try IssueReport(result).print(json: global.json)
    }
}

struct RenewCACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew-ca",
        abstract: "Give the CA a new certificate on the same key (new validity).",
        discussion: """
            Leaves keep verifying: their authorityKeyIdentifier is the key id alone. Before it commits, every active \
            leaf is verified with OpenSSL against the new CA certificate. Install the new trust bundle on every host \
            before the old CA certificate expires. To replace the key, use 'ca rotate'.
            """)

    @Option(name: .long, parsing: .unconditional, help: "Validity of the new CA certificate in days.") var days: Int = Validity.defaultRootDays
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try Validity.checkDays(days)
        let session = try Session(global: global, passphrase: passphrase)
        if try session.store.openRotation() != nil { throw CAError.invalid("a rotation is in progress", fix: "Finish or abort it first.") }
        let authority = try Lifecycle(store: session.store, vault: session.vault).renewAuthority(days: days)
        if global.json { return try Output.json(try AuthorityJSON(authority)) }
        let certificate = try authority.certificate()
        print("Renewed CA '\(authority.name)' on the same key: expires \(certificate.notAfter.iso8601), serial \(certificate.serial.hex).")
        print("Install the new trust bundle everywhere (ca install HOST, or ca export HOST | … install --bundle -).")
    }
}
