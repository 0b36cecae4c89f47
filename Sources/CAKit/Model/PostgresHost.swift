/// A PostgreSQL server the CA knows. Every field is validated on the way in.
public struct PostgresHost: Codable, Equatable, Sendable {
    public var name: HostName
    public var dnsNames: [HostName]
    public var ipAddresses: [IPAddress]
    public var role: HostRole
    public var postgresVersion: PostgresVersion
    public var dataDirectory: AbsolutePath
    public var configDirectory: AbsolutePath
    public var osUser: String
    public var replicationUser: String
    /// The port PostgreSQL listens on; standbys connect to their primary's.
    public var port: Int
    /// Who makes the host's private keys.
    public var keyPolicy: KeyPolicy

    public init(name: HostName, dnsNames: [HostName], ipAddresses: [IPAddress], role: HostRole,
                postgresVersion: PostgresVersion, dataDirectory: AbsolutePath?, configDirectory: AbsolutePath?,
                osUser: String, replicationUser: String, port: Int = 5432, keyPolicy: KeyPolicy = .ca) throws {
        try CAName.checkNotReserved(name.value, what: "host name")
        self.name = name
        // The host's own name is always a SAN: it is what pg-config puts in host=.
        guard dnsNames.count <= Self.maximumNames && ipAddresses.count <= Self.maximumNames else {
            throw CAError.invalid("host '\(name)' has \(dnsNames.count) DNS names and \(ipAddresses.count) addresses; ca allows at most \(Self.maximumNames) of each")
        }
        var names = [name]
        var seen: Set<HostName> = [name]
        for dns in dnsNames where seen.insert(dns).inserted { names.append(dns) }
        self.dnsNames = names
        var ips: [IPAddress] = []
        var seenIPs: Set<IPAddress> = []
        for ip in ipAddresses where seenIPs.insert(ip).inserted { ips.append(ip) }
        self.ipAddresses = ips
        self.role = role
        self.postgresVersion = postgresVersion
        // Debian's layout (pg_createcluster) unless told otherwise.
        self.dataDirectory = try dataDirectory ?? AbsolutePath("/var/lib/postgresql/\(postgresVersion)/main", what: "data directory")
        self.configDirectory = try configDirectory ?? AbsolutePath("/etc/postgresql/\(postgresVersion)/main", what: "config directory")
        try Self.checkClusterDirectory(self.dataDirectory, what: "data directory")
        try Self.checkClusterDirectory(self.configDirectory, what: "config directory")
        guard osUser != "root" else {
            throw CAError.invalid("invalid OS user 'root': PostgreSQL never runs as root, and ca would give it the keys", fix: "Use the account PostgreSQL runs as, e.g. 'postgres'.")
        }
        self.osUser = try Identifier.osUser(osUser)
        self.replicationUser = try Identifier.role(replicationUser)
        guard (1...65535).contains(port) else { throw CAError.invalid("invalid port \(port): it must be from 1 to 65535") }
        self.port = port
        self.keyPolicy = keyPolicy
    }

    /// Decoding re-runs every validation: a host bundle is input like any other.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(name: c.decode(HostName.self, forKey: .name), dnsNames: c.decode([HostName].self, forKey: .dnsNames),
                      ipAddresses: c.decode([IPAddress].self, forKey: .ipAddresses), role: c.decode(HostRole.self, forKey: .role),
                      postgresVersion: c.decode(PostgresVersion.self, forKey: .postgresVersion),
                      dataDirectory: c.decode(AbsolutePath.self, forKey: .dataDirectory),
                      configDirectory: c.decode(AbsolutePath.self, forKey: .configDirectory),
                      osUser: c.decode(String.self, forKey: .osUser), replicationUser: c.decode(String.self, forKey: .replicationUser),
                      port: c.decode(Int.self, forKey: .port),
                      keyPolicy: c.decodeIfPresent(KeyPolicy.self, forKey: .keyPolicy) ?? .ca)
    }

    /// The key policy is written only when it is `host`: a `ca` host encodes as it did before the
    /// policy existed, so its material digest (and a 0.2 reader of its bundle) is unchanged.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(dnsNames, forKey: .dnsNames)
        try c.encode(ipAddresses, forKey: .ipAddresses)
        try c.encode(role, forKey: .role)
        try c.encode(postgresVersion, forKey: .postgresVersion)
        try c.encode(dataDirectory, forKey: .dataDirectory)
        try c.encode(configDirectory, forKey: .configDirectory)
        try c.encode(osUser, forKey: .osUser)
        try c.encode(replicationUser, forKey: .replicationUser)
        try c.encode(port, forKey: .port)
        if keyPolicy != .ca { try c.encode(keyPolicy, forKey: .keyPolicy) }
    }

    /// A certificate names at most this many DNS names, and as many addresses.
    public static let maximumNames = 100

    /// Directories of the system that can never be a cluster's data or config directory: root
    /// writes links and files there, and a host record (or a bundle) naming one would aim it at them.
    static let systemDirectories: Set<String> = [
        "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt",
        "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/lib", "/var/log", "/var/tmp",
        "/var/run", "/var/cache", "/var/spool", "/var/mail", "/usr/local", "/usr/lib", "/usr/bin", "/usr/sbin", "/usr/share",
        "/etc/postgresql", "/var/lib/postgresql",
    ]
    static let systemTrees = ["/proc", "/sys", "/dev", "/run", "/boot", "/etc/ssl", "/usr", "/bin", "/sbin", "/lib", "/root"]
    /// Each tree with its '/', made once rather than for every path checked.
    private static let systemTreePrefixes = systemTrees.map { ($0, $0 + "/") }

    static func checkClusterDirectory(_ path: AbsolutePath, what: String) throws {
        let value = path.value
        let inTree = systemTreePrefixes.first { value == $0.0 || value.hasPrefix($0.1) }?.0
        if systemDirectories.contains(value) || inTree != nil {
            throw CAError.invalid("invalid \(what) '\(value)': \(inTree.map { "it is inside \($0)" } ?? "it is a system directory"), never a PostgreSQL cluster's",
                                  fix: "Give the cluster's own directory, e.g. '/var/lib/postgresql/15/main'.")
        }
    }

    /// The server certificate's subjectAltName: every DNS name, then every address.
    public var subjectAlternativeNames: [GeneralName] {
        dnsNames.map { .dnsName($0.value) } + ipAddresses.map { .ipAddress($0.bytes) }
    }

    enum CodingKeys: String, CodingKey {
        case name, dnsNames, ipAddresses, role, postgresVersion, dataDirectory, configDirectory, osUser, replicationUser, port, keyPolicy
    }
}
