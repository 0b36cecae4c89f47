import FoundationEssentials
import Glibc

/// How `deploy` reaches a host: the operator's own OpenSSH client (so ~/.ssh/config, agents, jump
/// hosts and known_hosts all apply), run without a shell on our side, and `ca` on the far side.
public struct SSHTransport: Sendable {
    /// The ssh command as words (`ssh`, or `ssh -F FILE`), its program resolved to a path.
    public let ssh: [String]
    /// The remote `ca` as words (`ca`, `/usr/local/bin/ca`, `sudo -n ca`).
    public let remoteCA: [String]
    public let connectTimeout: Int
    public let timeout: TimeInterval

    public init(ssh: String, remoteCA remoteCommand: String, connectTimeout: Int = 10, timeout: TimeInterval = 120) throws {
        let sshWords = try Self.words(ssh, what: "--ssh")
        guard let program = ChildProcess.resolve(sshWords[0]) else {
            throw CAError.invalid("cannot run the ssh command '\(sshWords[0].quotedForErrorLine)': no such program on \(ChildEnvironment.path)",
                                  fix: "Install openssh-client, or give its path with --ssh (or CA_SSH).")
        }
        self.ssh = [program] + sshWords.dropFirst()
        remoteCA = try Self.words(remoteCommand, what: "--remote-ca")
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }

    /// Words split on blanks, as a person types them; no quotes, no shell, nothing that could not be
    /// one word of a command line.
    static func words(_ text: String, what: String) throws -> [String] {
        // A leading ~/ is the operator's home, from the password database as OpenSSH takes it (no shell runs here).
        let accounts = SystemAccounts()
        let home = accounts.user(accounts.userName(getuid()))?.home ?? ""
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            .map { $0.hasPrefix("~/") && !home.isEmpty ? home + $0.dropFirst() : $0 }
        guard !words.isEmpty else { throw CAError.invalid("\(what) is empty", fix: "Give a command, e.g. 'ssh' or 'ssh -F ~/.ssh/fleet_config'.") }
        for word in words where word.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw CAError.invalid("\(what) '\(word.quotedForErrorLine)' holds a control character")
        }
        return words
    }

    /// A word for the remote shell: ssh hands the remote side one string, which its login shell splits.
    public static func shellQuote(_ word: String) -> String {
        if !word.isEmpty && word.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0)) }) { return word }
        return "'" + word.replacing("'", with: "'\\''") + "'"
    }

    /// The ssh argv for running `remote` (ca's arguments) on `destination`: no terminal, no prompt
    /// (a parallel run cannot answer one), a bounded connect.
    public func arguments(destination: String, remote: [String]) -> [String] {
        ssh + ["-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=\(connectTimeout)", "--", destination,
               (remoteCA + remote).map(Self.shellQuote).joined(separator: " ")]
    }

    /// What ssh gets of our environment: the minimal one plus what OpenSSH itself uses (the agent,
    /// Kerberos), never a passphrase variable.
    public static var environment: [String: String] {
        ChildEnvironment.minimal(passing: ["HOME", "USER", "LOGNAME", "SSH_AUTH_SOCK", "KRB5CCNAME"])
    }

    public func run(destination: String, remote: [String], input: [UInt8] = []) throws -> ChildProcess.Result {
        try ChildProcess.run(arguments(destination: destination, remote: remote), input: input, environment: Self.environment, timeout: timeout)
    }
}

/// The release of `ca`, and the oldest one `deploy` will drive on a host.
public enum CAVersion {
    public static let current = "0.3.0"
    /// 0.3.0 is the first with `ca request`, certificate-only bundles (hosts that make their own keys) and
    /// `install --reconnect` (what `maintain` asks of a standby).
    public static let minimumRemoteHostKeys = "0.3.0"
    /// 0.2.0 is the first whose `install` refuses overriding settings, checks PG_VERSION and reads a
    /// plain-key bundle from standard input without a prompt (issue 8 and 9 hardening).
    public static let minimumRemote = "0.2.0"

    /// Numeric components of a version line ("0.2.0", "ca 0.2.0"); nil when there are none.
    public static func components(_ text: String) -> [Int]? {
        guard let word = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first(where: { $0.first?.isNumber == true }) else { return nil }
        let parts = word.split(separator: ".").map { Int($0.prefix { $0.isNumber }) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.map { $0! }
    }

    public static func isAtLeast(_ text: String, _ minimum: String) -> Bool {
        guard let have = components(text), let want = components(minimum) else { return false }
        for index in 0..<max(have.count, want.count) {
            let a = index < have.count ? have[index] : 0, b = index < want.count ? want[index] : 0
            if a != b { return a > b }
        }
        return true
    }
}
