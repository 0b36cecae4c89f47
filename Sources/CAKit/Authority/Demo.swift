import Foundation
import Glibc

/// The README's first command: a scratch CA with a primary and a standby, all under one directory.
public enum Demo {
    public struct Result: Sendable {
        public let database: String
        public let bundlePath: String
        public let hosts: [PostgresHost]
        public let certificates: [CertificateRecord]
    }

    public static let caName = "demo-replication-ca"

    /// A new scratch directory, or `directory` if it is absent or empty.
    public static func prepare(directory: String?) throws -> String {
        guard let directory else {
            var template = Array("/tmp/ca-demo.XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw CAError.io("cannot create a scratch directory in /tmp: \(String(cString: strerror(errno)))") }
            return String(cString: made)
        }
        let path = try AbsolutePath(directory.hasPrefix("/") ? directory : FileManager.default.currentDirectoryPath + "/" + directory,
                                    what: "demo directory").value
        if let contents = try? FileManager.default.contentsOfDirectory(atPath: path), !contents.isEmpty {
            throw CAError.invalid("the demo directory '\(path)' is not empty", fix: "Give a new or empty directory, or leave out --dir.")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CAError.io("cannot create the demo directory '\(path)': \(error.localizedDescription)")
        }
        return path
    }

    public static func run(in root: String, now: @escaping () -> Date = Date.init) throws -> Result {
        let database = root + "/ca.sqlite3"
        let (store, _) = try CAStore.openOrCreate(path: database)
        _ = try Issuer.createRoot(store: store, name: caName, keyType: .ecP256, days: Validity.defaultRootDays, passphrase: nil, now: now())
        let hosts = [
            try PostgresHost(name: HostName("db1.demo.internal"), dnsNames: [], ipAddresses: [IPAddress("127.0.0.1")],
                     role: .primary, postgresVersion: .default, dataDirectory: nil, configDirectory: nil,
                     osUser: "postgres", replicationUser: "replicator"),
            try PostgresHost(name: HostName("db2.demo.internal"), dnsNames: [], ipAddresses: [IPAddress("127.0.0.2")],
                     role: .standby, postgresVersion: .default, dataDirectory: nil, configDirectory: nil,
                     osUser: "postgres", replicationUser: "replicator"),
        ]
        try store.write {
            for host in hosts {
                try store.insertHost(host, at: now())
                try store.record("host add", subject: host.name.value, detail: "demo \(host.role.rawValue)", at: now())
            }
        }
        let issuer = Issuer(store: store, vault: KeyVault { nil }, now: now)
        var certificates: [CertificateRecord] = []
        for host in hosts { certificates += try issuer.issue(host: host.name.value).certificates }

        let bundlePath = root + "/\(caName).crt"
        let bundle = try store.trustedAuthorities().map(\.certificatePEM).joined()
        guard FileManager.default.createFile(atPath: bundlePath, contents: Data(bundle.utf8), attributes: [.posixPermissions: 0o644]) else {
            throw CAError.io("cannot write '\(bundlePath)'")
        }
        return Result(database: database, bundlePath: bundlePath, hosts: hosts, certificates: certificates)
    }
}
