import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one certificate (by serial or a unique prefix of it) or one host.",
        discussion: "--pem prints the certificate PEM. The private key is printed only with --with-key, which needs the CA passphrase.")

    @Argument(help: "A serial (hex, a unique prefix is enough) or a host name.") var what: String
    @Flag(name: .long, help: "Print the certificate(s) as PEM.") var pem = false
    @Flag(name: .long, help: "Also print the private key, unencrypted PKCS#8 (with --pem).") var withKey = false
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        if withKey && !pem { throw CAError.invalid("--with-key prints a key in PEM and needs --pem") }
        let session = try Session(global: global, passphrase: passphrase)
        let store = session.store
        let records: [CertificateRecord]
        var hostReport: HostReport?
        if let name = try? HostName(what).value, (try? store.host(named: name)) != nil {
            let report = try HostReport(store: store, name: name)
            hostReport = report
            records = report.certificates.filter { $0.status == .active }
        } else {
            let matches = try store.certificates(serialPrefix: what)
            guard !matches.isEmpty else { throw CAError.unknownCertificate(what) }
            if matches.count > 1 { throw CAError.ambiguousSerial(what, matches: matches.count) }
            records = matches
        }
        if pem {
            // Every key is opened before anything is printed: a refusal prints nothing.
            var keys: [String?] = []
            for record in records {
                guard withKey else { keys.append(nil); continue }
                let authority = try store.authorities().first { $0.id == record.authorityID }
                guard let authority, let key = try session.vault.open(record, issuer: authority) else {
                    throw CAError.invalid("certificate \(record.serial.hex) has no stored key: it was signed from a request, and its key never left the requester")
                }
                keys.append(try CAError.translatingCrypto { try key.pkcs8PEM(passphrase: nil) })
            }
            for (record, key) in zip(records, keys) {
                Swift.print(record.certificatePEM, terminator: "")
                if let key {
                    Swift.print(key, terminator: "")
                    Terminal.warning("printed the unencrypted private key of \(record.serial.hex)")
                }
            }
            return
        }
        if let hostReport { return try hostReport.print(json: global.json) }
        let record = records[0]
        if global.json { return try Output.json(CertificateJSON(record, includePEM: true)) }
        let certificate = try CAError.translatingCrypto { try Certificate(pem: record.certificatePEM) }
        Swift.print("""
            Serial:       \(record.serial.hex)
            Kind:         \(record.kind.rawValue)
            Host:         \(record.hostName ?? "-")
            Subject:      \(record.subject)
            Issuer:       \(certificate.issuer)
            Names:        \(record.names.isEmpty ? "-" : record.names.joined(separator: ", "))
            Key:          \(record.keyType.rawValue)\(record.keyPEM == nil ? " (made by the requester; ca does not hold it)" : "")
            Not before:   \(record.notBefore.iso8601)
            Not after:    \(record.notAfter.iso8601) (\(Output.relative(record.notAfter)))
            Status:       \(record.status.rawValue)
            SHA-256:      \(record.fingerprint)
            """)
    }
}
