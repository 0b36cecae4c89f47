import COpenSSL

/// A failure inside the crypto layer. `details` holds OpenSSL's error queue, shown only with `--verbose`.
public enum CryptoError: Error, Equatable, Sendable {
    case openssl(operation: String, details: [String])
    case passphraseRequired
    case wrongPassphrase
    case invalidPEM(what: String)
    case unsupportedKey(String)

    /// Drains this thread's OpenSSL error queue into an error for `operation`.
    /// Call it right after the failing call, on the same thread.
    static func openssl(_ operation: String) -> CryptoError {
        var details: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            details.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return .openssl(operation: operation, details: details)
    }

    /// Empties the queue so an expected failure does not leak into a later report.
    static func clearQueue() { ERR_clear_error() }
}

extension CryptoError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .openssl(let operation, _): return "OpenSSL failed to \(operation)"
        case .passphraseRequired: return "the key is encrypted and no passphrase was given"
        case .wrongPassphrase: return "wrong passphrase: the key could not be decrypted"
        case .invalidPEM(let what): return "not a valid PEM \(what)"
        case .unsupportedKey(let why): return "unsupported key: \(why)"
        }
    }
}
