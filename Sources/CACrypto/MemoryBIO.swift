import COpenSSL

/// An owned in-memory BIO. Internal: used only to move PEM/DER in and out of OpenSSL.
final class MemoryBIO {
    let raw: OpaquePointer

    init() throws {
        guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError.openssl("allocate a memory BIO") }
        raw = bio
    }

    convenience init(_ bytes: [UInt8]) throws {
        try self.init()
        if !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { BIO_write(raw, $0.baseAddress, Int32($0.count)) }
            guard written == Int32(bytes.count) else { throw CryptoError.openssl("fill a memory BIO") }
        }
    }

    deinit { BIO_free(raw) }

    var bytes: [UInt8] {
        var pointer: UnsafeMutablePointer<CChar>?
        let count = ca_BIO_get_mem_data(raw, &pointer)
        guard let pointer, count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    var string: String { String(decoding: bytes, as: UTF8.self) }
}
