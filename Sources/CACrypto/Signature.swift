import COpenSSL

/// Detached signatures over bytes (a host bundle's document): ECDSA, RSA (PKCS#1 v1.5) or Ed25519,
/// with the digest each key signs certificates with.
extension PrivateKey {
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw CryptoError.openssl("allocate a signing context") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, signingDigest, nil, raw) == 1 else { throw CryptoError.openssl("start a signature") }
        var length = 0
        guard message.withUnsafeBufferPointer({ EVP_DigestSign(context, nil, &length, $0.baseAddress, $0.count) }) == 1 else {
            throw CryptoError.openssl("size a signature")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard message.withUnsafeBufferPointer({ input in
            signature.withUnsafeMutableBufferPointer { EVP_DigestSign(context, $0.baseAddress, &length, input.baseAddress, input.count) }
        }) == 1 else { throw CryptoError.openssl("sign") }
        return Array(signature.prefix(length))
    }
}

extension Certificate {
    /// True when `signature` over `message` was made by the private half of this certificate's key.
    public func verifies(_ signature: [UInt8], over message: [UInt8]) -> Bool {
        guard let key = X509_get0_pubkey(keyed) else { return false }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context); CryptoError.clearQueue() }
        let digest: OpaquePointer?
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_ED25519: digest = nil
        case EVP_PKEY_EC where EVP_PKEY_get_bits(key) == 384: digest = EVP_sha384()
        default: digest = EVP_sha256()
        }
        guard EVP_DigestVerifyInit(context, nil, digest, nil, key) == 1 else { return false }
        return signature.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { EVP_DigestVerify(context, sig.baseAddress, sig.count, $0.baseAddress, $0.count) }
        } == 1
    }
}
