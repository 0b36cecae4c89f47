import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a host bundle: everything one host needs, for 'ca install --bundle' there.",
        discussion: """
            The bundle holds the host's server and replication certificates and keys, the trust bundle, the CRLs and \
            the host records, signed by every CA key the database trusts (install checks the signature against \
            the host's installed trust bundle, or --ca-fingerprint on a first install). Keys are encrypted under \
            the bundle passphrase (--bundle-passphrase-file, CA_BUNDLE_PASSPHRASE, or a prompt) unless --plain-keys. \
            Example: ca export db2 | ssh db2 ca install --bundle - --ca-fingerprint SHA256
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
        // A host that makes its own keys gets certificates only: nothing to encrypt, no passphrase asked.
        let hostKeys = try session.store.host(named: name).keyPolicy == .host
        let bundleSecret: String? = plainKeys || hostKeys ? nil : try SecretSource.bundle(file: bundlePassphraseFile).resolve(confirm: true)
        if !plainKeys && !hostKeys && bundleSecret == nil {
            throw CAError.invalid("no passphrase for the bundle's keys", fix: "Pass --bundle-passphrase-file FILE, set CA_BUNDLE_PASSPHRASE, or use --plain-keys.")
        }
        let now = Clock.now()
        try session.vault.unlock(try session.store.trustedAuthorities())
        var recordOnly = false
        let text = try session.store.write { () -> String in
            let material = try HostMaterial.assemble(hostName: name, store: session.store, vault: session.vault, now: now)
            recordOnly = material.server == nil || material.client == nil
            if !recordOnly {
                try session.store.recordDeployment(try material.deployment(via: .export, at: now))
            }
            try session.store.record("export", subject: name, detail: hostKeys ? (material.server == nil ? "host record for its request" : "certificates only (keys made on the host)")
                                        : plainKeys ? "keys NOT encrypted" : "keys encrypted", at: now)
            let signers = try session.store.trustedAuthorities().map { try session.vault.key(of: $0) }
            return try HostBundle.encode(material, passphrase: bundleSecret, signers: signers, now: now)
        }
        if isatty(STDERR_FILENO) == 1, let fingerprint = try? session.store.activeAuthority().certificate().fingerprint {
            Terminal.note("On a host that trusts no CA yet, install with: --ca-fingerprint \(fingerprint)")
        }
        if let output, output != "-" {
            try SecretFile.write(text, to: output)
            Terminal.note("Wrote the host bundle for '\(name)' to \(output)\(recordOnly ? " (its record only, for 'ca request' there: no certificates yet)" : hostKeys ? " (certificates only: its keys are made there)" : plainKeys ? " (keys NOT encrypted)" : "").")
        } else {
            if plainKeys && !hostKeys && Terminal.stdoutIsTerminal { Terminal.warning("printing unencrypted private keys to the terminal") }
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

/// Writes an output file (`export -o`, `crl -o`): a new file of ours in the same directory (O_EXCL,
/// its mode set before the first byte), fsynced and renamed over the target. An existing file is
/// replaced, never written into (it keeps no owner, mode or hard link of its own); a link, a FIFO
/// or a directory at the target is refused.
enum SecretFile {
    static func write(_ text: String, to path: String, mode: mode_t = 0o600) throws {
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
            throw CAError.invalid("refusing to write '\(path.quotedForErrorLine)': it exists and is not a regular file (a link, a directory or a FIFO)")
        }
        let directory = Path.parent(path)
        let temporary = (directory.isEmpty ? "" : directory + "/") + ".\(Path.lastComponent(path)).ca-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CAError.io("cannot write '\(path.quotedForErrorLine)': \(String(cString: strerror(errno)))") }
        var done = false
        defer {
            close(fd)
            if !done { unlink(temporary) }
        }
        guard fchmod(fd, mode) == 0 else { throw CAError.io("cannot set the mode of '\(path.quotedForErrorLine)'") }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count, fsync(fd) == 0 else {
            throw CAError.io("cannot write '\(path.quotedForErrorLine)': \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else { throw CAError.io("cannot write '\(path.quotedForErrorLine)': \(String(cString: strerror(errno)))") }
        done = true
    }
}
