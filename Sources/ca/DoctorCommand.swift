import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check an installed host the way PostgreSQL and libpq will.",
        discussion: """
            Reads the settings in effect, follows the files they name, and checks owners, modes, directory access, \
            key/certificate match, chains, CRL freshness, expiry and a standby's primary_conninfo. Each finding is \
            OK, WARN or FAIL with the path, the reason and the fix. Exits 1 when anything FAILs. Without a CA \
            database, give --data-dir (the version comes from PG_VERSION, the OS user from the directory's owner, the \
            config directory is Debian's beside it when the data directory has no postgresql.conf). With the host in \
            the database, --data-dir and --config-dir override only themselves.
            """)

    @Argument(help: "The host (its name is what the server certificate must carry).") var host: String
    @Option(name: .long, help: ArgumentHelp("The --root prefix the host was installed under.", valueName: "dir")) var root: String?
    @Option(name: .long, help: ArgumentHelp("The data directory (default: the host's).", valueName: "dir")) var dataDir: String?
    @Option(name: .long, help: ArgumentHelp("The config directory (default: the host's, else the data directory).", valueName: "dir")) var configDir: String?
    @OptionGroup var global: GlobalOptions

    struct JSON: Encodable {
        struct Item: Encodable {
            let level: String
            let check: String
            let path: String?
            let reason: String
            let fix: String?
        }
        let host: String
        let ok: Int
        let warn: Int
        let fail: Int
        let findings: [Item]
    }

    func run() throws {
        let name = try HostName(host)
        let rootPrefix = try root.map { try AbsolutePath($0, what: "--root").value } ?? ""
        let doctor: Doctor
        let dataOverride = try dataDir.map { try AbsolutePath($0, what: "--data-dir") }
        let configOverride = try configDir.map { try AbsolutePath($0, what: "--config-dir") }
        if let store = try? CAStore.open(path: global.databasePath), (try? store.host(named: name.value)) != nil {
            // The record, with each option given overriding only itself.
            doctor = try Doctor.forHost(name.value, store: store, root: rootPrefix, dataDirectory: dataOverride, configDirectory: configOverride)
        } else {
            guard let dataOverride else {
                throw CAError.invalid("host '\(name)' is not in the CA database at '\(global.databasePath)'", fix: "Give --data-dir to check an installed host without it.")
            }
            var target = try Self.inspect(name: name, dataDirectory: dataOverride, root: rootPrefix)
            if let configOverride { target.configDirectory = configOverride }
            let home = SystemAccounts().user(target.osUser)?.home ?? "/var/lib/postgresql"
            doctor = Doctor(host: target, layout: InstallLayout(root: rootPrefix, caName: "ca", host: target, osUserHome: home), primaryCertificate: nil)
        }
        let findings = doctor.run()
        let counts = (findings.filter { $0.level == .ok }.count, findings.filter { $0.level == .warn }.count, findings.filter { $0.level == .fail }.count)
        if global.json {
            try Output.json(JSON(host: name.value, ok: counts.0, warn: counts.1, fail: counts.2,
                                 findings: findings.map { .init(level: $0.level.rawValue, check: $0.check, path: $0.path, reason: $0.reason, fix: $0.fix) }))
        } else {
            for finding in findings {
                print("\(finding.level.rawValue.padded(to: 4))  \(finding.check): \(finding.path.map { "\($0): " } ?? "")\(finding.reason)")
                if finding.level != .ok, let fix = finding.fix { print("      fix: \(fix)") }
            }
            print("doctor '\(name)': \(counts.0) OK, \(counts.1) WARN, \(counts.2) FAIL")
        }
        if counts.2 > 0 { throw ExitCode(1) }
    }

    /// A host record read off an installed data directory, for checks without the CA database.
    static func inspect(name: HostName, dataDirectory: AbsolutePath, root: String) throws -> PostgresHost {
        let data = dataDirectory.under(root)
        let files = try FileRoot(prefix: root)
        guard let version = try? files.read(data + "/PG_VERSION", limit: 64) else {
            throw CAError.invalid("'\(data)' has no PG_VERSION: not a PostgreSQL data directory")
        }
        let (versionText, _) = PostgresVersion.dataDirectoryFile(version.bytes)
        let directory = try files.directory(data)
        let owner = SystemAccounts().userName(directory.info.uid)
        let standby = try files.entry(data + "/standby.signal") != nil || files.entry(data + "/recovery.conf") != nil
        // Debian keeps a cluster's config in /etc/postgresql/<version>/<cluster> beside /var/lib/postgresql/<version>/<cluster>.
        var configDirectory = dataDirectory
        let parts = dataDirectory.value.split(separator: "/")
        if parts.count == 5, parts[0] == "var", parts[1] == "lib", parts[2] == "postgresql", (try? files.entry(data + "/postgresql.conf")) ?? nil == nil,
           let debian = try? AbsolutePath("/etc/postgresql/\(parts[3])/\(parts[4])", what: "config directory"),
           (try? files.entry(debian.under(root) + "/postgresql.conf")) ?? nil != nil {
            configDirectory = debian
        }
        return try PostgresHost(name: name, dnsNames: [], ipAddresses: [], role: standby ? .standby : .primary,
                                postgresVersion: PostgresVersion(versionText),
                                dataDirectory: dataDirectory, configDirectory: configDirectory, osUser: owner, replicationUser: "replicator")
    }
}
