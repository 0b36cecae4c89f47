import CSystem
import FoundationEssentials
import Glibc

/// What `ca` does with secrets in its own process, first thing in `main`: no core dumps and no
/// ptrace or /proc reads by the same user (PR_SET_DUMPABLE 0, RLIMIT_CORE 0), and the passphrase
/// variables taken out of the environment: copied, their bytes wiped where exec put them (what
/// /proc/PID/environ shows), and unset, so no child can inherit them.
public enum ProcessSecrets {
    /// The variables that may carry a passphrase.
    public static let variables = ["CA_PASSPHRASE", "CA_BUNDLE_PASSPHRASE"]

    nonisolated(unsafe) private static var captured: [String: String] = [:]
    nonisolated(unsafe) private static var didCapture = false

    /// Hardens the process and captures the passphrase variables. Idempotent.
    public static func capture() {
        if didCapture { return }
        didCapture = true
        _ = ca_prctl_set_dumpable(0)
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        setrlimit(Int32(RLIMIT_CORE.rawValue), &none)
        for name in variables {
            guard let pointer = getenv(name) else { continue }
            captured[name] = String(cString: pointer)
            memset(pointer, 0, strlen(pointer))
            unsetenv(name)
        }
    }

    /// A captured variable (or, in a process that never captured, the environment's).
    public static func value(_ name: String) -> String? {
        didCapture ? captured[name] : Environment.value(name)
    }
}

/// The environment a child of `ca` gets: never ours, only what a program needs to run.
public enum ChildEnvironment {
    public static let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// PATH, a locale and time zone if we have them, the variables of ours named in `passing` (never a
    /// passphrase variable), and `extra` (HOME, USER, …).
    public static func minimal(_ extra: [String: String] = [:], passing: [String] = []) -> [String: String] {
        var out = ["PATH": path]
        let ours = ProcessInfo.processInfo.environment
        for name in ["LANG", "LC_ALL", "LC_MESSAGES", "TZ"] + passing {
            if let value = ours[name], !ProcessSecrets.variables.contains(name) { out[name] = value }
        }
        out.merge(extra) { $1 }
        for name in ProcessSecrets.variables { out[name] = nil }
        return out
    }
}

/// The rules every passphrase meets, wherever it comes from.
public enum Passphrase {
    /// OpenSSL's PEM decoder reads at most 1,024 bytes of a passphrase (PEM_BUFSIZE) and would
    /// silently cut a longer one; ca refuses it instead.
    public static let maximumBytes = 1023

    public static func validate(_ value: String, what: String) throws -> String {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty else { throw CAError.invalid("the \(what) is empty") }
        guard bytes.count <= maximumBytes else {
            throw CAError.invalid("the \(what) is \(bytes.count) bytes long; ca accepts at most \(maximumBytes) (OpenSSL would silently cut a longer one)")
        }
        if bytes.contains(0) { throw CAError.invalid("the \(what) contains a NUL byte, which OpenSSL would silently cut it at") }
        if bytes.contains(where: { $0 == 0x0A || $0 == 0x0D }) { throw CAError.invalid("the \(what) contains a line break") }
        return value
    }
}
