import COpenSSL
import FoundationEssentials

/// A signed X.509 v2 CRL: an immutable value. Making one signs it.
public final class CertificateRevocationList: @unchecked Sendable {
    let raw: OpaquePointer

    init(owning raw: OpaquePointer) { self.raw = raw }
    deinit { X509_CRL_free(raw) }

    public convenience init(pem: String) throws {
        let bio = try MemoryBIO(Array(pem.utf8))
        guard let crl = PEM_read_bio_X509_CRL(bio.raw, nil, nil, nil) else {
            CryptoError.clearQueue()
            throw CryptoError.invalidPEM(what: "CRL")
        }
        self.init(owning: crl)
    }

    /// Signs a CRL for `issuer`: version 2, AKI (key id), crlNumber, thisUpdate/nextUpdate, one
    /// entry per revoked serial with its reason code (none for `unspecified`, as RFC 5280 advises).
    public static func sign(issuer: Certificate, key: PrivateKey, number: Int64, thisUpdate: Date, nextUpdate: Date,
                            revoked: [RevokedEntry]) throws -> CertificateRevocationList {
        guard let crl = X509_CRL_new() else { throw CryptoError.openssl("allocate a CRL") }
        var owned: OpaquePointer? = crl
        defer { if let owned { X509_CRL_free(owned) } }
        guard X509_CRL_set_version(crl, Int(X509_CRL_VERSION_2)) == 1,
              X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.raw)) == 1 else {
            throw CryptoError.openssl("set the CRL issuer")
        }
        try withTime(thisUpdate) { guard X509_CRL_set1_lastUpdate(crl, $0) == 1 else { throw CryptoError.openssl("set thisUpdate") } }
        try withTime(nextUpdate) { guard X509_CRL_set1_nextUpdate(crl, $0) == 1 else { throw CryptoError.openssl("set nextUpdate") } }

        for entry in revoked {
            guard let item = X509_REVOKED_new() else { throw CryptoError.openssl("allocate a CRL entry") }
            var itemOwned: OpaquePointer? = item
            defer { if let itemOwned { X509_REVOKED_free(itemOwned) } }
            guard let number = entry.serial.bytes.withUnsafeBufferPointer({ BN_bin2bn($0.baseAddress, Int32($0.count), nil) }) else {
                throw CryptoError.openssl("encode a revoked serial")
            }
            let serial = BN_to_ASN1_INTEGER(number, nil)
            BN_free(number)
            guard let serial else { throw CryptoError.openssl("encode a revoked serial") }
            defer { ASN1_INTEGER_free(serial) }
            guard X509_REVOKED_set_serialNumber(item, serial) == 1 else { throw CryptoError.openssl("set a revoked serial") }
            try withTime(entry.revokedAt) { guard X509_REVOKED_set_revocationDate(item, $0) == 1 else { throw CryptoError.openssl("set a revocation date") } }
            if entry.reason != .unspecified {
                guard let reason = ASN1_ENUMERATED_new() else { throw CryptoError.openssl("allocate a reason") }
                defer { ASN1_ENUMERATED_free(reason) }
                guard ASN1_ENUMERATED_set(reason, Int(entry.reason.code)) == 1,
                      X509_REVOKED_add1_ext_i2d(item, NID_crl_reason, UnsafeMutableRawPointer(reason), 0, 0) == 1 else {
                    throw CryptoError.openssl("set a revocation reason")
                }
            }
            guard X509_CRL_add0_revoked(crl, item) == 1 else { throw CryptoError.openssl("add a CRL entry") }
            itemOwned = nil
        }
        guard X509_CRL_sort(crl) == 1 else { throw CryptoError.openssl("sort the CRL") }

        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer.raw, nil, nil, crl, 0)
        guard let aki = X509V3_EXT_nconf_nid(nil, &context, NID_authority_key_identifier, "keyid:always") else {
            throw CryptoError.openssl("build the CRL's authorityKeyIdentifier")
        }
        defer { X509_EXTENSION_free(aki) }
        guard X509_CRL_add_ext(crl, aki, -1) == 1 else { throw CryptoError.openssl("add the CRL's authorityKeyIdentifier") }
        guard let crlNumber = ASN1_INTEGER_new() else { throw CryptoError.openssl("allocate the CRL number") }
        defer { ASN1_INTEGER_free(crlNumber) }
        guard ASN1_INTEGER_set_int64(crlNumber, number) == 1,
              X509_CRL_add1_ext_i2d(crl, NID_crl_number, UnsafeMutableRawPointer(crlNumber), 0, 0) == 1 else {
            throw CryptoError.openssl("set the CRL number")
        }
        guard X509_CRL_sign(crl, key.raw, key.signingDigest) > 0 else { throw CryptoError.openssl("sign the CRL") }
        owned = nil
        return CertificateRevocationList(owning: crl)
    }

    private static func withTime(_ date: Date, _ body: (UnsafeMutablePointer<ASN1_TIME>) throws -> Void) throws {
        guard let time = ASN1_TIME_set(nil, time_t(date.timeIntervalSince1970)) else { throw CryptoError.openssl("encode a time") }
        defer { ASN1_STRING_free(time) }
        try body(time)
    }

    public var pem: String {
        guard let bio = try? MemoryBIO(), PEM_write_bio_X509_CRL(bio.raw, raw) == 1 else { return "" }
        return bio.string
    }

    public var issuer: String { ASN1Values.name(X509_CRL_get_issuer(raw)) }

    public var thisUpdate: Date { ASN1Values.date(X509_CRL_get0_lastUpdate(raw)) }
    public var nextUpdate: Date? { X509_CRL_get0_nextUpdate(raw).map { ASN1Values.date($0) } }

    public var number: Int64? {
        guard let pointer = X509_CRL_get_ext_d2i(raw, NID_crl_number, nil, nil) else { return nil }
        let integer = pointer.assumingMemoryBound(to: ASN1_INTEGER.self)
        defer { ASN1_INTEGER_free(integer) }
        var value: Int64 = 0
        return ASN1_INTEGER_get_int64(&value, integer) == 1 ? value : nil
    }

    public var revokedSerials: [SerialNumber] {
        guard let stack = ca_X509_CRL_revoked(raw) else { return [] }
        return (0..<ca_sk_X509_REVOKED_num(stack)).compactMap { index in
            ca_sk_X509_REVOKED_value(stack, index).map { ASN1Values.serial(X509_REVOKED_get0_serialNumber($0)) }
        }
    }

    /// True when `issuer`'s key signed this CRL.
    public func isSigned(by issuer: Certificate) -> Bool {
        guard let key = X509_get0_pubkey(issuer.keyed) else { return false }
        let result = X509_CRL_verify(raw, key) == 1
        CryptoError.clearQueue()
        return result
    }
}
