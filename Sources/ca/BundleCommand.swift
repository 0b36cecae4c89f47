import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Print the trust bundle: every CA certificate clients must trust now, as PEM.",
        discussion: "This is what goes in root.crt and in ssl_ca_file. During a CA rotation it holds the old and the new root.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let authorities = try CAStore.open(path: global.databasePath).trustedAuthorities()
        guard !authorities.isEmpty else { throw CAError.notInitialized(path: global.databasePath) }
        if global.json { return try Output.json(try authorities.map { try AuthorityJSON($0) }) }
        for authority in authorities { print(authority.certificatePEM, terminator: "") }
    }
}
