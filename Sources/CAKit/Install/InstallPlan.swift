/// Every operation of one install, in order, after every check has passed, and the root they are
/// reached through.
public struct InstallPlan {
    public let host: PostgresHost
    public let layout: InstallLayout
    public let operations: [PlannedOperation]
    public let root: FileRoot
    /// Who may own a directory on the way: root and the OS user.
    public let trustedOwners: Set<UInt32>
    /// Pending keys (`ca request`) this install moves into the new generation: removed once it has switched.
    public var consumedPendingKeys: [String] = []
}
