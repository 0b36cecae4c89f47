import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct RequestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "On a host that makes its own keys: make (or reuse) its keys in place and print its certificate requests.",
        discussion: """
            For a host added with --keys host. Reads the host's record from a bundle ('ca export HOST' on the CA; \
            checked like install checks it: against the installed trust, or --ca-fingerprint the first time) or, \
            where the CA database is at hand, from it. Each key already on the host (one made earlier that waits \
            for its certificate, else the installed one) is reused unless --new-key. New keys are written with the \
            owner and mode install gives them, into /etc/ssl/ca-managed/hosts/HOST/pending, where install takes \
            them with their certificates (a running server never sees a new key beside an old certificate). \
            Prints PKCS#10 requests for the server and replication keys in a JSON envelope; no private key is \
            printed. Next, on the CA: ca sign HOST --request FILE; then export and install as usual. \
            'ca deploy' does the whole round trip over ssh.
            """)

    @Argument(help: "The host, from the CA database (or use --bundle).") var host: String?
    @Option(name: .long, help: ArgumentHelp("Read the host's record from this bundle ('ca export HOST'; '-' for standard input).", valueName: "file")) var bundle: String?
    @Option(name: .long, help: ArgumentHelp("Prefix for every path (a staged tree).", valueName: "dir")) var root: String?
    @Flag(name: .long, help: "Make new keys even where keys exist (a renewal with new keys).") var newKey = false
    @Option(name: .long, help: ArgumentHelp("Type of new keys (default ec-p256): \(KeyType.spellings).", valueName: "type")) var key: String?
    @Option(name: .shortAndLong, help: ArgumentHelp("Write the request to this file instead of standard output.", valueName: "file")) var output: String?
    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("For a host that trusts no CA yet: the SHA-256 fingerprint of the CA that signed the bundle.", valueName: "sha256")) var caFingerprint: [String] = []
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        guard (host == nil) != (bundle == nil) else {
            throw CAError.invalid("give a host or --bundle FILE, not \(host == nil ? "neither" : "both")")
        }
        let keyType = try key.map { try KeyType(parsing: $0) }
        let rootPrefix = try root.map { try AbsolutePath($0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0, what: "--root").value } ?? ""
        let now = Clock.now()
        let material: HostMaterial
        if let host {
            let name = try HostName(host).value
            let session = try Session(global: global, passphrase: passphrase)
            guard try session.store.host(named: name).keyPolicy == .host else { throw KeyPolicy.keysMadeByCA(name) }
            try session.vault.unlock(try session.store.trustedAuthorities())
            material = try session.store.write { try HostMaterial.assemble(hostName: name, store: session.store, vault: session.vault, now: now) }
        } else {
            let pins = try InstallCommand.pins(caFingerprint)
            let files = try FileRoot(prefix: rootPrefix)
            let trust = HostBundle.Trust(installed: { caName in InstalledTrust.certificates(caName: caName, root: files) }, pinned: pins)
            let text = String(decoding: try InputFile.read(bundle!, limit: HostBundle.maximumSize, what: "host bundle",
                                                           fix: "Make one on the CA with 'ca export HOST -o FILE'."), as: UTF8.self)
            // Only a bundle that carries keys asks for a passphrase: one for a host whose keys the CA makes.
            material = try HostBundle.decode(text, trust: trust) {
                throw CAError.invalid("this bundle carries the host's keys (the CA makes them); ca request is for a host that makes its own",
                                      fix: "On the CA: 'ca host set HOST --keys host', then export its bundle again.")
            }
            guard material.host.keyPolicy == .host else { throw KeyPolicy.keysMadeByCA(material.host.name.value) }
        }
        let result = try RequestMaker.make(caName: material.caName, host: material.host, trustPEM: material.trustPEM, root: rootPrefix,
                                           newKey: newKey, keyType: keyType, now: now)
        for made in result.made { Terminal.note("made a new \(made.kind) key: \(made.path) (it waits there for its certificate)") }
        for reused in result.reused { Terminal.note("the \(reused.kind) request is for the key at \(reused.path)") }
        let text = try result.request.encoded()
        if let output, output != "-" {
            try SecretFile.write(text, to: output, mode: 0o644)
            Terminal.note("Wrote the requests of '\(material.host.name)' to \(output). Next, on the CA: ca sign \(material.host.name) --request \(output)")
        } else {
            print(text, terminator: "")
        }
    }

}

