import CAKit
import Foundation

/// A CA with a primary and a standby of one PostgreSQL version, their clusters staged under a
/// scratch root the `postgres` user can search. Install tests need root and Debian's postgres user.
public final class InstallFixture: @unchecked Sendable {
    public static var available: Bool { geteuid() == 0 && SystemAccounts().user("postgres") != nil }
    /// CI runs as root with PostgreSQL installed: there these tests must run, not skip.
    public static var enabled: Bool { available || ProcessInfo.processInfo.environment["CI"] == "true" }

    public let scratch: Scratch
    public let root: String
    public let store: CAStore
    public let vault = KeyVault { nil }
    public let primary: PostgresHost
    public let standby: PostgresHost

    public init(version: String = "15") throws {
        scratch = try Scratch()
        chmod(scratch.path, 0o755)
        root = scratch.file("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        store = try CAStore.openOrCreate(path: scratch.file("ca.sqlite3")).store
        _ = try Issuer.createRoot(store: store, name: "fixture-ca", keyType: .ecP256, days: 3650, passphrase: nil, now: Date())
        let pg = try PostgresVersion(version)
        func host(_ name: String, _ role: HostRole, _ port: Int) throws -> PostgresHost {
            try PostgresHost(name: HostName("\(name).example.com"), dnsNames: [], ipAddresses: [IPAddress(role == .primary ? "192.0.2.1" : "192.0.2.2")],
                             role: role, postgresVersion: pg, dataDirectory: AbsolutePath("/var/lib/postgresql/\(version)/\(name)", what: "d"),
                             configDirectory: AbsolutePath("/etc/postgresql/\(version)/\(name)", what: "c"),
                             osUser: "postgres", replicationUser: "replicator", port: port)
        }
        primary = try host("db1", .primary, 5432)
        standby = try host("db2", .standby, 5433)
        let issuer = Issuer(store: store, vault: vault)
        for h in [primary, standby] {
            try store.write { try store.insertHost(h, at: Date()) }
            _ = try issuer.issue(host: h.name.value)
            try Demo.stageCluster(h, root: root)
        }
    }

    public func layout(_ host: PostgresHost) -> InstallLayout {
        InstallLayout(root: root, caName: "fixture-ca", host: host, osUserHome: SystemAccounts().user("postgres")?.home ?? "/var/lib/postgresql")
    }

    @discardableResult
    public func install(_ host: PostgresHost, link: Bool = true, configure: Bool = true) throws -> Installer.Report {
        try Installer().install(hostName: host.name.value, store: store, vault: vault, options: .init(root: root, link: link, configure: configure))
    }

    public func doctor(_ host: PostgresHost) throws -> [Finding] {
        try Doctor.forHost(host.name.value, store: store, root: root).run()
    }

    /// lstat's view of a path: owner, group, mode, link target.
    public struct Attributes: Equatable, CustomStringConvertible {
        public let owner: String
        public let group: String
        public let mode: UInt32
        public let linkTarget: String?
        public var description: String { "\(owner):\(group) \(String(mode, radix: 8))\(linkTarget.map { " -> \($0)" } ?? "")" }
    }

    /// stat's view (links followed, as PostgreSQL and libpq see the file).
    public static func followedAttributes(_ path: String) -> Attributes? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let accounts = SystemAccounts()
        return Attributes(owner: accounts.userName(info.st_uid), group: accounts.groupName(info.st_gid), mode: info.st_mode & 0o7777, linkTarget: nil)
    }

    public static func attributes(_ path: String) -> Attributes? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        let accounts = SystemAccounts()
        let target = (info.st_mode & S_IFMT) == S_IFLNK ? try? FileManager.default.destinationOfSymbolicLink(atPath: path) : nil
        return Attributes(owner: accounts.userName(info.st_uid), group: accounts.groupName(info.st_gid), mode: info.st_mode & 0o7777, linkTarget: target)
    }
}
