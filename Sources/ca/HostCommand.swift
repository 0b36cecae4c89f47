import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct HostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "Register and inspect the PostgreSQL hosts the CA serves.",
        subcommands: [HostAddCommand.self, HostListCommand.self, HostShowCommand.self, HostSetCommand.self, HostRemoveCommand.self])
}

struct HostAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Register a host.",
        discussion: "The host's name is always one of its DNS names. Use a DNS name in the standby's host= (libpq before 15 does not match IP SANs).")

    @Argument(help: "The host's name (RFC 1123), e.g. db1.example.com.")
    var name: String

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("DNS names for the server certificate (repeat, or separate with commas).", valueName: "name"))
    var dns: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("IPv4/IPv6 addresses for the server certificate.", valueName: "address"))
    var ip: [String] = []

    @Option(name: .long, help: "primary or standby.")
    var role: String = HostRole.standby.rawValue

    @Option(name: .long, help: "PostgreSQL major version: \(PostgresVersion.supported).")
    var pgVersion: String = PostgresVersion.default.description

    @Option(name: .long, help: ArgumentHelp("Data directory (default /var/lib/postgresql/VERSION/main).", valueName: "dir"))
    var dataDir: String?

    @Option(name: .long, help: ArgumentHelp("Config directory (default /etc/postgresql/VERSION/main).", valueName: "dir"))
    var configDir: String?

    @Option(name: .long, help: "The OS user PostgreSQL runs as.")
    var osUser: String = "postgres"

    @Option(name: .long, help: "The database role standbys replicate as (the client certificate's CN).")
    var replicationUser: String = "replicator"

    @Option(name: .long, help: "The port PostgreSQL listens on (standbys connect to their primary's).")
    var port: Int = 5432

    @Option(name: .long, help: ArgumentHelp("Who makes the host's private keys: ca (kept sealed in the CA database, shipped in bundles) or host (made on the host by 'ca request'; the CA signs its requests and never holds them).", valueName: "ca|host"))
    var keys: String = KeyPolicy.ca.rawValue

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let version = try PostgresVersion(pgVersion)
        let host = try PostgresHost(
            name: HostName(name),
            dnsNames: dns.flatMap { $0.split(separator: ",").map(String.init) }.map { try HostName($0, what: "DNS name") },
            ipAddresses: ip.flatMap { $0.split(separator: ",").map(String.init) }.map { try IPAddress($0) },
            role: HostRole(parsing: role), postgresVersion: version,
            dataDirectory: dataDir.map { try AbsolutePath($0, what: "data directory") },
            configDirectory: configDir.map { try AbsolutePath($0, what: "config directory") },
            osUser: osUser, replicationUser: replicationUser, port: port, keyPolicy: KeyPolicy(parsing: keys))
        let store = try CAStore.open(path: global.databasePath)
        _ = try store.activeAuthority()
        try store.write {
            try store.insertHost(host, at: Clock.now())
            try store.record("host add", subject: host.name.value, detail: "\(host.role.rawValue), PostgreSQL \(host.postgresVersion), keys made by \(host.keyPolicy == .ca ? "the CA" : "the host")", at: Clock.now())
        }
        for single in host.dnsNames where !single.value.contains(".") {
            Terminal.warning("'\(single.value)' is a single-label name: libpq accepts it, but RFC 5280 linters flag it; prefer a fully qualified name")
        }
        if global.json { return try Output.json(HostJSON(host)) }
        let next = host.keyPolicy == .ca ? "ca issue \(host.name.value)"
            : "ca deploy \(host.name.value) (or 'ca export \(host.name.value)', then 'ca request --bundle FILE' on the host and 'ca sign \(host.name.value) --request FILE' here)"
        print("Added \(host.role.rawValue) '\(host.name.value)' (PostgreSQL \(host.postgresVersion), keys made by \(host.keyPolicy == .ca ? "the CA" : "the host")). Next: \(next)")
    }
}

struct HostListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the hosts.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let hosts = try CAStore.open(path: global.databasePath).hosts()
        if global.json { return try Output.json(hosts.map(HostJSON.init)) }
        Output.table(["NAME", "ROLE", "PG", "KEYS", "NAMES", "DATA DIR"], hosts.map {
            [$0.name.value, $0.role.rawValue, $0.postgresVersion.description, $0.keyPolicy.rawValue,
             ($0.dnsNames.map(\.value) + $0.ipAddresses.map(\.description)).joined(separator: ","), $0.dataDirectory.value]
        })
    }
}

struct HostShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one host and its certificates.")
    @Argument(help: "The host's name.") var name: String
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let store = try CAStore.open(path: global.databasePath)
        try HostReport(store: store, name: try HostName(name).value).print(json: global.json)
    }
}

