import COpenSSL
import Synchronization

/// A private key. Immutable once made, so it may be shared across threads (OpenSSL 3 allows
/// concurrent read-only use of an EVP_PKEY).
public final class PrivateKey: @unchecked Sendable {
    let raw: OpaquePointer
    public let type: KeyType
    /// The EC public point, read once: a new leaf's certificate and its PKCS#8 both need it.
    private let point = Mutex<[UInt8]??>(nil)

    /// The EC public point (04, x, y); nil for other keys.
    var encodedPublicPoint: [UInt8]? {
        point.withLock { cached in
            if let cached { return cached }
            let read = type.isRSA || type == .ed25519 ? nil : PublicKey.encodedPoint(raw)
            cached = .some(read)
            return read
        }
    }

    /// PBKDF2-HMAC-SHA256 iterations for keys encrypted under a person's passphrase
    /// (OWASP's figure; OpenSSL's PEM writer would use 2,048).
    public static let passphraseIterations = 600_000
    /// Iterations for keys encrypted under a 256-bit random wrapping secret: stretching adds
    /// nothing to a secret of full entropy, and issuance must not pay a slow KDF per key.
    public static let wrappingIterations = 1

    init(owning raw: OpaquePointer) throws {
        self.raw = raw
        do { self.type = try PrivateKey.detectType(raw) } catch { EVP_PKEY_free(raw); throw error }
    }

    deinit { EVP_PKEY_free(raw) }

    /// A key whose type the caller made it as (a generator's): no need to ask OpenSSL again.
    init(owning raw: OpaquePointer, type: KeyType) {
        self.raw = raw
        self.type = type
    }

    /// Generates a fresh key (for many, a KeyGenerator is faster).
    public convenience init(generating type: KeyType) throws {
        self.init(owning: try KeyGenerator(type).generateRaw(), type: type)
    }

    /// Reads a PKCS#8 PEM key, encrypted or not.
    public convenience init(pem: String, passphrase: String?) throws {
        let encrypted = pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        if encrypted && passphrase == nil { throw CryptoError.passphraseRequired }
        if let key = try PrivateKey.readPKCS8(Array(pem.utf8), encrypted: encrypted, passphrase: passphrase) {
            try self.init(owning: key)
            return
        }
        // Not PKCS#8 (an "EC PRIVATE KEY", an "RSA PRIVATE KEY"): whatever OpenSSL reads.
        let bio = try MemoryBIO(Array(pem.utf8))
        // With no callback OpenSSL takes `u` as the passphrase; "" keeps it from prompting on a TTY.
        let key = (passphrase ?? "").withCString { pointer in
            PEM_read_bio_PrivateKey(bio.raw, nil, nil, UnsafeMutableRawPointer(mutating: pointer))
        }
        guard let key else {
            CryptoError.clearQueue()
            throw encrypted ? CryptoError.wrongPassphrase : CryptoError.invalidPEM(what: "private key")
        }
        try self.init(owning: key)
    }

    /// The first PKCS#8 key in `pem` (a PrivateKeyInfo, or an EncryptedPrivateKeyInfo opened with
    /// `passphrase`); nil when there is none, for the caller to try OpenSSL's other formats. EC
    /// P-256/P-384 and Ed25519 keys are built from their raw values (`rawKey`): OpenSSL 3's
    /// PEM_read_bio_PrivateKey and EVP_PKCS82PKEY build a decoder chain for every key, ~0.35 ms
    /// each, the largest part of opening a CA key or of unsealing a leaf key for an install bundle.
    static func readPKCS8(_ pem: [UInt8], encrypted: Bool, passphrase: String?) throws -> OpaquePointer? {
        let bio = try MemoryBIO(pem)
        let info: OpaquePointer
        if encrypted {
            guard let sealed = PEM_read_bio_PKCS8(bio.raw, nil, nil, nil) else { CryptoError.clearQueue(); return nil }
            defer { X509_SIG_free(sealed) }
            let opened = (passphrase ?? "").withCString { PKCS8_decrypt(sealed, $0, Int32(strlen($0))) }
            guard let opened else { CryptoError.clearQueue(); throw CryptoError.wrongPassphrase }
            info = opened
        } else {
            guard let plain = PEM_read_bio_PKCS8_PRIV_KEY_INFO(bio.raw, nil, nil, nil) else { CryptoError.clearQueue(); return nil }
            info = plain
        }
        defer { PKCS8_PRIV_KEY_INFO_free(info) }  // frees the private value with OPENSSL_clear_free
        if let key = try rawKey(info) { return key }
        CryptoError.clearQueue()
        guard let key = EVP_PKCS82PKEY(info) else { CryptoError.clearQueue(); throw CryptoError.invalidPEM(what: "private key") }
        return key
    }

