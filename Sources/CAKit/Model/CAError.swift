import FoundationEssentials

/// Every failure a person can act on: what failed, the value quoted, the rule, the fix.
public enum CAError: Error, Equatable, Sendable {
    /// Bad input: a value breaks a rule. `message` names the value and the rule; `fix` says what to do.
    case invalid(String, fix: String? = nil)
    case noDatabase(path: String)
    case notADatabase(path: String, reason: String)
    case alreadyInitialized(path: String, name: String)
    case notInitialized(path: String)
    case unknownHost(String)
    case hostExists(String)
    case unknownCertificate(String)
    case ambiguousSerial(String, matches: Int)
    case passphraseRequired
    case wrongPassphrase
    case busy(path: String)
    /// Another process is doing this work right now (exit 75: try again later).
    case inUse(String)
    case io(String)
    case crypto(String, details: [String])

    /// sysexits(3): 64 usage and validation, 75 try again, 77 permission/passphrase, 70 internal.
    public var exitCode: Int32 {
        switch self {
        case .invalid, .noDatabase, .notADatabase, .alreadyInitialized, .notInitialized,
             .unknownHost, .hostExists, .unknownCertificate, .ambiguousSerial, .passphraseRequired:
            return 64
        case .wrongPassphrase: return 77
        case .busy, .inUse: return 75
        case .io: return 74
        case .crypto: return 70
        }
    }
}

extension CAError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .invalid(let message, let fix):
            return fix.map { "\(message). \($0)" } ?? message
        case .noDatabase(let path):
            return "no CA database at '\(path)'. Run 'ca init --name NAME' first, or point --db / CA_DB at an existing one."
        case .notADatabase(let path, let reason):
            return "cannot use '\(path)' as the CA database: \(reason)."
        case .alreadyInitialized(let path, let name):
            return "'\(path)' already holds the CA '\(name)'; init refuses to replace it. Use another --db, or 'ca rotate' to replace the CA key."
        case .notInitialized(let path):
            return "'\(path)' holds no CA yet. Run 'ca init --name NAME --db \(path)'."
        case .unknownHost(let name):
            return "no host named '\(name)'. Register it with 'ca host add \(name) --dns NAME --ip ADDRESS', or see 'ca host list'."
        case .hostExists(let name):
            return "a host named '\(name)' already exists. See it with 'ca host show \(name)', or remove it first."
        case .unknownCertificate(let what):
            return "no certificate or host matches '\(what)'. See 'ca list'."
        case .ambiguousSerial(let prefix, let count):
            return "serial prefix '\(prefix)' matches \(count) certificates; give more digits."
        case .passphraseRequired:
            return "the CA key is encrypted and no passphrase was given. Pass --passphrase-file FILE, set CA_PASSPHRASE, or run on a terminal to be prompted."
        case .wrongPassphrase:
            return "wrong passphrase: the CA key could not be decrypted."
        case .busy(let path):
            return "the CA database '\(path)' stayed locked by another ca process; nothing was changed. Try again."
        case .inUse(let message):
            return message
        case .io(let message):
            return message
        case .crypto(let message, _):
            return message
        }
    }
}

extension CAError {
    /// Maps a crypto-layer failure to the user-facing error.
    static func from(_ error: CryptoError) -> CAError {
        switch error {
        case .wrongPassphrase: return .wrongPassphrase
        case .passphraseRequired: return .passphraseRequired
        case .openssl(let operation, let details): return .crypto("OpenSSL failed to \(operation)", details: details)
        case .invalidPEM, .unsupportedKey: return .invalid(error.description)
        }
    }

    /// Runs crypto work, translating its errors.
    public static func translatingCrypto<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as CryptoError { throw CAError.from(error) }
    }
}
