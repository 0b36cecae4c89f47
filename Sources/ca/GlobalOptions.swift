import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The CA database (env CA_DB; default ${XDG_DATA_HOME:-~/.local/share}/ca/ca.sqlite3).", valueName: "path"))
    var db: String?

    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    var json = false

    @Flag(name: .long, help: "Say more, including OpenSSL's error stack on failure.")
    var verbose = false

    var databasePath: String {
        if let db, !db.isEmpty { return db }
        return CAStore.defaultPath()
    }
}

/// Where the CA passphrase comes from: --passphrase-file, CA_PASSPHRASE, or a no-echo prompt.
struct PassphraseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Read the CA passphrase from the first line of this file (else CA_PASSPHRASE, else the systemd credential 'ca-passphrase' under $CREDENTIALS_DIRECTORY, else a prompt on a terminal).", valueName: "file"))
    var passphraseFile: String?

    /// The systemd credential ca reads the passphrase from (LoadCredentialEncrypted=ca-passphrase:…).
    static let credential = "ca-passphrase"

    /// The passphrase, or nil when none was given and there is no terminal to ask on.
    func resolve(confirm: Bool = false) throws -> String? {
        try SecretSource(file: passphraseFile, variable: "CA_PASSPHRASE", what: "CA passphrase", credential: Self.credential).resolve(confirm: confirm)
    }
}

/// A secret from a file's first line, else an environment variable, else a no-echo prompt on a terminal.
struct SecretSource {
    let file: String?
    let variable: String
    let what: String
    /// A systemd credential's name: its file under $CREDENTIALS_DIRECTORY (systemd decrypts
    /// LoadCredentialEncrypted= there, readable by the service only, on a non-swappable mount).
    var credential: String? = nil

    func resolve(confirm: Bool) throws -> String? {
        if let file { return try Passphrase.validate(try Self.readFirstLine(file), what: "\(what) in '\(file.quotedForErrorLine)'") }
        if let value = ProcessSecrets.value(variable) {
            guard !value.isEmpty else { throw CAError.invalid("\(variable) is set but empty", fix: "Set it to the \(what), or unset it.") }
            return try Passphrase.validate(value, what: "\(what) in \(variable)")
        }
        if let credential, let directory = Environment.value("CREDENTIALS_DIRECTORY"), directory.hasPrefix("/") {
            let path = directory + "/" + credential
            var info = stat()
            if lstat(path, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFREG else { throw CAError.invalid("the credential '\(path.quotedForErrorLine)' is not a regular file") }
                return try Passphrase.validate(try Self.readFirstLine(path), what: "\(what) in the credential '\(credential)'")
            }
        }
        guard Terminal.isInteractive else { return nil }
        let first = try Terminal.readSecret(prompt: confirm ? "New \(what): " : "\(what.prefix(1).uppercased() + what.dropFirst()): ")
        guard !first.isEmpty else { throw CAError.invalid("the \(what) is empty") }
        _ = try Passphrase.validate(first, what: what)
        if confirm {
            guard try Terminal.readSecret(prompt: "Repeat it: ") == first else { throw CAError.invalid("the two passphrases differ") }
        }
        return first
    }

    /// The first line of a passphrase file, without its line ending (LF or CRLF). Read with a
    /// bound, never through a FIFO that would block.
    static func readFirstLine(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CAError.invalid("cannot read the passphrase file '\(path.quotedForErrorLine)': \(String(cString: strerror(errno)))", fix: "Check the path and that you may read it.")
        }
        defer { close(fd) }
        let bytes = try FileRoot.readDescriptor(fd, path: path, limit: 64 << 10).bytes
        var line = Array(bytes.prefix { $0 != 0x0A })
        if line.last == 0x0D { line.removeLast() }
        guard !line.isEmpty else { throw CAError.invalid("the passphrase file '\(path.quotedForErrorLine)' is empty", fix: "Put the passphrase on its first line.") }
        guard let text = String(validating: line, as: UTF8.self) else {
            throw CAError.invalid("the passphrase file '\(path.quotedForErrorLine)' is not UTF-8 text")
        }
        return text
    }
}

/// Opening the store and the issuer the way every command does.
struct Session {
    let store: CAStore
    let vault: KeyVault

    init(global: GlobalOptions, passphrase: PassphraseOptions? = nil) throws {
        store = try CAStore.open(path: global.databasePath)
        let source = passphrase ?? PassphraseOptions()
        vault = KeyVault { try source.resolve() }
        vault.attach(store)
    }

    var issuer: Issuer { Issuer(store: store, vault: vault) }
}
