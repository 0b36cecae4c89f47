import COpenSSL
import FoundationEssentials

/// Readers for ASN.1 values certificates and CRLs share.
enum ASN1Values {
    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return .distantPast }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    static func serial(_ integer: UnsafePointer<ASN1_INTEGER>?) -> SerialNumber {
        guard let number = ASN1_INTEGER_to_BN(integer, nil) else { return SerialNumber(bytes: []) }
        defer { BN_free(number) }
        var bytes = [UInt8](repeating: 0, count: (Int(BN_num_bits(number)) + 7) / 8)
        _ = BN_bn2bin(number, &bytes)
        return SerialNumber(bytes: bytes)
    }

    static func bytes(_ string: UnsafePointer<ASN1_STRING>?) -> [UInt8]? {
        guard let string, let data = ASN1_STRING_get0_data(string) else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))))
    }

    /// An X509_NAME in RFC 2253 form ("CN=replicator,OU=db2").
    static func name(_ name: OpaquePointer?) -> String {
        guard let name, let bio = try? MemoryBIO(), X509_NAME_print_ex(bio.raw, name, 0, CA_XN_FLAG_RFC2253_UTF8) >= 0 else { return "" }
        return bio.string
    }
}
