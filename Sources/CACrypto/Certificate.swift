import COpenSSL
import FoundationEssentials
import Synchronization

/// A signed X.509 certificate: an immutable value. Making one signs it.
public final class Certificate: @unchecked Sendable {
    let raw: OpaquePointer
    /// The DER encoding, kept so equality and fingerprints never re-encode.
    public let der: [UInt8]

    /// A certificate built here from a raw public key carries no decoded key (OpenSSL decodes one only
    /// when it parses DER); `keyed` parses this certificate's DER once, when a key is first needed.
    private let keyDecoded: Bool
    private let keyedLock = Mutex(())
    private var keyedCopy: OpaquePointer?

    init(owning raw: OpaquePointer, keyDecoded: Bool = true) throws {
        self.raw = raw
        self.keyDecoded = keyDecoded
        var pointer: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(raw, &pointer)
        guard length > 0, let pointer else {
            X509_free(raw)
            throw CryptoError.openssl("encode a certificate")
        }
        defer { ca_OPENSSL_free(pointer) }
        der = Array(UnsafeBufferPointer(start: pointer, count: Int(length)))
    }

    deinit {
        X509_free(raw)
        if let keyedCopy { X509_free(keyedCopy) }
    }

    /// The handle for whatever needs the certificate's public key (its fingerprint, a signature check,
    /// a chain): `raw` itself, or for a certificate built from a raw public key a copy parsed from its
    /// DER once, on first use.
    var keyed: OpaquePointer {
        if keyDecoded { return raw }
        keyedLock.withLock { _ in
            guard keyedCopy == nil else { return }
            keyedCopy = der.withUnsafeBufferPointer { buffer in
                var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
                return d2i_X509(nil, &cursor, buffer.count)
            }
            if keyedCopy == nil { CryptoError.clearQueue() }
        }
        return keyedCopy ?? raw  // set once, under the lock, never changed after
    }

    /// Parses one PEM certificate.
    public convenience init(pem: String) throws {
        let bio = try MemoryBIO(Array(pem.utf8))
        guard let x509 = PEM_read_bio_X509(bio.raw, nil, nil, nil) else {
            CryptoError.clearQueue()
            throw CryptoError.invalidPEM(what: "certificate")
        }
        try self.init(owning: x509)
    }

    /// Every certificate in a PEM bundle, in order.
    public static func all(inPEM pem: String) throws -> [Certificate] {
        let bio = try MemoryBIO(Array(pem.utf8))
        var out: [Certificate] = []
        while let x509 = PEM_read_bio_X509(bio.raw, nil, nil, nil) { out.append(try Certificate(owning: x509)) }
        CryptoError.clearQueue()  // the read past the last certificate always leaves "no start line"
        return out
    }

    // MARK: Signing

    /// Builds and signs a certificate for `subjectKey`'s public half. With no issuer it is
    /// self-signed by `subjectKey` (a root). Extensions follow DESIGN.md §3: basicConstraints
    /// and keyUsage critical, SKI, AKI as key id only, EKU and SAN from typed values.
    public static func sign(_ template: CertificateTemplate, subjectKey: PrivateKey,
                            issuer: (certificate: Certificate, key: PrivateKey)?) throws -> Certificate {
        try sign(template, subject: subjectKey.raw, point: subjectKey.encodedPublicPoint, isRSA: subjectKey.type.isRSA,
                 issuer: issuer.map { ($0.certificate, $0.key) } ?? (nil, subjectKey))
    }

    /// Signs a leaf for a public key whose private half ca never holds (a host's, from its request).
    public static func sign(_ template: CertificateTemplate, subjectPublicKey: PublicKey,
                            issuer: (certificate: Certificate, key: PrivateKey)) throws -> Certificate {
        guard let type = subjectPublicKey.type else { throw CryptoError.unsupportedKey(subjectPublicKey.algorithm) }
        return try sign(template, subject: subjectPublicKey.raw, point: nil, isRSA: type.isRSA, issuer: (issuer.certificate, issuer.key))
    }