struct SignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign certificate requests: a host's (made by 'ca request' or openssl), or a one-off.",
        discussion: """
            ca sign HOST --request FILE signs both requests 'ca request' printed on HOST; ca sign HOST --csr FILE \
            --kind server|client signs one PKCS#10 request (PEM or DER, e.g. from 'openssl req -new'). The \
            certificate's subject, names, usage and validity come from the host record and its profile, never from \
            the request: a request that asks for other names, another subject, a CA flag or other usages is refused, \
            with what it asked for. Each request must be signed by the key it carries, and the key must be a type ca \
            issues (RSA from 2048 bits). ca stores the certificate and no key. The host must make its own keys \
            (ca host add … --keys host, or ca host set HOST --keys host). \
            One-off: ca sign --csr FILE --profile server --dns NAME… [--ip ADDR…], or --profile client --role ROLE.
            """)

    @Argument(help: "The host the requests are for (none for a one-off).") var host: String?
    @Option(name: .long, help: ArgumentHelp("The envelope 'ca request' printed ('-' for standard input).", valueName: "file")) var request: String?
    @Option(name: .long, help: ArgumentHelp("One PKCS#10 request, PEM or DER ('-' for standard input).", valueName: "file")) var csr: String?
    @Option(name: .long, help: ArgumentHelp("With HOST and --csr: which certificate it is for, server or client.", valueName: "kind")) var kind: String?
    @Option(name: .long, help: ArgumentHelp("Without HOST: the one-off's profile, server or client.", valueName: "profile")) var profile: String?
    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("One-off server: its DNS names (the first is the CN).", valueName: "name")) var dns: [String] = []
    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("One-off server: its IP addresses.", valueName: "address")) var ip: [String] = []
    @Option(name: .long, help: ArgumentHelp("One-off client: the database role (the CN).", valueName: "role")) var role: String?
    @Option(name: .long, parsing: .unconditional, help: "Validity in days (default 397, never past the CA's expiry).") var days: Int?
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        if let days { try Validity.checkDays(days) }
        let dnsNames = dns.flatMap { $0.split(separator: ",").map(String.init) }
        let ipAddresses = ip.flatMap { $0.split(separator: ",").map(String.init) }
        guard (request == nil) != (csr == nil) else {
            throw CAError.invalid("give --request FILE (from 'ca request') or --csr FILE (one PKCS#10 request), not \(request == nil ? "neither" : "both")")
        }
        guard let host else {
            guard request == nil else { throw CAError.invalid("--request needs the HOST it is for", fix: "ca sign HOST --request FILE") }
            return try signOneOff(dnsNames: dnsNames, ipAddresses: ipAddresses)
        }
        if profile != nil || !dnsNames.isEmpty || !ipAddresses.isEmpty || role != nil {
            throw CAError.invalid("a host's certificates take their names from its record; --profile, --dns, --ip and --role are for a one-off (without HOST)")
        }
        let name = try HostName(host).value
        let session = try Session(global: global, passphrase: passphrase)
        let record = try session.store.host(named: name)
        // Before any file is read: the host's policy decides whether there is anything to sign.
        guard record.keyPolicy == .host else { throw KeyPolicy.keysMadeByCA(name) }
        let result: IssueResult
        if let request {
            guard kind == nil else { throw CAError.invalid("--kind goes with --csr; the envelope says which request is which") }
            let envelope = try HostRequest.decode(try InputFile.read(request, limit: HostRequest.maximumSize, what: "request", fix: "Make one on the host with 'ca request'."))
            let trusted = try session.store.trustedAuthorities().map { try $0.certificate().publicKeyFingerprint }
            try envelope.check(hostName: name, caName: try session.store.activeAuthority().name, trustedKeyIDs: trusted)
            result = try session.issuer.sign(host: name, server: envelope.server, replication: envelope.replication, days: days)
        } else {
            guard let kind else { throw CAError.invalid("--csr for a host needs --kind server or --kind client") }
            let which = try CertificateKind(parsingRequestKind: kind)
            let single = try Self.readCSR(csr!)
            result = try session.issuer.sign(host: name, server: which == .server ? single : nil, replication: which == .client ? single : nil, days: days)
        }
        try IssueReport(result).print(json: global.json)
        if !global.json { print("Next: ca deploy \(name) (or: ca export \(name) | ssh HOST ca install --bundle -)") }
    }

    private func signOneOff(dnsNames: [String], ipAddresses: [String]) throws {
        guard kind == nil else { throw CAError.invalid("--kind goes with a HOST; a one-off takes --profile server|client") }
        guard let profile else { throw CAError.invalid("a one-off request needs --profile server or --profile client (or name the HOST it is for)") }
        let chosen: Profile
        switch profile.lowercased() {
        case "server":
            guard role == nil else { throw CAError.invalid("--role is for --profile client") }
            guard let first = dnsNames.first else { throw CAError.invalid("--profile server needs --dns NAME (the first is the CN)") }
            chosen = try Issuer.serverProfile(commonName: first, dnsNames: Array(dnsNames.dropFirst()), ipAddresses: ipAddresses)
        case "client":
            guard dnsNames.isEmpty && ipAddresses.isEmpty else { throw CAError.invalid("a client certificate carries no names; --dns and --ip are for --profile server") }
            guard let role else { throw CAError.invalid("--profile client needs --role ROLE (the CN PostgreSQL's cert method matches)") }
            chosen = Profile.client(role: try Identifier.role(role), host: nil)
        default:
            throw CAError.invalid("invalid --profile '\(profile.quotedForErrorLine)': expected server or client")
        }
        let request = try Self.readCSR(csr!)
        let session = try Session(global: global, passphrase: passphrase)
        try IssueReport(try session.issuer.signOneOff(request, profile: chosen, days: days)).print(json: global.json)
    }

    static func readCSR(_ path: String) throws -> CertificateRequest {
        let bytes = try InputFile.read(path, limit: CertificateRequest.maximumSize, what: "certificate request", fix: "Make one with 'openssl req -new -key KEY -out FILE'.")
        do {
            return try CertificateRequest(bytes: bytes)
        } catch {
            if String(decoding: bytes.prefix(256), as: UTF8.self).contains("\"format\"") {
                throw CAError.invalid("'\(path.quotedForErrorLine)' is the envelope 'ca request' prints, not one request", fix: "Pass it as --request FILE.")
            }
            // The reader says why in parentheses when it knows more ("2 requests in one file").
            var why = "it is truncated, damaged or something else"
            if case CryptoError.invalidPEM(let what) = error, let open = what.firstIndex(of: "("), what.hasSuffix(")") {
                why = String(what[what.index(after: open)..<what.index(before: what.endIndex)])
            }
            throw CAError.invalid("'\(path.quotedForErrorLine)' is not a PKCS#10 certificate request (PEM or DER): \(why)",
                                  fix: "Make it again, e.g. 'openssl req -new -key KEY -subj /CN=NAME -out FILE'.")
        }
    }
}

extension CertificateKind {
    init(parsingRequestKind text: String) throws {
        switch text.lowercased() {
        case "server": self = .server
        case "client", "replication": self = .client
        default: throw CAError.invalid("invalid --kind '\(text.quotedForErrorLine)': expected server or client")
        }
    }
}
