import FoundationEssentials

/// One line of the audit log: who did what, when, to which subject and serial.
public struct AuditEvent: Sendable {
    public var id: Int64
    public var at: Date
    public var osUser: String
    public var action: String
    public var subject: String
    public var serial: String?
    public var detail: String?
}