    /// An EC P-256/P-384 or Ed25519 key from a PrivateKeyInfo's raw values, in the layout OpenSSL
    /// (and `rawPKCS8DER`) writes: RFC 5915 ECPrivateKey with its public point, RFC 8410 for Ed25519.
    /// nil for any other key or layout (OpenSSL reads those). An EC public point that is not the
    /// private value's (EVP_PKEY_pairwise_check) is refused: OpenSSL's decoder would take it as given.
    static func rawKey(_ info: OpaquePointer) throws -> OpaquePointer? {
        var algorithm: OpaquePointer?
        var bytes: UnsafePointer<UInt8>?
        var length: Int32 = 0
        var identifier: UnsafePointer<X509_ALGOR>?
        guard PKCS8_pkey_get0(&algorithm, &bytes, &length, &identifier, info) == 1, let bytes, length > 0 else { return nil }
        var inner = DERReader(Array(UnsafeBufferPointer(start: bytes, count: Int(length))))
        defer { inner.wipe() }
        switch OBJ_obj2nid(algorithm) {
        case NID_ED25519:
            guard let seed = inner.read(0x04), inner.atEnd, seed.count == 32 else { return nil }
            return seed.withUnsafeBufferPointer { EVP_PKEY_new_raw_private_key_ex(nil, "ED25519", nil, $0.baseAddress, 32) }
        case NID_X9_62_id_ecPublicKey:
            var parameterType: Int32 = 0
            var parameter: UnsafeRawPointer?
            X509_ALGOR_get0(nil, &parameterType, &parameter, identifier)
            guard parameterType == V_ASN1_OBJECT, let parameter else { return nil }
            let (group, size): (String, Int)
            switch OBJ_obj2nid(OpaquePointer(parameter)) {
            case NID_X9_62_prime256v1: (group, size) = ("prime256v1", 32)
            case NID_secp384r1: (group, size) = ("secp384r1", 48)
            default: return nil
            }
            guard var ecPrivateKey = inner.sequence(), inner.atEnd,
                  ecPrivateKey.read(0x02) == [0x01], var scalar = ecPrivateKey.read(0x04), scalar.count == size else { return nil }
            defer { DERReader.wipe(&scalar) }
            if ecPrivateKey.next == 0xA0 { guard ecPrivateKey.read(0xA0) != nil else { return nil } }  // the curve again
            guard let publicKey = ecPrivateKey.read(0xA1), ecPrivateKey.atEnd else { return nil }
            var wrapped = DERReader(publicKey)
            guard let bits = wrapped.read(0x03), wrapped.atEnd, bits.count == 2 + 2 * size, bits[0] == 0x00, bits[1] == 0x04 else { return nil }
            var point = Array(bits.dropFirst())
            var little = Array(scalar.reversed())  // OSSL_PARAM integers are in native byte order
            defer { DERReader.wipe(&little) }
            let key: OpaquePointer? = group.withCString { groupName in
                little.withUnsafeMutableBytes { value in
                    point.withUnsafeMutableBytes { octets in
                        // OSSL_PARAM keeps the name's address: a StaticString's, which outlives the call
                        // (a String argument's temporary C string would not).
                        func name(_ text: StaticString) -> UnsafePointer<CChar> { UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self) }
                        var parameters = [
                            OSSL_PARAM_construct_utf8_string(name("group"), UnsafeMutablePointer(mutating: groupName), 0),
                            OSSL_PARAM_construct_BN(name("priv"), value.baseAddress?.assumingMemoryBound(to: UInt8.self), value.count),
                            OSSL_PARAM_construct_octet_string(name("pub"), octets.baseAddress, octets.count),
                            OSSL_PARAM_construct_end(),
                        ]
                        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { return nil }
                        defer { EVP_PKEY_CTX_free(context) }
                        var made: OpaquePointer?
                        guard EVP_PKEY_fromdata_init(context) == 1,
                              EVP_PKEY_fromdata(context, &made, ca_EVP_PKEY_KEYPAIR(), &parameters) == 1 else { return nil }
                        return made
                    }
                }
            }
            // A well-formed key OpenSSL will not take (a point off the curve), or whose public point
            // is not its private value's, is refused here, not handed to a more lenient reader.
            let check = key.flatMap { EVP_PKEY_CTX_new_from_pkey(nil, $0, nil) }
            defer { EVP_PKEY_CTX_free(check) }
            guard let key, let check, EVP_PKEY_pairwise_check(check) == 1 else {
                EVP_PKEY_free(key)
                CryptoError.clearQueue()
                throw CryptoError.invalidPEM(what: "private key: its public point is not its private value's")
            }
            return key
        default:
            return nil
        }
    }

    /// PKCS#8 PEM. With a passphrase: PBES2, PBKDF2-HMAC-SHA256 with `iterations`, AES-256-CBC,
    /// a fresh 16-byte salt; readable by `openssl pkey -passin` and PostgreSQL's
    /// `ssl_passphrase_command`. Without: an unencrypted `PRIVATE KEY`.
    ///
    /// EC P-256/P-384 and Ed25519 keys are written from their raw values, byte for byte what OpenSSL
    /// writes (RFC 5208 with an RFC 5915 ECPrivateKey holding the public point and no parameters;
    /// RFC 8410), and sealed here (RFC 8018, the layout PKCS8_encrypt_ex writes). OpenSSL 3's
    /// EVP_PKEY2PKCS8 builds an encoder for every key, and its PBES2 path looks up the cipher, the
    /// KDF and the MAC by name each time: most of the cost of sealing a leaf. RSA goes through OpenSSL.
    public func pkcs8PEM(passphrase: String?, iterations: Int = PrivateKey.passphraseIterations) throws -> String {
        if var der = try rawPKCS8DER() {
            defer { DERReader.wipe(&der) }
            guard let passphrase else { return DER.pem(der, label: "PRIVATE KEY") }
            return DER.pem(try Self.pbes2(der, passphrase: passphrase, iterations: iterations), label: "ENCRYPTED PRIVATE KEY")
        }
        let bio = try MemoryBIO()
        guard let info = EVP_PKEY2PKCS8(raw) else { throw CryptoError.openssl("encode a PKCS#8 key") }
        defer { PKCS8_PRIV_KEY_INFO_free(info) }
        guard let passphrase else {
            guard PEM_write_bio_PKCS8_PRIV_KEY_INFO(bio.raw, info) == 1 else { throw CryptoError.openssl("write a PKCS#8 key") }
            return bio.string
        }
        var salt = try SecureRandom.bytes(16)
        let sealed = passphrase.withCString { pass in
            PKCS8_encrypt_ex(-1, EVP_aes_256_cbc(), pass, Int32(strlen(pass)), &salt, Int32(salt.count),
                             Int32(iterations), info, nil, nil)
        }
        guard let sealed else { throw CryptoError.openssl("encrypt a PKCS#8 key") }
        defer { X509_SIG_free(sealed) }
        guard PEM_write_bio_PKCS8(bio.raw, sealed) == 1 else { throw CryptoError.openssl("write a PKCS#8 key") }
        return bio.string
    }

    /// AES-256-CBC, fetched from the default provider once for the process (a fetch by name takes
    /// the method store's locks each time). EVP_CIPHER is reference-counted and safe to share.
    nonisolated(unsafe) private static let aes256CBC: OpaquePointer? = EVP_CIPHER_fetch(nil, "AES-256-CBC", nil)

    /// An EncryptedPrivateKeyInfo of `plain` under `passphrase`: PBES2 with PBKDF2-HMAC-SHA256
    /// (a fresh 16-byte salt, `iterations`, no keyLength) and AES-256-CBC (a fresh 16-byte IV).
    static func pbes2(_ plain: [UInt8], passphrase: String, iterations: Int) throws -> [UInt8] {
        let salt = try SecureRandom.bytes(16), iv = try SecureRandom.bytes(16)
        var key = [UInt8](repeating: 0, count: 32)
        defer { DERReader.wipe(&key) }
        let derived = passphrase.withCString { pass in
            PKCS5_PBKDF2_HMAC(pass, Int32(strlen(pass)), salt, Int32(salt.count), Int32(iterations), EVP_sha256(), Int32(key.count), &key)
        }
        guard derived == 1 else { throw CryptoError.openssl("derive a key from the passphrase") }
        guard let cipher = aes256CBC, let context = EVP_CIPHER_CTX_new() else { throw CryptoError.openssl("set up AES-256-CBC") }
        defer { EVP_CIPHER_CTX_free(context) }
        var sealed = [UInt8](repeating: 0, count: plain.count + 16)
        let length: Int32? = sealed.withUnsafeMutableBufferPointer { out in
            var n: Int32 = 0, last: Int32 = 0
            guard EVP_EncryptInit_ex2(context, cipher, key, iv, nil) == 1,
                  EVP_EncryptUpdate(context, out.baseAddress, &n, plain, Int32(plain.count)) == 1,
                  EVP_EncryptFinal_ex(context, out.baseAddress! + Int(n), &last) == 1 else { return nil }
            return n + last
        }
        guard let length else { throw CryptoError.openssl("encrypt a PKCS#8 key") }
        sealed.removeLast(sealed.count - Int(length))
        let pbkdf2 = DER.tlv(0x30, [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0C]  // 1.2.840.113549.1.5.12
            + DER.tlv(0x30, DER.tlv(0x04, salt) + DER.integer(iterations)
                + DER.tlv(0x30, [0x06, 0x08, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x09, 0x05, 0x00])))  // hmacWithSHA256, NULL
        let aes = DER.tlv(0x30, [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2A] + DER.tlv(0x04, iv))  // aes256-CBC
        let algorithm = DER.tlv(0x30, [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D] + DER.tlv(0x30, pbkdf2 + aes))  // PBES2
        return DER.tlv(0x30, algorithm + DER.tlv(0x04, sealed))
    }

    /// The PKCS#8 DER of an EC P-256/P-384 or Ed25519 key from its raw values; nil for other keys.
    func rawPKCS8DER() throws -> [UInt8]? {
        let tlv = DER.tlv
        let version0: [UInt8] = [0x02, 0x01, 0x00]
        switch type {
        case .ed25519:
            var length = 0
            guard EVP_PKEY_get_raw_private_key(raw, nil, &length) == 1, length == 32 else { CryptoError.clearQueue(); return nil }
            var seed = [UInt8](repeating: 0, count: length)
            guard EVP_PKEY_get_raw_private_key(raw, &seed, &length) == 1 else { CryptoError.clearQueue(); return nil }
            defer { DERReader.wipe(&seed) }
            return tlv(0x30, version0 + tlv(0x30, [0x06, 0x03, 0x2B, 0x65, 0x70]) + tlv(0x04, tlv(0x04, seed)))
        case .ecP256, .ecP384:
            let (size, curve): (Int, [UInt8]) = type == .ecP256 ? (32, [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07])
                                                                : (48, [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22])
            var number: OpaquePointer?
            guard EVP_PKEY_get_bn_param(raw, "priv", &number) == 1, let number else { CryptoError.clearQueue(); return nil }
            defer { BN_clear_free(number) }
            var scalar = [UInt8](repeating: 0, count: size)
            guard BN_bn2binpad(number, &scalar, Int32(size)) == Int32(size) else { CryptoError.clearQueue(); return nil }
            defer { DERReader.wipe(&scalar) }
            guard let point = encodedPublicPoint, point.count == 2 * size + 1, point.first == 0x04 else { return nil }
            let ecPrivateKey = tlv(0x30, [0x02, 0x01, 0x01] + tlv(0x04, scalar) + tlv(0xA1, tlv(0x03, [0x00] + point)))
            let algorithm = tlv(0x30, [0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01] + curve)
            return tlv(0x30, version0 + algorithm + tlv(0x04, ecPrivateKey))
        default:
            return nil
        }
    }

    /// A 256-bit secret derived from the private key's own value, as 64 hex digits. It wraps
    /// the keys of the leaves this key signs: whoever can decrypt the CA key can decrypt them,
    /// nobody else. Derived from the mathematical key (EC scalar, RSA d, Ed25519 seed), not from
    /// an encoding, so an OpenSSL upgrade cannot change it.
    public func wrappingSecret(label: String) throws -> String {
        var material = Array(label.utf8)
        material.append(0)
        switch type {
        case .ed25519:
            var length = 0
            guard EVP_PKEY_get_raw_private_key(raw, nil, &length) == 1 else { throw CryptoError.openssl("read an Ed25519 key") }
            var seed = [UInt8](repeating: 0, count: length)
            guard EVP_PKEY_get_raw_private_key(raw, &seed, &length) == 1 else { throw CryptoError.openssl("read an Ed25519 key") }
            material += seed
        default:
            var number: OpaquePointer?
            let name = type.isRSA ? "d" : "priv"
            guard EVP_PKEY_get_bn_param(raw, name, &number) == 1, let number else {
                throw CryptoError.openssl("read the private value of a \(type.rawValue) key")
            }
            defer { BN_clear_free(number) }
            var value = [UInt8](repeating: 0, count: (Int(BN_num_bits(number)) + 7) / 8)
            _ = BN_bn2bin(number, &value)
            material += value
        }
        return Digest.sha256(material).hexString
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo: identifies the key without revealing it.
    public var publicKeyFingerprint: String { PublicKey.fingerprint(raw) }

    /// The digest to sign with; nil for Ed25519, which signs the message itself.
    var signingDigest: OpaquePointer? {
        switch type {
        case .ecP384: return EVP_sha384()
        case .ed25519: return nil
        default: return EVP_sha256()
        }
    }

    static func detectType(_ raw: OpaquePointer) throws -> KeyType {
        let bits = EVP_PKEY_get_bits(raw)
        switch EVP_PKEY_get_base_id(raw) {
        case EVP_PKEY_EC:
            // By the curve's name, not its size: secp256k1 and brainpoolP256r1 are 256 bits too.
            guard let group = PublicKey.curveName(raw) else { break }
            if group == "prime256v1" { return .ecP256 }
            if group == "secp384r1" { return .ecP384 }
        case EVP_PKEY_RSA:
            if bits == 2048 { return .rsa2048 }
            if bits == 3072 { return .rsa3072 }
            if bits == 4096 { return .rsa4096 }
        case EVP_PKEY_ED25519:
            return .ed25519
        default:
            break
        }
        throw CryptoError.unsupportedKey("algorithm \(EVP_PKEY_get_base_id(raw)) with \(bits) bits")
    }
}

