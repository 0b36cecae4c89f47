import COpenSSL

/// The public half of a key, as a certificate request or a certificate carries it. Immutable.
public final class PublicKey: @unchecked Sendable {
    let raw: OpaquePointer
    /// The key type when it is one ca issues for; nil for anything else (`algorithm` says what it is).
    public let type: KeyType?
    /// The algorithm and size, for people: "RSA 1024 bits", "EC P-256", "Ed25519".
    public let algorithm: String

    init(owning raw: OpaquePointer) {
        self.raw = raw
        type = try? PrivateKey.detectType(raw)
        CryptoError.clearQueue()
        algorithm = PublicKey.describe(raw)
    }

    deinit { EVP_PKEY_free(raw) }

    /// SHA-256 of the DER SubjectPublicKeyInfo, as `PrivateKey.publicKeyFingerprint` and
    /// `Certificate.publicKeyFingerprint` compute it.
    public var fingerprint: String { PublicKey.fingerprint(raw) }

    static func fingerprint(_ raw: OpaquePointer) -> String {
        var pointer: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(raw, &pointer)
        guard length > 0, let pointer else { CryptoError.clearQueue(); return "" }
        defer { ca_OPENSSL_free(pointer) }
        return Digest.sha256(Array(UnsafeBufferPointer(start: pointer, count: Int(length)))).hexString
    }

    /// An EC key's curve by its OpenSSL name ("prime256v1", "secp256k1"); nil for other keys.
    /// An EC key's public point as OpenSSL encodes it (uncompressed: 04, x, y), read in one call:
    /// each read converts the point to affine coordinates (a field inversion, ~43,000 instructions),
    /// and asking for the length first would not save that one.
    static func encodedPoint(_ raw: OpaquePointer) -> [UInt8]? {
        var point = [UInt8](repeating: 0, count: 133)  // P-521's, the longest
        var length = 0
        guard EVP_PKEY_get_octet_string_param(raw, "encoded-pub-key", &point, point.count, &length) == 1, length > 0 else {
            CryptoError.clearQueue()
            return nil
        }
        return Array(point.prefix(length))
    }

    static func curveName(_ raw: OpaquePointer) -> String? {
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_utf8_string_param(raw, "group", &name, name.count, &length) == 1 else { CryptoError.clearQueue(); return nil }
        return String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func describe(_ raw: OpaquePointer) -> String {
        let bits = EVP_PKEY_get_bits(raw)
        switch EVP_PKEY_get_base_id(raw) {
        case EVP_PKEY_RSA: return "RSA \(bits) bits"
        case EVP_PKEY_EC:
            guard let group = curveName(raw) else { return "EC \(bits) bits" }
            return "EC \(group == "prime256v1" ? "P-256" : group == "secp384r1" ? "P-384" : group)"
        case EVP_PKEY_ED25519: return "Ed25519"
        case EVP_PKEY_ED448: return "Ed448"
        case EVP_PKEY_DSA: return "DSA \(bits) bits"
        default:
            if let name = EVP_PKEY_get0_type_name(raw) { return "\(String(cString: name)) \(bits) bits" }
            return "an unknown algorithm of \(bits) bits"
        }
    }
}

extension PrivateKey {
    /// True when this key is the private half of `key`.
    public func isPrivateHalf(of key: PublicKey) -> Bool { publicKeyFingerprint == key.fingerprint }
}