    private static func sign(_ template: CertificateTemplate, subject subjectKey: OpaquePointer, point: [UInt8]?, isRSA: Bool,
                             issuer: (certificate: Certificate?, key: PrivateKey)) throws -> Certificate {
        guard let x509 = X509_new() else { throw CryptoError.openssl("allocate a certificate") }
        var owned: OpaquePointer? = x509
        defer { if let owned { X509_free(owned) } }

        guard X509_set_version(x509, Int(X509_VERSION_3)) == 1 else { throw CryptoError.openssl("set the version") }
        try setSerial(template.serial, on: x509)
        let name = try makeName(template.subject)
        defer { X509_NAME_free(name) }
        guard X509_set_subject_name(x509, name) == 1 else { throw CryptoError.openssl("set the subject") }
        let issuerName = issuer.certificate.map { X509_get_subject_name($0.raw) } ?? name
        guard X509_set_issuer_name(x509, issuerName) == 1 else { throw CryptoError.openssl("set the issuer") }
        guard ASN1_TIME_set(X509_getm_notBefore(x509), time_t(template.notBefore.timeIntervalSince1970)) != nil,
              ASN1_TIME_set(X509_getm_notAfter(x509), time_t(template.notAfter.timeIntervalSince1970)) != nil
        else { throw CryptoError.openssl("set the validity") }
        try setPublicKey(subjectKey, point: point, on: x509)

        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer.certificate?.raw ?? x509, x509, nil, nil, 0)
        if template.isCA {
            try addExtension(x509, &context, NID_basic_constraints, "critical,CA:TRUE")
            try addExtension(x509, &context, NID_key_usage, "critical,keyCertSign,cRLSign")
        } else {
            try addExtension(x509, &context, NID_basic_constraints, "critical,CA:FALSE")
            let usage = isRSA ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"
            try addExtension(x509, &context, NID_key_usage, usage)
        }
        if !template.extendedKeyUsage.isEmpty {
            try addExtension(x509, &context, NID_ext_key_usage,
                             template.extendedKeyUsage.map(\.rawValue).joined(separator: ","))
        }
        // SKI before AKI: for a root the AKI is computed from this very certificate's SKI.
        try addExtension(x509, &context, NID_subject_key_identifier, "hash")
        try addExtension(x509, &context, NID_authority_key_identifier, "keyid:always")
        if !template.subjectAlternativeNames.isEmpty {
            try addSubjectAlternativeNames(template.subjectAlternativeNames, to: x509)
        }

