/// Where every file of a host goes (DESIGN.md §4). `root` prefixes every path, link targets
/// included, so a staged tree is self-consistent.
///
/// ca writes its files only inside its own directory, `/etc/ssl/ca-managed`; the Debian names in
/// `/etc/ssl/certs`, `/etc/ssl/private` and `/etc/ssl/crl` are links into it. A host's four files
/// (server and replication certificate and key) live in one generation directory that the link
/// `hosts/<host>/current` names, so one rename switches both pairs at once (Kubernetes'
/// AtomicWriter does the same): at no instant does a certificate sit beside another key.
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

    /// ca's own directory under /etc/ssl: everything it installs there lives here.
    public var managedDirectory: String { sslDirectory + "/" + InstallLayout.managedName }
    public static let managedName = "ca-managed"
    public var managedTrustDirectory: String { managedDirectory + "/trust" }
    public var managedCRLDirectory: String { managedDirectory + "/crl" }
    public var managedHostsDirectory: String { managedDirectory + "/hosts" }
    public var managedHostDirectory: String { managedHostsDirectory + "/\(hostName)" }
    /// The link that names the host's current generation of certificates and keys.
    public var currentLink: String { managedHostDirectory + "/current" }
    public var managedTrustBundle: String { managedTrustDirectory + "/\(caName).crt" }
    public var managedCRL: String { managedCRLDirectory + "/\(caName).crl" }
    /// Names of the host's files inside a generation directory.
    public static let generationFiles = (serverCertificate: "server.crt", serverKey: "server.key",
                                         clientCertificate: "replication.crt", clientKey: "replication.key")
    public func current(_ name: String) -> String { currentLink + "/" + name }
    /// Keys `ca request` made that wait for their certificates (a host that makes its own keys):
    /// install moves them into the next generation with their certificates, so a running server
    /// never sees a new key beside an old certificate.
    public var pendingDirectory: String { managedHostDirectory + "/pending" }
    public func pending(_ name: String) -> String { pendingDirectory + "/" + name }

    /// The Debian names (links into ca-managed) and what each link says, relative to its directory.
    public var managedLinks: [(link: String, target: String, purpose: String)] {
        let g = InstallLayout.generationFiles
        return [(trustBundle, "../\(InstallLayout.managedName)/trust/\(caName).crt", "trust bundle name"),
                (crl, "../\(InstallLayout.managedName)/crl/\(caName).crl", "CRL name"),
                (serverCertificate, "../\(InstallLayout.managedName)/hosts/\(hostName)/current/\(g.serverCertificate)", "server certificate name"),
                (serverKey, "../\(InstallLayout.managedName)/hosts/\(hostName)/current/\(g.serverKey)", "server key name"),
                (clientCertificate, "../\(InstallLayout.managedName)/hosts/\(hostName)/current/\(g.clientCertificate)", "replication certificate name"),
                (clientKey, "../\(InstallLayout.managedName)/hosts/\(hostName)/current/\(g.clientKey)", "replication key name")]
    }

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
