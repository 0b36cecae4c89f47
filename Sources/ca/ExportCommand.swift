import ArgumentParser
import CAKit
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a host bundle: everything one host needs, for 'ca install --bundle' there.",
        discussion: """
            The bundle holds the host's server and replication certificates and keys, the trust bundle, the CRLs and \
            the host records. Keys are encrypted under the bundle passphrase (--bundle-passphrase-file, \
            CA_BUNDLE_PASSPHRASE, or a prompt) unless --plain-keys. Example: ca export db2 | ssh db2 ca install --bundle -
            """)

    @Argument(help: "The host.") var host: String
    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file (mode 0600) instead of standard output.", valueName: "file")) var output: String?
    @Flag(name: .long, help: "Leave the keys in the bundle unencrypted.") var plainKeys = false
    @Option(name: .long, help: ArgumentHelp("Read the bundle passphrase from this file.", valueName: "file")) var bundlePassphraseFile: String?
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let name = try HostName(host).value
        if plainKeys && bundlePassphraseFile != nil { throw CAError.invalid("--plain-keys and --bundle-passphrase-file contradict each other") }
        let session = try Session(global: global, passphrase: passphrase)
        _ = try session.store.host(named: name)
        let bundleSecret: String? = plainKeys ? nil : try SecretSource.bundle(file: bundlePassphraseFile).resolve(confirm: true)
        if !plainKeys && bundleSecret == nil {
            throw CAError.invalid("no passphrase for the bundle's keys", fix: "Pass --bundle-passphrase-file FILE, set CA_BUNDLE_PASSPHRASE, or use --plain-keys.")
        }
        let now = Date()
        let text = try session.store.write { () -> String in
            let material = try HostMaterial.assemble(hostName: name, store: session.store, vault: session.vault, now: now)
            try session.store.recordDeployment(try material.deployment(via: .export, at: now))
            try session.store.record("export", subject: name, detail: plainKeys ? "keys NOT encrypted" : "keys encrypted", at: now)
            return try HostBundle.encode(material, passphrase: bundleSecret, now: now)
        }
        if let output, output != "-" {
            try SecretFile.write(text, to: output)
            Terminal.note("Wrote the host bundle for '\(name)' to \(output)\(plainKeys ? " (keys NOT encrypted)" : "").")
        } else {
            if plainKeys && Terminal.stdoutIsTerminal { Terminal.warning("printing unencrypted private keys to the terminal") }
            print(text, terminator: "")
        }
    }
}

/// The passphrase that protects keys inside a host bundle: --bundle-passphrase-file, CA_BUNDLE_PASSPHRASE, or a prompt.
extension SecretSource {
    static func bundle(file: String?) -> SecretSource {
        SecretSource(file: file, variable: "CA_BUNDLE_PASSPHRASE", what: "bundle passphrase")
    }
}

/// Writes a file that holds secrets: created 0600, never through a symlink.
enum SecretFile {
    static func write(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CAError.io("cannot write '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fchmod(fd, 0o600) == 0 else { throw CAError.io("cannot set the mode of '\(path)'") }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Foundation.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw CAError.io("cannot write '\(path)': \(String(cString: strerror(errno)))")
        }
    }
}