/// Reads DER one TLV at a time (definite lengths up to 0xFFFF, as keys need); nil on anything else.
struct DERReader {
    private(set) var bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }
    /// The tag of the next element, if any.
    var next: UInt8? { index < bytes.count ? bytes[index] : nil }

    /// The content of the next element if its tag is `tag`.
    mutating func read(_ tag: UInt8) -> [UInt8]? {
        guard index + 2 <= bytes.count, bytes[index] == tag else { return nil }
        var length = Int(bytes[index + 1]), start = index + 2
        switch length {
        case 0..<0x80: break
        case 0x81:
            guard start < bytes.count, bytes[start] >= 0x80 else { return nil }
            length = Int(bytes[start]); start += 1
        case 0x82:
            guard start + 1 < bytes.count, bytes[start] != 0 else { return nil }
            length = Int(bytes[start]) << 8 | Int(bytes[start + 1]); start += 2
        default: return nil
        }
        guard length <= bytes.count - start else { return nil }
        index = start + length
        return Array(bytes[start..<index])
    }

    /// The next element, a SEQUENCE, as a reader of its own.
    mutating func sequence() -> DERReader? { read(0x30).map(DERReader.init) }

    mutating func wipe() { DERReader.wipe(&bytes) }
    /// Zeroes secret bytes before they are freed; OPENSSL_cleanse, which the compiler cannot drop.
    static func wipe(_ bytes: inout [UInt8]) { bytes.withUnsafeMutableBytes { if let base = $0.baseAddress { OPENSSL_cleanse(base, $0.count) } } }
}

