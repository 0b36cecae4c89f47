import COpenSSL

/// The few DER and PEM structures ca writes itself, where OpenSSL's writers cost more than the
/// bytes: a leaf's PKCS#8, the PBES2 wrapper that seals it, and PEM text. Definite lengths below
/// 64 KiB, which every structure here is.
enum DER {
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        let n = content.count
        precondition(n < 0x10000, "a DER element ca writes is under 64 KiB")
        let length: [UInt8] = n < 0x80 ? [UInt8(n)] : n < 0x100 ? [0x81, UInt8(n)] : [0x82, UInt8(n >> 8), UInt8(n & 0xFF)]
        return [tag] + length + content
    }

    /// A non-negative INTEGER: big-endian, shortest form, a 0 first when the top bit is set.
    static func integer(_ value: Int) -> [UInt8] {
        precondition(value >= 0)
        var bytes: [UInt8] = []
        var rest = value
        repeat {
            bytes.insert(UInt8(rest & 0xFF), at: 0)
            rest >>= 8
        } while rest > 0
        if bytes[0] & 0x80 != 0 { bytes.insert(0, at: 0) }
        return tlv(0x02, bytes)
    }

    /// PEM as OpenSSL writes it: base64 in lines of 64 characters (48 bytes each) between the
    /// BEGIN and END lines of `label`.
    static func pem(_ der: [UInt8], label: String) -> String {
        var out = Array("-----BEGIN \(label)-----\n".utf8)
        out.reserveCapacity(out.count + der.count * 4 / 3 + der.count / 48 + 64)
        var line = [UInt8](repeating: 0, count: 65)  // 64 characters and EVP_EncodeBlock's NUL
        der.withUnsafeBufferPointer { bytes in
            for start in stride(from: 0, to: bytes.count, by: 48) {
                let n = EVP_EncodeBlock(&line, bytes.baseAddress! + start, Int32(min(48, bytes.count - start)))
                out += line[0..<Int(n)]
                out.append(UInt8(ascii: "\n"))
            }
        }
        out += Array("-----END \(label)-----\n".utf8)
        return String(decoding: out, as: UTF8.self)
    }
}
