import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct RevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a certificate, or a host's active certificates, and re-sign the CRL.",
        discussion: """
            Reasons (RFC 5280): \(RevocationReason.allCases.map(\.rawValue).joined(separator: ", ")). The new CRL reaches \
            PostgreSQL only when installed ('ca install', or 'ca export' + 'install --bundle') and reloaded; a running \
            replication connection is checked again only when it reconnects.
            """)

    @Argument(help: "A serial (or unique prefix), or a host name.") var what: String
    @Option(name: .long, help: "The RFC 5280 reason.") var reason: String = RevocationReason.unspecified.rawValue
    @Option(name: .long, help: "With a host: only its server or client certificate.") var kind: String?
    @OptionGroup var passphrase: PassphraseOptions
    @OptionGroup var global: GlobalOptions

    struct JSON: Encodable {
        let revoked: [CertificateJSON]
        let crlNumbers: [Int64]
    }

    func run() throws {
        guard let reason = RevocationReason(rawValue: reason) else {
            throw CAError.invalid("unknown reason '\(reason)': expected one of \(RevocationReason.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let kind = try kind.map { text -> CertificateKind in
            guard let kind = CertificateKind(rawValue: text) else { throw CAError.invalid("invalid kind '\(text)': expected server or client") }
            return kind
        }
        let session = try Session(global: global, passphrase: passphrase)
        let lifecycle = Lifecycle(store: session.store, vault: session.vault)
        let (revoked, crls) = try lifecycle.revoke(matching: what, kind: kind, reason: reason)
        if global.json { return try Output.json(JSON(revoked: revoked.map { var r = $0; r.status = .revoked; return CertificateJSON(r) }, crlNumbers: crls.compactMap(\.number))) }
        for record in revoked { print("Revoked \(record.kind.rawValue) certificate \(record.serial.hex) (\(record.subject)): \(reason.rawValue)") }
        print("CRL re-signed (crlNumber \(crls.compactMap(\.number).map(String.init).joined(separator: ", "))). Install it where it matters, then reload: ca install HOST --reload")
    }
}
