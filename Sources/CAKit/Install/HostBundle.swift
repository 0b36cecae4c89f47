import Foundation

/// The file `ca export` writes and `ca install --bundle` reads: one JSON document with everything a
/// host needs. Keys are PKCS#8 under the bundle passphrase (PBKDF2-SHA256 600k, AES-256) unless
/// exported with --plain-keys. Reading it re-validates every field and every certificate.
public enum HostBundle {
    public static let format = "ca-host-bundle/1"
    /// A bundle is a few kilobytes; anything past this is refused unread.
    public static let maximumSize = 4 << 20

    struct Document: Codable {
        var format: String
        var createdAt: Date
        var caName: String
        var host: PostgresHost
        var peers: [PostgresHost]
        var trustPem: String
        var crlPem: String
        var keysEncrypted: Bool
        var server: HostMaterial.Pair
        var replication: HostMaterial.Pair
    }

    public static func encode(_ material: HostMaterial, passphrase: String?, now: Date) throws -> String {
        func seal(_ pair: HostMaterial.Pair) throws -> HostMaterial.Pair {
            guard let passphrase else { return pair }
            let key = try CAError.translatingCrypto { try PrivateKey(pem: pair.keyPEM, passphrase: nil) }
            return HostMaterial.Pair(certificatePEM: pair.certificatePEM, keyPEM: try CAError.translatingCrypto { try key.pkcs8PEM(passphrase: passphrase) })
        }
        let document = Document(format: format, createdAt: now, caName: material.caName, host: material.host, peers: material.peers,
                                trustPem: material.trustPEM, crlPem: material.crlPEM, keysEncrypted: passphrase != nil,
                                server: try seal(material.server), replication: try seal(material.client))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(document), as: UTF8.self) + "\n"
    }

    /// Parses and checks a bundle. `passphrase` is asked for only when the keys are encrypted.
    public static func decode(_ text: String, passphrase: () throws -> String?) throws -> HostMaterial {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        let document: Document
        do {
            document = try decoder.decode(Document.self, from: Data(text.utf8))
        } catch let error as CAError {
            throw CAError.invalid("the host bundle holds an invalid value: \(error.localizedDescription)")
        } catch DecodingError.keyNotFound(let key, let context) {
            let path = (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
            throw CAError.invalid("not a ca host bundle: '\(path)' is missing (expected the JSON that 'ca export' writes)")
        } catch {
            throw CAError.invalid("not a ca host bundle (expected the JSON that 'ca export' writes)")
        }
        guard document.format == format else {
            throw CAError.invalid("unsupported host bundle format '\(document.format.quotedForError)': this ca reads \(format)")
        }
        _ = try CAName.validate(document.caName)
        let secret: String? = document.keysEncrypted ? try passphrase() : nil
        if document.keysEncrypted && secret == nil {
            throw CAError.invalid("the host bundle's keys are encrypted and no passphrase was given",
                                  fix: "Pass --passphrase-file FILE, set CA_PASSPHRASE, or run on a terminal.")
        }
        func open(_ pair: HostMaterial.Pair) throws -> HostMaterial.Pair {
            let key: PrivateKey
            do {
                key = try PrivateKey(pem: pair.keyPEM, passphrase: secret)
            } catch CryptoError.wrongPassphrase {
                throw CAError.wrongPassphrase
            } catch {
                throw CAError.invalid("the host bundle holds an unreadable private key")
            }
            return HostMaterial.Pair(certificatePEM: pair.certificatePEM, keyPEM: try CAError.translatingCrypto { try key.pkcs8PEM(passphrase: nil) })
        }
        return HostMaterial(caName: document.caName, host: document.host, peers: document.peers, trustPEM: document.trustPem,
                            crlPEM: document.crlPem, server: try open(document.server), client: try open(document.replication))
    }
}