        let signer = issuer.key
        guard X509_sign(x509, signer.raw, signer.signingDigest) > 0 else { throw CryptoError.openssl("sign the certificate") }
        owned = nil  // Certificate(owning:) frees it, also when it throws
        return try Certificate(owning: x509, keyDecoded: false)
    }


    /// The SubjectPublicKeyInfo from the key's raw public value (EC point with its named curve, Ed25519
    /// bytes): X509_set_pubkey builds an OpenSSL 3 encoder (and a decoder) for every key, about half of
    /// a leaf's instructions. RSA and anything else still go through X509_set_pubkey.
    private static func setPublicKey(_ key: OpaquePointer, point: [UInt8]?, on x509: OpaquePointer) throws {
        func general() throws {
            guard X509_set_pubkey(x509, key) == 1 else { throw CryptoError.openssl("set the public key") }
        }
        guard let pubkey = X509_get_X509_PUBKEY(x509) else { return try general() }
        var bytes: [UInt8]
        let algorithm: OpaquePointer?, parameterType: Int32, parameter: UnsafeMutableRawPointer?
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_EC:
            guard let curve = PublicKey.curveName(key), case let nid = OBJ_sn2nid(curve), nid != NID_undef else { return try general() }
            guard let encoded = point ?? PublicKey.encodedPoint(key) else { return try general() }
            bytes = encoded
            (algorithm, parameterType, parameter) = (OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT, UnsafeMutableRawPointer(OBJ_nid2obj(nid)))
        case EVP_PKEY_ED25519:
            var length = 0
            guard EVP_PKEY_get_raw_public_key(key, nil, &length) == 1 else { CryptoError.clearQueue(); return try general() }
            bytes = [UInt8](repeating: 0, count: length)
            guard EVP_PKEY_get_raw_public_key(key, &bytes, &length) == 1 else { CryptoError.clearQueue(); return try general() }
            (algorithm, parameterType, parameter) = (OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, nil)
        default:
            return try general()
        }
        // set0 takes the buffer: it must come from OpenSSL's allocator.
        guard let buffer = ca_OPENSSL_malloc(bytes.count)?.assumingMemoryBound(to: UInt8.self) else { throw CryptoError.openssl("allocate a public key") }
        buffer.initialize(from: bytes, count: bytes.count)
        guard X509_PUBKEY_set0_param(pubkey, algorithm, parameterType, parameter, buffer, Int32(bytes.count)) == 1 else {
            ca_OPENSSL_free(buffer)
            throw CryptoError.openssl("set the public key")
        }
    }

    private static func setSerial(_ serial: SerialNumber, on x509: OpaquePointer) throws {
        guard let number = serial.bytes.withUnsafeBufferPointer({ BN_bin2bn($0.baseAddress, Int32($0.count), nil) }) else {
            throw CryptoError.openssl("encode the serial number")
        }
        defer { BN_free(number) }
        guard BN_to_ASN1_INTEGER(number, X509_get_serialNumber(x509)) != nil else {
            throw CryptoError.openssl("set the serial number")
        }
    }

    static func makeName(_ dn: DistinguishedName) throws -> OpaquePointer {
        guard let name = X509_NAME_new() else { throw CryptoError.openssl("allocate a name") }
        for (field, value) in dn.attributes {
            let bytes = Array(value.utf8)
            guard X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, bytes, Int32(bytes.count), -1, 0) == 1 else {
                X509_NAME_free(name)
                throw CryptoError.openssl("set \(field) in the name")
            }
        }
        return name
    }

    /// Constant extension values only: nothing a user typed ever reaches a config string.
    private static func addExtension(_ x509: OpaquePointer, _ context: inout X509V3_CTX, _ nid: Int32, _ value: StaticString) throws {
        try addExtension(x509, &context, nid, value.description)
    }

    private static func addExtension(_ x509: OpaquePointer, _ context: inout X509V3_CTX, _ nid: Int32, _ value: String) throws {
        guard let ext = X509V3_EXT_nconf_nid(nil, &context, nid, value) else {
            throw CryptoError.openssl("build extension \(String(cString: OBJ_nid2sn(nid)))")
        }
        defer { X509_EXTENSION_free(ext) }
        guard X509_add_ext(x509, ext, -1) == 1 else { throw CryptoError.openssl("add extension") }
    }

    private static func addSubjectAlternativeNames(_ names: [GeneralName], to x509: OpaquePointer) throws {
        let stack = try generalNames(names)
        defer { ca_GENERAL_NAMES_free(stack) }
        guard X509_add1_ext_i2d(x509, NID_subject_alt_name, UnsafeMutableRawPointer(stack), 0, UInt(X509V3_ADD_DEFAULT)) == 1 else {
            throw CryptoError.openssl("add subjectAltName")
        }
    }

    /// A GENERAL_NAMES stack of `names`; the caller frees it with ca_GENERAL_NAMES_free.
    static func generalNames(_ names: [GeneralName]) throws -> OpaquePointer {
        guard let stack = ca_sk_GENERAL_NAME_new_null() else { throw CryptoError.openssl("allocate names") }
        var owned: OpaquePointer? = stack
        defer { if let owned { ca_GENERAL_NAMES_free(owned) } }
        for name in names {
            guard let entry = GENERAL_NAME_new() else { throw CryptoError.openssl("allocate a name") }
            let bytes: [UInt8], type: Int32, asn1Type: Int32
            switch name {
            case .dnsName(let dns): (bytes, type, asn1Type) = (Array(dns.utf8), GEN_DNS, V_ASN1_IA5STRING)
            case .ipAddress(let ip): (bytes, type, asn1Type) = (ip, GEN_IPADD, V_ASN1_OCTET_STRING)
            }
            guard let value = ASN1_STRING_type_new(asn1Type),
                  ASN1_STRING_set(value, bytes, Int32(bytes.count)) == 1 else {
                GENERAL_NAME_free(entry)
                throw CryptoError.openssl("encode \(name)")
            }
            GENERAL_NAME_set0_value(entry, type, UnsafeMutableRawPointer(value))
            guard ca_sk_GENERAL_NAME_push(stack, entry) > 0 else {
                GENERAL_NAME_free(entry)
                throw CryptoError.openssl("collect names")
            }
        }
        owned = nil
        return stack
    }

    /// The DNS names and addresses in a GENERAL_NAMES stack, and a description of every other entry.
    static func readGeneralNames(_ stack: OpaquePointer) -> (names: [GeneralName], others: [String]) {
        var out: [GeneralName] = [], others: [String] = []
        for index in 0..<ca_sk_GENERAL_NAME_num(stack) {
            var type: Int32 = 0
            guard let entry = ca_sk_GENERAL_NAME_value(stack, index),
                  let value = GENERAL_NAME_get0_value(entry, &type) else { continue }
            switch type {
            case GEN_DNS, GEN_IPADD, GEN_EMAIL, GEN_URI:
                let bytes = ASN1Values.bytes(value.assumingMemoryBound(to: ASN1_STRING.self)) ?? []
                if type == GEN_DNS { out.append(.dnsName(String(decoding: bytes, as: UTF8.self))) }
                else if type == GEN_IPADD { out.append(.ipAddress(bytes)) }
                else { others.append("\(type == GEN_EMAIL ? "email" : "URI"):\(String(decoding: bytes, as: UTF8.self))") }
            case GEN_DIRNAME: others.append("a directory name")
            case GEN_RID: others.append("a registered ID")
            default: others.append("an otherName")
            }
        }
        return (out, others)
    }

    // MARK: Reading

    /// The PEM, from the DER made once at init: PEM_write_bio_X509 encodes the certificate twice
    /// more (length, then bytes), ~86,000 instructions for a leaf. The same text as it writes.
    public var pem: String { DER.pem(der, label: "CERTIFICATE") }

    public var serial: SerialNumber { ASN1Values.serial(X509_get0_serialNumber(raw)) }

    public var subject: String { ASN1Values.name(X509_get_subject_name(raw)) }

    /// The subject as the attributes ca writes (CN, OU, O), to re-issue a certificate with the same name.
    public var subjectName: DistinguishedName {
        func value(_ nid: Int32) -> String? {
            guard let name = X509_get_subject_name(raw) else { return nil }
            let index = X509_NAME_get_index_by_NID(name, nid, -1)
            guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
            return ASN1Values.bytes(UnsafePointer(data)).map { String(decoding: $0, as: UTF8.self) }
        }
        return DistinguishedName(commonName: value(NID_commonName) ?? "", organizationalUnit: value(NID_organizationalUnitName),
                                 organization: value(NID_organizationName))
    }

    /// The extended key usages ca understands.
    public var extendedKeyUsage: [ExtendedKeyUsage] {
        let flags = X509_get_extended_key_usage(raw)
        if flags == UINT32_MAX { return [] }
        var out: [ExtendedKeyUsage] = []
        if flags & UInt32(XKU_SSL_SERVER) != 0 { out.append(.serverAuth) }
        if flags & UInt32(XKU_SSL_CLIENT) != 0 { out.append(.clientAuth) }
        return out
    }
    public var issuer: String { ASN1Values.name(X509_get_issuer_name(raw)) }
    public var notBefore: Date { ASN1Values.date(X509_get0_notBefore(raw)) }
    public var notAfter: Date { ASN1Values.date(X509_get0_notAfter(raw)) }
    public var isCA: Bool { X509_check_ca(raw) > 0 }

    public var subjectKeyIdentifier: [UInt8]? { ASN1Values.bytes(X509_get0_subject_key_id(raw)) }
    public var authorityKeyIdentifier: [UInt8]? { ASN1Values.bytes(X509_get0_authority_key_id(raw)) }

    /// SHA-256 over the DER, uppercase hex.
    public var fingerprint: String { Digest.sha256(der).hexString }

    public var subjectAlternativeNames: [GeneralName] {
        guard let stack = OpaquePointer(X509_get_ext_d2i(raw, NID_subject_alt_name, nil, nil)) else { return [] }
        defer { ca_GENERAL_NAMES_free(stack) }
        return Certificate.readGeneralNames(stack).names
    }

    /// The certificate's public key.
    public var publicKey: PublicKey? {
        guard let key = X509_get_pubkey(keyed) else { CryptoError.clearQueue(); return nil }
        return PublicKey(owning: key)
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo, as `PrivateKey.publicKeyFingerprint`: the same for
    /// every certificate on one key (a CA renewed with `renew-ca` keeps it).
    public var publicKeyFingerprint: String {
        guard let key = X509_get0_pubkey(keyed) else { return "" }
        return PublicKey.fingerprint(key)
    }

    /// True when `key` is the private half of this certificate's public key.
    public func matches(_ key: PrivateKey) -> Bool {
        let result = X509_check_private_key(keyed, key.raw) == 1
        CryptoError.clearQueue()
        return result
    }

    /// True when `issuer`'s key signed this certificate.
    public func isSigned(by issuer: Certificate) -> Bool {
        guard let key = X509_get0_pubkey(issuer.keyed) else { return false }
        let result = X509_verify(raw, key) == 1
        CryptoError.clearQueue()
        return result
    }
}

extension Certificate: Equatable {
    public static func == (a: Certificate, b: Certificate) -> Bool { a.der == b.der }
}
