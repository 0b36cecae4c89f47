import FoundationEssentials

/// The file `ca export` writes and `ca install --bundle` reads: one JSON document with everything a
/// host needs. Keys are PKCS#8 under the bundle passphrase (PBKDF2-SHA256 600k, AES-256) unless
/// exported with --plain-keys. Reading it re-validates every field and every certificate.
public enum HostBundle {
    /// Version 2 is signed: an envelope holding the document's exact bytes and a signature over
    /// them by every CA key the database trusts (during a rotation, old and new), so a host that
    /// trusts either root accepts it. Version 1 (unsigned) is refused.
    public static let format = "ca-host-bundle/2"
    /// A bundle is a few kilobytes; anything past this is refused unread.
    public static let maximumSize = 4 << 20
    /// A host record in a bundle names at most this many peers.
    public static let maximumPeers = 1000

    struct Document: Codable {
        var format: String
        var createdAt: Date
        var caName: String
        var host: PostgresHost
        var peers: [PostgresHost]
        var trustPem: String
        var crlPem: String
        var keysEncrypted: Bool
        /// Absent before a host-keys host's first request is signed.
        var server: HostMaterial.Pair?
        var replication: HostMaterial.Pair?
    }

    struct Envelope: Codable {
        struct Signature: Codable {
            /// SHA-256 of the signer's SubjectPublicKeyInfo (hex).
            var keyId: String
            var signature: String
        }
        var format: String
        /// The document, as the exact text that was signed.
        var document: String
        var signatures: [Signature]
    }

    /// How a host decides whether to believe a bundle.
    public struct Trust {
        /// The CA certificates the host already trusts for `caName` (its installed trust bundle).
        public var installed: (String) -> [Certificate]
        /// SHA-256 fingerprints (of a CA certificate, or of its public key) the operator gave with
        /// --ca-fingerprint, for a host that trusts nothing yet.
        public var pinned: [String]

        public init(installed: @escaping (String) -> [Certificate], pinned: [String]) {
            self.installed = installed
            self.pinned = pinned.map { $0.filter { $0 != ":" }.lowercased() }
        }
    }

    public static func encode(_ material: HostMaterial, passphrase: String?, signers: [PrivateKey], now: Date) throws -> String {
        let hasKeys = material.server?.keyPEM != nil || material.client?.keyPEM != nil
        let passphrase = hasKeys ? passphrase : nil
        func seal(_ pair: HostMaterial.Pair?) throws -> HostMaterial.Pair? {
            guard let passphrase, let pair, let pem = pair.keyPEM else { return pair }
            let key = try CAError.translatingCrypto { try PrivateKey(pem: pem, passphrase: nil) }
            return HostMaterial.Pair(certificatePEM: pair.certificatePEM, keyPEM: try CAError.translatingCrypto { try key.pkcs8PEM(passphrase: passphrase) })
        }
        let document = Document(format: format, createdAt: now, caName: material.caName, host: material.host, peers: material.peers,
                                trustPem: material.trustPEM, crlPem: material.crlPEM, keysEncrypted: passphrase != nil,
                                server: try seal(material.server), replication: try seal(material.client))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        let text = String(decoding: try encoder.encode(document), as: UTF8.self)
        guard !signers.isEmpty else { throw CAError.invalid("a host bundle needs a CA key to sign it") }
        let signatures = try signers.map { key in
            Envelope.Signature(keyId: key.publicKeyFingerprint, signature: Data(try CAError.translatingCrypto { try key.sign(Array(text.utf8)) }).base64EncodedString())
        }
        return String(decoding: try encoder.encode(Envelope(format: format, document: text, signatures: signatures)), as: UTF8.self) + "\n"
    }

