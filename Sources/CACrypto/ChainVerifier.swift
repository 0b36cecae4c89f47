import COpenSSL
import FoundationEssentials

/// In-process path validation with OpenSSL's verifier: what PostgreSQL and libpq will decide.
public enum ChainVerifier {
    public enum Purpose: Sendable {
        case server, client
        var id: Int32 { self == .server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT }
    }

    /// nil when `leaf` verifies against `trusted` (and, if given, every CRL with CRL_CHECK_ALL,
    /// as PostgreSQL configures it) for `purpose` at `time`, and matches `hostName` if given;
    /// else OpenSSL's reason ("certificate revoked", "certificate has expired", …).
    public static func failure(of leaf: Certificate, trusted: [Certificate], crls: [CertificateRevocationList] = [],
                               purpose: Purpose, hostName: String? = nil, at time: Date = Date()) -> String? {
        guard let store = X509_STORE_new() else { return "out of memory" }
        defer { X509_STORE_free(store) }
        for certificate in trusted { _ = X509_STORE_add_cert(store, certificate.keyed) }
        for crl in crls { _ = X509_STORE_add_crl(store, crl.raw) }
        CryptoError.clearQueue()  // duplicates in a bundle are not errors
        guard let context = X509_STORE_CTX_new() else { return "out of memory" }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, leaf.keyed, nil) == 1 else { return "cannot initialise verification" }
        let parameters = X509_STORE_CTX_get0_param(context)
        var flags = UInt(X509_V_FLAG_X509_STRICT) | UInt(X509_V_FLAG_USE_CHECK_TIME)
        if !crls.isEmpty { flags |= UInt(X509_V_FLAG_CRL_CHECK) | UInt(X509_V_FLAG_CRL_CHECK_ALL) }
        X509_VERIFY_PARAM_set_flags(parameters, flags)
        X509_VERIFY_PARAM_set_time(parameters, time_t(time.timeIntervalSince1970))
        X509_VERIFY_PARAM_set_purpose(parameters, purpose.id)
        if let hostName {
            if let ip = try? IPBytes(hostName) {
                _ = X509_VERIFY_PARAM_set1_ip(parameters, ip.bytes, ip.bytes.count)
            } else {
                _ = X509_VERIFY_PARAM_set1_host(parameters, hostName, hostName.utf8.count)
            }
        }
        let ok = X509_verify_cert(context) == 1
        defer { CryptoError.clearQueue() }
        if ok { return nil }
        return String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(context))))
    }

    /// A textual IP literal as bytes (for IP SAN matching).
    struct IPBytes {
        let bytes: [UInt8]
        init(_ text: String) throws {
            guard let octets = a2i_IPADDRESS(text) else { CryptoError.clearQueue(); throw CryptoError.invalidPEM(what: "IP") }
            defer { ASN1_STRING_free(octets) }
            bytes = Array(UnsafeBufferPointer(start: ASN1_STRING_get0_data(octets), count: Int(ASN1_STRING_length(octets))))
        }
    }
}
