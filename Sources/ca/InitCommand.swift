import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the CA database and its root certificate.",
        discussion: """
            The root key is stored encrypted (PKCS#8, AES-256, PBKDF2-SHA256 with 600,000 iterations) under the \
            passphrase from --passphrase-file, CA_PASSPHRASE or a prompt. --no-passphrase stores it in the clear, \
            for demos and tests only; 'ca status' then warns.
            """)

    @Option(name: .long, help: ArgumentHelp("The CA's name, its certificate's CN ('Acme Replication CA'). Its files take a safe stem of it (acme-replication-ca), or --file-name.", valueName: "name"))
    var name: String

    @Option(name: .long, help: ArgumentHelp("The stem of the CA's files: letters, digits, '.', '_', '-' (default: derived from --name).", valueName: "stem"))
    var fileName: String?

    @Option(name: .long, help: ArgumentHelp("Key type: \(KeyType.spellings).", valueName: "type"))
    var key: String = KeyType.ecP256.rawValue

    @Option(name: .long, parsing: .unconditional, help: "Validity of the root in days.")
    var days: Int = Validity.defaultRootDays

    @Flag(name: .long, help: "Store the CA key unencrypted (demos and tests only).")
    var noPassphrase = false

    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        // Every check before anything touches the disk.
        let commonName = try CAName.commonName(name)
        let name = try fileName.map(CAName.validate) ?? CAName.stem(forCommonName: commonName)
        let keyType = try KeyType(parsing: key)
        try Validity.checkDays(days)
        if noPassphrase && passphrase.passphraseFile != nil {
            throw CAError.invalid("--no-passphrase and --passphrase-file contradict each other", fix: "Give one of them.")
        }
        let path = global.databasePath
        if let existing = try? CAStore.open(path: path), let authority = try? existing.activeAuthority() {
            throw CAError.alreadyInitialized(path: path, name: authority.name)
        }
        let secret: String?
        if noPassphrase {
            secret = nil
        } else {
            guard let resolved = try passphrase.resolve(confirm: true) else {
                throw CAError.invalid("no passphrase for the new CA key",
                                      fix: "Pass --passphrase-file FILE, set CA_PASSPHRASE, run on a terminal, or use --no-passphrase for a throwaway CA.")
            }
            secret = resolved
        }

        let (store, created) = try CAStore.openOrCreate(path: path)
        let authority: AuthorityRecord
        do {
            authority = try Issuer.createRoot(store: store, name: name, commonName: commonName, keyType: keyType, days: days, passphrase: secret, now: Clock.now())
        } catch {
            if created { CAStore.removeFiles(path) }
            throw error
        }
        if global.json { return try Output.json(try AuthorityJSON(authority)) }
        let certificate = try authority.certificate()
        let files = commonName == authority.name ? "" : ", files named '\(authority.name)'"
        print("Created CA '\(commonName)'\(files) (\(keyType.rawValue), expires \(Output.day(certificate.notAfter))) in \(path)")
        print("Serial \(certificate.serial.hex)")
        if secret == nil { Terminal.warning("the CA key is stored unencrypted (--no-passphrase): use this CA for demos and tests only") }
    }
}

extension KeyType {
    init(parsing text: String) throws {
        guard let type = KeyType(rawValue: text.lowercased()) else {
            throw CAError.invalid("unknown key type '\(text)': expected one of \(KeyType.spellings)")
        }
        self = type
    }
}
