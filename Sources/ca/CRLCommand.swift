import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct CRLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crl",
        abstract: "Sign a fresh CRL for every trusted CA and print them (what root.crl holds).",
        discussion: "An expired CRL makes PostgreSQL refuse every certificate: re-install the CRL well before its next update.")

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file")) var output: String?
    @Option(name: .long, parsing: .unconditional, help: "From now on, CRLs stay valid this many days (their nextUpdate; default 30).") var days: Int?
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    struct JSON: Encodable {
        let issuer: String
        let number: Int64?
        let thisUpdate: Date
        let nextUpdate: Date?
        let revoked: [String]
    }

    func run() throws {
        let session = try Session(global: global, passphrase: passphrase)
        if let days { try Lifecycle(store: session.store, vault: session.vault).setCRLDays(days) }
        try session.vault.unlock(try session.store.trustedAuthorities())
        let crls = try session.store.write { try CRLPublisher(store: session.store, vault: session.vault).currentCRLs(now: Clock.now(), force: true) }
        if global.json {
            return try Output.json(crls.map { JSON(issuer: $0.issuer, number: $0.number, thisUpdate: $0.thisUpdate, nextUpdate: $0.nextUpdate, revoked: $0.revokedSerials.map(\.hex)) })
        }
        let text = crls.map(\.pem).joined()
        if let output {
            try SecretFile.write(text, to: output, mode: 0o644)
            Terminal.note("Wrote \(crls.count) CRL(s) to \(output).")
        } else {
            print(text, terminator: "")
        }
    }
}