/// Makes keys of one type from one OpenSSL context, kept from key to key: making the context (a
/// fetch of the key manager, the curve's parameters) cost more than the P-256 key itself (34,000
/// keys/s with a context each, 83,000 with one, measured in C). Not Sendable: one a thread.
public final class KeyGenerator {
    public let type: KeyType
    private let context: OpaquePointer

    public init(_ type: KeyType) throws {
        let algorithm: String
        switch type {
        case .ecP256, .ecP384: algorithm = "EC"
        case .rsa2048, .rsa3072, .rsa4096: algorithm = "RSA"
        case .ed25519: algorithm = "ED25519"
        }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else {
            throw CryptoError.openssl("create a \(type.rawValue) key context")
        }
        guard EVP_PKEY_keygen_init(context) == 1 else {
            EVP_PKEY_CTX_free(context)
            throw CryptoError.openssl("start \(type.rawValue) key generation")
        }
        let configured: Int32
        switch type {
        case .ecP256: configured = EVP_PKEY_CTX_set_ec_paramgen_curve_nid(context, NID_X9_62_prime256v1)
        case .ecP384: configured = EVP_PKEY_CTX_set_ec_paramgen_curve_nid(context, NID_secp384r1)
        case .rsa2048: configured = EVP_PKEY_CTX_set_rsa_keygen_bits(context, 2048)
        case .rsa3072: configured = EVP_PKEY_CTX_set_rsa_keygen_bits(context, 3072)
        case .rsa4096: configured = EVP_PKEY_CTX_set_rsa_keygen_bits(context, 4096)
        case .ed25519: configured = 1
        }
        guard configured > 0 else {
            EVP_PKEY_CTX_free(context)
            throw CryptoError.openssl("configure \(type.rawValue) key generation")
        }
        self.type = type
        self.context = context
    }

    deinit { EVP_PKEY_CTX_free(context) }

    /// A fresh key: each from its own randomness, as if from a new context.
    public func generate() throws -> PrivateKey { PrivateKey(owning: try generateRaw(), type: type) }

    func generateRaw() throws -> OpaquePointer {
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else {
            throw CryptoError.openssl("generate a \(type.rawValue) key")
        }
        return key
    }
}