    /// Parses a bundle, proves it comes from a CA the host trusts, and checks every field.
    /// `passphrase` is asked for only when the keys are encrypted, and only after the signature holds.
    public static func decode(_ text: String, trust: Trust, passphrase: () throws -> String?) throws -> HostMaterial {
        guard text.utf8.count <= maximumSize else { throw CAError.invalid("the host bundle is larger than \(maximumSize) bytes") }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        let envelope: Envelope
        do {
            envelope = try decoder.decode(Envelope.self, from: Data(text.utf8))
        } catch {
            if let version = (try? JSONDecoder().decode(FormatField.self, from: Data(text.utf8)))?.format {
                throw CAError.invalid("unsupported host bundle format '\(version.quotedForError)': this ca reads \(format) (signed); export it again with this ca")
            }
            throw CAError.invalid("not a ca host bundle (expected the JSON that 'ca export' writes)")
        }
        guard envelope.format == format else {
            throw CAError.invalid("unsupported host bundle format '\(envelope.format.quotedForError)': this ca reads \(format)")
        }
        let document: Document
        do {
            document = try decoder.decode(Document.self, from: Data(envelope.document.utf8))
        } catch let error as CAError {
            throw CAError.invalid("the host bundle holds an invalid value: \(error.message)")
        } catch DecodingError.keyNotFound(let key, let context) {
            let path = (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
            throw CAError.invalid("not a ca host bundle: '\(path)' is missing (expected the JSON that 'ca export' writes)")
        } catch {
            throw CAError.invalid("not a ca host bundle (its document is not the JSON that 'ca export' writes)")
        }
        guard document.format == format else { throw CAError.invalid("the host bundle's document has format '\(document.format.quotedForError)', not \(format)") }
        _ = try CAName.validate(document.caName)
        guard document.peers.count <= maximumPeers else { throw CAError.invalid("the host bundle names \(document.peers.count) peers; at most \(maximumPeers)") }
        try authenticate(envelope, document: document, trust: trust)

        let hasKeys = document.server?.keyPEM != nil || document.replication?.keyPEM != nil
        if document.keysEncrypted && !hasKeys { throw CAError.invalid("the host bundle says its keys are encrypted but holds none") }
        let secret: String? = document.keysEncrypted ? try passphrase() : nil
        if document.keysEncrypted && secret == nil {
            throw CAError.invalid("the host bundle's keys are encrypted and no passphrase was given",
                                  fix: "Pass --bundle-passphrase-file FILE, set CA_BUNDLE_PASSPHRASE, or run on a terminal.")
        }
        func open(_ pair: HostMaterial.Pair?) throws -> HostMaterial.Pair? {
            guard let pair, let pem = pair.keyPEM else { return pair }
            let key: PrivateKey
            do {
                key = try PrivateKey(pem: pem, passphrase: secret)
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

    /// A signature over the document's exact bytes by a CA the host trusts already (its installed
    /// trust bundle), or by one the operator pinned (a certificate in the bundle whose fingerprint
    /// was given). Anything else is refused before a key is decrypted or a file is looked at.
    static func authenticate(_ envelope: Envelope, document: Document, trust: Trust) throws {
        let message = Array(envelope.document.utf8)
        var anchors = trust.installed(document.caName)
        let carried = (try? Certificate.all(inPEM: document.trustPem)) ?? []
        for certificate in carried where trust.pinned.contains(certificate.fingerprint.lowercased())
            || trust.pinned.contains(certificate.publicKeyFingerprint.lowercased()) {
            anchors.append(certificate)
        }
        if anchors.isEmpty {
            throw CAError.invalid("this host trusts no CA named '\(document.caName)' yet, so the bundle cannot be authenticated",
                                  fix: "For the first install pass --ca-fingerprint SHA256 (the CA's fingerprint_sha256 from 'ca bundle --json' on the CA machine).")
        }
        for signature in envelope.signatures {
            guard let bytes = Data(base64Encoded: signature.signature).map(Array.init) else { continue }
            for anchor in anchors where anchor.publicKeyFingerprint.lowercased() == signature.keyId.lowercased() {
                if anchor.verifies(bytes, over: message) { return }
            }
        }
        let signers = envelope.signatures.map { String($0.keyId.prefix(16)) }.joined(separator: ", ")
        throw CAError.invalid("the host bundle is not signed by a CA this host trusts (signed by key \(signers.isEmpty ? "none" : signers); trusted: \(anchors.map(\.subject).joined(separator: ", ")))",
                              fix: "Export it from this host's CA; after a CA rotation this host missed, pass --ca-fingerprint of the new root.")
    }
}
