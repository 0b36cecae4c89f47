import FoundationEssentials
import Glibc

extension CAStore {
    /// Appends to the audit log, inside the caller's transaction.
    public func record(_ action: String, subject: String, serial: SerialNumber? = nil, detail: String? = nil, at now: Date) throws {
        try db.query("INSERT INTO events (at, os_user, action, subject, serial, detail) VALUES (?, ?, ?, ?, ?, ?)",
                     [.integer(now.unixSeconds), .text(CAStore.osUser), .text(action), .text(subject),
                      serial.map { .text($0.hex) } ?? .null, detail.map { .text($0) } ?? .null])
    }

    /// The newest `limit` events, oldest first.
    public func events(limit: Int = 100) throws -> [AuditEvent] {
        try db.query("SELECT * FROM (SELECT * FROM events ORDER BY id DESC LIMIT ?) ORDER BY id", [.integer(Int64(max(0, limit)))]).map {
            AuditEvent(id: $0.int("id"), at: $0.date("at"), osUser: $0.string("os_user"), action: $0.string("action"),
                       subject: $0.string("subject"), serial: $0.optionalString("serial"), detail: $0.optionalString("detail"))
        }
    }

    /// Per host, the time of its last "deploy" and of its last "deploy failed" event.
    public func lastDeployAttempts() throws -> [String: (succeeded: Date?, failed: Date?)] {
        var out: [String: (succeeded: Date?, failed: Date?)] = [:]
        for row in try db.query("SELECT subject, action, max(at) AS at FROM events WHERE action IN ('deploy', 'deploy failed') GROUP BY subject, action") {
            let host = row.string("subject"), at = row.date("at")
            var entry = out[host] ?? (nil, nil)
            if row.string("action") == "deploy" { entry.succeeded = at } else { entry.failed = at }
            out[host] = entry
        }
        return out
    }

    /// Who is acting: the OS user, and the person behind sudo when there is one (looked up once: a
    /// batch records thousands of events).
    static let osUser: String = {
        let name = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())"
        if let sudo = Environment.value("SUDO_USER"), !sudo.isEmpty, sudo != name {
            return "\(name) (sudo by \(sudo))"
        }
        return name
    }()
}
