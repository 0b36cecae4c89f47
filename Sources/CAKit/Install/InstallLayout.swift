/// Where every file of a host goes (DESIGN.md §4). `root` prefixes every path, link targets
/// included, so a staged tree is self-consistent.
public struct InstallLayout: Sendable {
    public let root: String
    public let caName: String
    public let hostName: String
    public let dataDirectory: String
    public let configDirectory: String
    public let osUserHome: String

    public init(root: String, caName: String, host: PostgresHost, osUserHome: String) {
        self.root = root
        self.caName = caName
        self.hostName = host.name.value
        self.dataDirectory = host.dataDirectory.under(root)
        self.configDirectory = host.configDirectory.under(root)
        self.osUserHome = root + osUserHome
    }

    public var sslDirectory: String { root + "/etc/ssl" }
    public var certsDirectory: String { sslDirectory + "/certs" }
    public var privateDirectory: String { sslDirectory + "/private" }
    public var crlDirectory: String { sslDirectory + "/crl" }

    public var trustBundle: String { certsDirectory + "/\(caName).crt" }
    public var crl: String { crlDirectory + "/\(caName).crl" }
    public var serverCertificate: String { certsDirectory + "/\(hostName).crt" }
    public var serverKey: String { privateDirectory + "/\(hostName).key" }
    public var clientCertificate: String { certsDirectory + "/\(hostName)-replication.crt" }
    public var clientKey: String { privateDirectory + "/\(hostName)-replication.key" }

    public func dataLink(_ name: String) -> String { dataDirectory + "/" + name }
    public var clientDirectory: String { osUserHome + "/.postgresql" }
    public func clientLink(_ name: String) -> String { clientDirectory + "/" + name }

    public var postgresqlConf: String { configDirectory + "/postgresql.conf" }
    public var hbaConf: String { configDirectory + "/pg_hba.conf" }
    public var includeDirectory: String { configDirectory + "/conf.d" }
    public var includeFile: String { includeDirectory + "/" + PostgresConfig.includeFileName }
    public var recoveryConf: String { dataLink("recovery.conf") }
    public var standbySignal: String { dataLink("standby.signal") }

    /// The data-directory links and their targets.
    public var dataLinks: [(link: String, target: String)] {
        [(dataLink("server.crt"), serverCertificate), (dataLink("server.key"), serverKey),
         (dataLink("root.crt"), trustBundle), (dataLink("root.crl"), crl)]
    }

    /// The libpq default files in ~/.postgresql and their targets.
    public var clientLinks: [(link: String, target: String)] {
        [(clientLink("postgresql.crt"), clientCertificate), (clientLink("postgresql.key"), clientKey),
         (clientLink("root.crt"), trustBundle), (clientLink("root.crl"), crl)]
    }
}