struct HostSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change who makes a host's keys.",
        discussion: """
            --keys host: from now on the host makes its keys ('ca request') and the CA signs them; bundles carry no             key. Its current certificates stay valid, on the keys installed there; 'ca deploy HOST' (or request and             sign) replaces them with keys made on the host, and ca then holds none of its keys.             --keys ca: the next 'ca issue HOST' makes keys in the CA again.
            """)
    @Argument(help: "The host's name.") var name: String
    @Option(name: .long, help: ArgumentHelp("ca or host.", valueName: "ca|host")) var keys: String
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let name = try HostName(name).value
        let policy = try KeyPolicy(parsing: keys)
        let store = try CAStore.open(path: global.databasePath)
        let host = try store.host(named: name)
        var rekey = false
        if host.keyPolicy != policy {
            try store.write {
                try store.setKeyPolicy(policy, hostName: name)
                // Keys the CA made are replaced by keys made on the host at the next deploy.
                let active = try store.certificates(CertificateFilter(hostName: name, status: .active))
                if policy == .host && active.contains(where: { $0.keyPEM != nil }) {
                    try store.requestRekey(hostName: name, at: Clock.now())
                    rekey = true
                }
                if policy == .ca { try store.clearRekey(hostName: name) }
                try store.record("host set", subject: name, detail: "keys made by \(policy == .ca ? "the CA" : "the host")", at: Clock.now())
            }
        }
        if global.json { return try Output.json(HostJSON(try store.host(named: name))) }
        if host.keyPolicy == policy { return print("'\(name)' already has its keys made by \(policy == .ca ? "the CA" : "the host"); nothing changed.") }
        switch policy {
        case .host:
            print("'\(name)' now makes its own keys." + (rekey ? " Its current certificates are on keys the CA made: 'ca deploy \(name)' replaces them with keys made there." : ""))
        case .ca:
            print("'\(name)' now has its keys made by the CA. Next: ca issue \(name)")
        }
    }
}

struct HostRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Forget a host. Its certificates stay in the inventory.",
        discussion: "Refused while the host has active certificates, unless --force: those certificates stay valid until they expire.")
    @Argument(help: "The host's name.") var name: String
    @Flag(name: .long, help: "Remove even though the host has active certificates.") var force = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let name = try HostName(name).value
        let store = try CAStore.open(path: global.databasePath)
        _ = try store.host(named: name)
        let active = try store.certificates(CertificateFilter(hostName: name, status: .active))
        if !active.isEmpty && !force {
            throw CAError.invalid("host '\(name)' still has \(active.count) active certificates",
                                  fix: "They stay valid until they expire; pass --force to remove the host anyway.")
        }
        try store.write {
            try store.deleteHost(named: name)
            try store.record("host remove", subject: name, detail: active.isEmpty ? nil : "\(active.count) active certificates kept", at: Clock.now())
        }
        if global.json { return try Output.json(["removed": name]) }
        print("Removed host '\(name)'.")
    }
}

/// A host with its certificates, as `host show` and `show HOST` print it.
struct HostReport {
    let host: PostgresHost
    let certificates: [CertificateRecord]

    init(store: CAStore, name: String) throws {
        host = try store.host(named: name)
        certificates = try store.certificates(CertificateFilter(hostName: name))
    }

    struct JSON: Encodable {
        let host: HostJSON
        let certificates: [CertificateJSON]
    }

    func print(json: Bool) throws {
        if json { return try Output.json(JSON(host: HostJSON(host), certificates: certificates.map { CertificateJSON($0) })) }
        Swift.print("""
            Host:              \(host.name.value) (\(host.role.rawValue))
            PostgreSQL:        \(host.postgresVersion)
            DNS names:         \(host.dnsNames.map(\.value).joined(separator: ", "))
            IP addresses:      \(host.ipAddresses.isEmpty ? "-" : host.ipAddresses.map(\.description).joined(separator: ", "))
            Data directory:    \(host.dataDirectory)
            Config directory:  \(host.configDirectory)
            Port:              \(host.port)
            OS user:           \(host.osUser)
            Replication role:  \(host.replicationUser)
            Keys made by:      \(host.keyPolicy == .ca ? "the CA (kept sealed in its database)" : "the host (ca request; the CA holds no key)")
            """)
        Swift.print("")
        if certificates.isEmpty {
            return Swift.print("No certificates yet. Run: " + (host.keyPolicy == .ca ? "ca issue \(host.name.value)" : "ca deploy \(host.name.value) (request, sign, install)"))
        }
        try CertificateTable.print(certificates)
    }
}
