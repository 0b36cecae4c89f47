import Glibc

/// A local OS account as install needs it: ids for chown, home for ~/.postgresql, groups for access checks.
public struct Account: Sendable, Equatable {
    public let name: String
    public let uid: UInt32
    public let gid: UInt32
    public let home: String
    public let groups: [UInt32]

    public init(name: String, uid: UInt32, gid: UInt32, home: String, groups: [UInt32]) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
        self.groups = groups
    }

    /// Whether this account may search (x) or read (r) a file with these attributes.
    public func may(_ bit: UInt32, owner: UInt32, group: UInt32, mode: UInt32) -> Bool {
        if uid == 0 { return true }
        if owner == uid { return mode & (bit << 6) != 0 }
        if groups.contains(group) || gid == group { return mode & (bit << 3) != 0 }
        return mode & bit != 0
    }
}

/// Looks accounts up in the system's user and group databases.
public struct SystemAccounts: Sendable {
    public init() {}

    public func user(_ name: String) -> Account? {
        guard let entry = getpwnam(name) else { return nil }
        let uid = entry.pointee.pw_uid, gid = entry.pointee.pw_gid
        let home = String(cString: entry.pointee.pw_dir)
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &groups, &count) == -1 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, gid, &groups, &count)
        }
        return Account(name: name, uid: uid, gid: gid, home: home, groups: Array(groups.prefix(Int(max(0, count)))))
    }

    public func group(_ name: String) -> UInt32? { getgrnam(name).map { $0.pointee.gr_gid } }

    public func userName(_ uid: UInt32) -> String { getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? String(uid) }
    public func groupName(_ gid: UInt32) -> String { getgrgid(gid).map { String(cString: $0.pointee.gr_name) } ?? String(gid) }
}
