import COpenSSL
import FoundationEssentials

/// A PKCS#10 certificate signing request: the public key a host made, signed by its private half,
/// and what the host would like its certificate to say. A CA reads the wishes only to refuse those
/// it will not grant; the certificate's content comes from its own records.
public final class CertificateRequest: @unchecked Sendable {
    let raw: OpaquePointer
    public let der: [UInt8]

    /// A request larger than this is refused unread (a real one is under 2 kB; RSA-4096 about 2 kB).
    public static let maximumSize = 64 << 10

    init(owning raw: OpaquePointer) throws {
        self.raw = raw
        var pointer: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509_REQ(raw, &pointer)
        guard length > 0, let pointer else {
            X509_REQ_free(raw)
            throw CryptoError.openssl("encode a certificate request")
        }
        defer { ca_OPENSSL_free(pointer) }
        der = Array(UnsafeBufferPointer(start: pointer, count: Int(length)))
    }

    deinit { X509_REQ_free(raw) }

    /// Parses one request, PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER. Bytes after
    /// the request, or a DER encoding that does not re-encode to itself, are refused.
    public convenience init(bytes: [UInt8]) throws {
        guard bytes.count <= Self.maximumSize else { throw CryptoError.invalidPEM(what: "certificate request (larger than \(Self.maximumSize) bytes)") }
        // PEM wherever a BEGIN line is (openssl req -text puts the text first); exactly one request.
        let text = String(decoding: bytes, as: UTF8.self)
        if text.contains("-----BEGIN ") {
            let requests = text.components(separatedBy: "-----BEGIN CERTIFICATE REQUEST-----").count - 1
                + text.components(separatedBy: "-----BEGIN NEW CERTIFICATE REQUEST-----").count - 1
            guard requests == 1 else {
                throw CryptoError.invalidPEM(what: requests == 0 ? "certificate request (no CERTIFICATE REQUEST block)" : "certificate request (\(requests) requests in one file; give one)")
            }
            let bio = try MemoryBIO(bytes)
            guard let request = PEM_read_bio_X509_REQ(bio.raw, nil, nil, nil) else {
                CryptoError.clearQueue()
                throw CryptoError.invalidPEM(what: "certificate request")
            }
            try self.init(owning: request)
            return
        }
        let parsed: OpaquePointer? = bytes.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            guard let request = d2i_X509_REQ(nil, &cursor, buffer.count) else { return nil }
            // Trailing bytes mean this is not one request.
            if let cursor, let base = buffer.baseAddress, cursor - base != buffer.count { X509_REQ_free(request); return nil }
            return request
        }
        guard let parsed else {
            CryptoError.clearQueue()
            throw CryptoError.invalidPEM(what: "certificate request (neither PEM nor DER)")
        }
        try self.init(owning: parsed)
        guard der == bytes else { throw CryptoError.invalidPEM(what: "certificate request (its DER is not canonical)") }
    }

    public convenience init(pem: String) throws { try self.init(bytes: Array(pem.utf8)) }

    /// Makes a request for `key`'s public half: the subject, and the names as a requested subjectAltName.
    public static func make(subject: DistinguishedName, names: [GeneralName], key: PrivateKey) throws -> CertificateRequest {
        guard let request = X509_REQ_new() else { throw CryptoError.openssl("allocate a certificate request") }
        var owned: OpaquePointer? = request
        defer { if let owned { X509_REQ_free(owned) } }
        guard X509_REQ_set_version(request, 0) == 1 else { throw CryptoError.openssl("set the request version") }
        let name = try Certificate.makeName(subject)
        defer { X509_NAME_free(name) }
        guard X509_REQ_set_subject_name(request, name) == 1 else { throw CryptoError.openssl("set the request subject") }
        guard X509_REQ_set_pubkey(request, key.raw) == 1 else { throw CryptoError.openssl("set the request's public key") }
        if !names.isEmpty {
            let stack = try Certificate.generalNames(names)
            defer { ca_GENERAL_NAMES_free(stack) }
            guard let extensions = ca_sk_X509_EXTENSION_new_null() else { throw CryptoError.openssl("allocate extensions") }
            defer { ca_sk_X509_EXTENSION_pop_free(extensions) }
            guard let san = X509V3_EXT_i2d(NID_subject_alt_name, 0, UnsafeMutableRawPointer(stack)) else {
                throw CryptoError.openssl("encode subjectAltName")
            }
            guard ca_sk_X509_EXTENSION_push(extensions, san) > 0 else { X509_EXTENSION_free(san); throw CryptoError.openssl("collect extensions") }
            guard X509_REQ_add_extensions(request, extensions) == 1 else { throw CryptoError.openssl("add the requested extensions") }
        }
        guard X509_REQ_sign(request, key.raw, key.signingDigest) > 0 else { throw CryptoError.openssl("sign the certificate request") }
        owned = nil
        return try CertificateRequest(owning: request)
    }

    // MARK: Reading

    public var pem: String {
        let bio = try? MemoryBIO()
        guard let bio, PEM_write_bio_X509_REQ(bio.raw, raw) == 1 else { return "" }
        return bio.string
    }

    /// The key the request is for.
    public var publicKey: PublicKey? {
        guard let key = X509_REQ_get_pubkey(raw) else { CryptoError.clearQueue(); return nil }
        return PublicKey(owning: key)
    }

    /// True when the request is signed by the private half of the key it carries (proof that
    /// whoever made it holds that key).
    public var isSelfSigned: Bool {
        guard let key = X509_REQ_get0_pubkey(raw) else { CryptoError.clearQueue(); return false }
        let result = X509_REQ_verify(raw, key) == 1
        CryptoError.clearQueue()
        return result
    }

    /// The subject's attributes in order, as (short name or OID, UTF-8 value).
    public var subjectAttributes: [(name: String, value: String)] {
        guard let name = X509_REQ_get_subject_name(raw) else { return [] }
        var out: [(String, String)] = []
        for index in 0..<X509_NAME_entry_count(name) {
            guard let entry = X509_NAME_get_entry(name, index) else { continue }
            let value = X509_NAME_ENTRY_get_data(entry).flatMap { ASN1Values.bytes(UnsafePointer($0)) } ?? []
            out.append((Self.objectName(X509_NAME_ENTRY_get_object(entry), short: true), String(decoding: value, as: UTF8.self)))
        }
        return out
    }

    public var subject: String { ASN1Values.name(X509_REQ_get_subject_name(raw)) }

    /// What the request asks for in its extensionRequest attribute.
    public struct Wishes: Sendable {
        /// Requested DNS names and addresses.
        public var names: [GeneralName] = []
        /// Requested names of kinds ca never issues (email, URI, …), described.
        public var otherNames: [String] = []
        /// basicConstraints' cA flag, if requested.
        public var certificateAuthority: Bool? = nil
        /// Requested extended key usages: the ones ca knows, and the others' names.
        public var extendedKeyUsage: [ExtendedKeyUsage] = []
        public var otherExtendedKeyUsages: [String] = []
        /// Requested keyUsage bits by name ("digitalSignature", "keyCertSign", …).
        public var keyUsage: [String] = []
        /// Every other requested extension, by name or OID, with its criticality.
        public var otherExtensions: [String] = []
    }

    public func wishes() throws -> Wishes {
        var wishes = Wishes()
        guard let extensions = X509_REQ_get_extensions(raw) else { CryptoError.clearQueue(); return wishes }
        defer { ca_sk_X509_EXTENSION_pop_free(extensions) }
        for index in 0..<ca_sk_X509_EXTENSION_num(extensions) {
            guard let ext = ca_sk_X509_EXTENSION_value(extensions, index) else { continue }
            let object = X509_EXTENSION_get_object(ext)
            let nid = OBJ_obj2nid(object)
            let decoded = X509V3_EXT_d2i(ext)
            if decoded == nil && [NID_subject_alt_name, NID_basic_constraints, NID_ext_key_usage, NID_key_usage].contains(nid) {
                CryptoError.clearQueue()
                throw CryptoError.invalidPEM(what: "certificate request (its \(Self.objectName(object)) extension does not decode)")
            }
            switch nid {
            case NID_subject_alt_name:
                let stack = OpaquePointer(decoded!)
                defer { ca_GENERAL_NAMES_free(stack) }
                let (names, others) = Certificate.readGeneralNames(stack)
                wishes.names += names
                wishes.otherNames += others
            case NID_basic_constraints:
                let constraints = decoded!.assumingMemoryBound(to: BASIC_CONSTRAINTS.self)
                defer { BASIC_CONSTRAINTS_free(constraints) }
                wishes.certificateAuthority = constraints.pointee.ca != 0
            case NID_ext_key_usage:
                let stack = OpaquePointer(decoded!)
                defer { EXTENDED_KEY_USAGE_free(stack) }
                for i in 0..<ca_sk_ASN1_OBJECT_num(stack) {
                    let usage = ca_sk_ASN1_OBJECT_value(stack, i)
                    switch OBJ_obj2nid(usage) {
                    case NID_server_auth: wishes.extendedKeyUsage.append(.serverAuth)
                    case NID_client_auth: wishes.extendedKeyUsage.append(.clientAuth)
                    default: wishes.otherExtendedKeyUsages.append(Self.objectName(usage))
                    }
                }
            case NID_key_usage:
                let bits = decoded!.assumingMemoryBound(to: ASN1_BIT_STRING.self)
                defer { ASN1_BIT_STRING_free(bits) }
                let names = ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement",
                             "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"]
                for (bit, name) in names.enumerated() where ASN1_BIT_STRING_get_bit(bits, Int32(bit)) == 1 { wishes.keyUsage.append(name) }
            default:
                if let decoded { Self.freeDecoded(ext, decoded) }
                CryptoError.clearQueue()
                wishes.otherExtensions.append(Self.objectName(object) + (X509_EXTENSION_get_critical(ext) == 1 ? " (critical)" : ""))
            }
        }
        return wishes
    }

    /// Frees what X509V3_EXT_d2i returned for an extension ca does not read, through its method.
    private static func freeDecoded(_ ext: OpaquePointer, _ value: UnsafeMutableRawPointer) {
        guard let method = X509V3_EXT_get(ext) else { return }
        if let it = method.pointee.it {
            ASN1_item_free(OpaquePointer(value), it())
        } else if let free = method.pointee.ext_free {
            free(value)
        }
    }

    static func objectName(_ object: OpaquePointer?, short: Bool = false) -> String {
        guard let object else { return "?" }
        let nid = OBJ_obj2nid(object)
        if nid != NID_undef, let name = short ? OBJ_nid2sn(nid) : OBJ_nid2ln(nid) { return String(cString: name) }
        var buffer = [CChar](repeating: 0, count: 128)
        let length = OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
        return length > 0 ? String(cString: buffer) : "?"
    }
}
