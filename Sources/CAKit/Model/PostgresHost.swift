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

    public init(name: HostName, dnsNames: [HostName], ipAddresses: [IPAddress], role: HostRole,
                postgresVersion: PostgresVersion, dataDirectory: AbsolutePath?, configDirectory: AbsolutePath?,
                osUser: String, replicationUser: String, port: Int = 5432) throws {
        self.name = name
        // The host's own name is always a SAN: it is what pg-config puts in host=.
        var names = [name]
        for dns in dnsNames where !names.contains(dns) { names.append(dns) }
        self.dnsNames = names
        var ips: [IPAddress] = []
        for ip in ipAddresses where !ips.contains(ip) { ips.append(ip) }
        self.ipAddresses = ips
        self.role = role
        self.postgresVersion = postgresVersion
        // Debian's layout (pg_createcluster) unless told otherwise.
        self.dataDirectory = try dataDirectory ?? AbsolutePath("/var/lib/postgresql/\(postgresVersion)/main", what: "data directory")
        self.configDirectory = try configDirectory ?? AbsolutePath("/etc/postgresql/\(postgresVersion)/main", what: "config directory")
        self.osUser = try Identifier.osUser(osUser)
        self.replicationUser = try Identifier.role(replicationUser)
        guard (1...65535).contains(port) else { throw CAError.invalid("invalid port \(port): it must be from 1 to 65535") }
        self.port = port
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
                      port: c.decode(Int.self, forKey: .port))
    }

    /// The server certificate's subjectAltName: every DNS name, then every address.
    public var subjectAlternativeNames: [GeneralName] {
        dnsNames.map { .dnsName($0.value) } + ipAddresses.map { .ipAddress($0.bytes) }
    }

    enum CodingKeys: String, CodingKey {
        case name, dnsNames, ipAddresses, role, postgresVersion, dataDirectory, configDirectory, osUser, replicationUser, port
    }
}
