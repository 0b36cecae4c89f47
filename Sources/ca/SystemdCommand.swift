import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct SystemdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "systemd",
        abstract: "Print (or write with -o DIR) a service and a timer that run 'ca maintain', hardened, with the passphrase from a systemd credential.",
        discussion: """
            ca-maintain.service runs 'ca maintain' as --user (default: you) with the CA passphrase from the encrypted \
            credential 'ca-passphrase' (LoadCredentialEncrypted=; make it once with: systemd-creds encrypt --name=ca-passphrase \
            passphrase.txt /etc/credstore.encrypted/ca-passphrase), then writes --metrics for node_exporter's textfile \
            collector whether the run succeeded or not. ca-maintain.timer runs it --on-calendar (default daily, with \
            up to an hour of random delay; Persistent=, so a missed run happens at boot). Then: systemctl daemon-reload; \
            systemctl enable --now ca-maintain.timer.
            """)

    @Option(name: .long, help: ArgumentHelp("The user the service runs as (the one whose ssh keys reach the hosts).", valueName: "user")) var user: String?
    @Option(name: .long, help: ArgumentHelp("When the timer fires (systemd.time(7)).", valueName: "spec")) var onCalendar: String = "daily"
    @Option(name: .long, help: ArgumentHelp("Where the metrics go (a .prom file in the textfile collector's directory).", valueName: "file")) var metrics: String = "/var/lib/prometheus/node-exporter/ca.prom"
    @Option(name: .long, help: ArgumentHelp("The encrypted credential file (systemd-creds encrypt).", valueName: "file")) var credential: String = "/etc/credstore.encrypted/ca-passphrase"
    @Option(name: .long, help: ArgumentHelp("The ca executable the service runs (default: this one).", valueName: "path")) var executable: String?
    @Option(name: .shortAndLong, help: ArgumentHelp("Write ca-maintain.service and ca-maintain.timer into this directory (e.g. /etc/systemd/system).", valueName: "dir")) var output: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let account = try user.map { try Identifier.osUser($0) } ?? (getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "root")
        let database = try Self.unitPath(Self.absolute(global.databasePath), what: "--db")
        let metricsFile = try Self.unitPath(metrics, what: "--metrics")
        guard metricsFile.hasSuffix(".prom") else { throw CAError.invalid("invalid --metrics '\(metrics.quotedForErrorLine)': the textfile collector reads only files ending in .prom") }
        let credentialFile = try Self.unitPath(credential, what: "--credential")
        // Default: this very binary, as the kernel knows it (not argv[0], which may be relative or a launcher).
        let running = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let program = try Self.unitPath(Self.absolute(executable ?? running), what: "--executable")
        let calendar = try Self.calendar(onCalendar)
        let service = """
            # Written by 'ca systemd'. The CA passphrase is the encrypted credential below; the service reads it from
            # $CREDENTIALS_DIRECTORY/ca-passphrase, which only it can read, and no file holds it in the clear.
            [Unit]
            Description=ca maintain: renew certificates and CRLs, deploy and probe the PostgreSQL hosts
            Wants=network-online.target
            After=network-online.target

            [Service]
            Type=oneshot
            User=\(account)
            LoadCredentialEncrypted=\(PassphraseOptions.credential):\(credentialFile)
            ExecStart=\(program) maintain --db \(database)
            ExecStopPost=\(program) metrics --db \(database) -o \(metricsFile)
            UMask=0077
            NoNewPrivileges=yes
            PrivateTmp=yes
            PrivateDevices=yes
            ProtectSystem=strict
            ProtectHome=read-only
            ReadWritePaths=\(Path.parent(database)) \(Path.parent(metricsFile))
            ProtectKernelTunables=yes
            ProtectKernelModules=yes
            ProtectKernelLogs=yes
            ProtectControlGroups=yes
            ProtectClock=yes
            ProtectHostname=yes
            RestrictSUIDSGID=yes
            RestrictRealtime=yes
            RestrictNamespaces=yes
            LockPersonality=yes
            MemoryDenyWriteExecute=yes
            SystemCallArchitectures=native
            CapabilityBoundingSet=
            RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6

            """
        let timer = """
            # Written by 'ca systemd'.
            [Unit]
            Description=Run ca maintain (\(calendar))

            [Timer]
            OnCalendar=\(calendar)
            RandomizedDelaySec=1h
            Persistent=true

            [Install]
            WantedBy=timers.target

            """
        guard let output else {
            print("# ca-maintain.service\n" + service + "\n# ca-maintain.timer\n" + timer, terminator: "")
            return
        }
        let directory = Self.absolute(output)
        var info = stat()
        guard stat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw CAError.invalid("invalid -o '\(output.quotedForErrorLine)': not a directory")
        }
        try SecretFile.write(service, to: directory + "/ca-maintain.service", mode: 0o644)
        try SecretFile.write(timer, to: directory + "/ca-maintain.timer", mode: 0o644)
        if !global.json { print("Wrote \(directory)/ca-maintain.service and ca-maintain.timer. Next: systemctl daemon-reload && systemctl enable --now ca-maintain.timer") }
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// A path as a unit file may hold it unquoted: absolute, no whitespace, no specifier (%), no quote or
    /// backslash, no control character — nothing that could end a line or start another setting.
    static func unitPath(_ path: String, what: String) throws -> String {
        let value = try AbsolutePath(path, what: what).value
        if let bad = value.unicodeScalars.first(where: { $0.value < 0x21 || $0.value == 0x7F || "%\\\"'$;".unicodeScalars.contains($0) }) {
            throw CAError.invalid("invalid \(what) '\(path.quotedForErrorLine)': '\(String(bad).quotedForErrorLine)' cannot stand in a unit file unquoted", fix: "Use a path without spaces, quotes, '%', '$' or ';'.")
        }
        return value
    }

    /// An OnCalendar= value: printable, one line, letters, digits and the punctuation systemd.time(7) uses.
    static func calendar(_ text: String) throws -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 *-:,./~")
        guard !text.isEmpty, text.count <= 100, text.allSatisfy({ allowed.contains($0) }), text.first != " " else {
            throw CAError.invalid("invalid --on-calendar '\(text.quotedForErrorLine)': expected a systemd.time(7) calendar spec such as 'daily' or '*-*-* 03:00:00'")
        }
        return text
    }
}
