/// Every operation of one install, in order, after every check has passed.
public struct InstallPlan: Sendable {
    public let host: PostgresHost
    public let layout: InstallLayout
    public let operations: [PlannedOperation]
}
