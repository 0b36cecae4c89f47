import CAKit
import Foundation

/// The inventory table shared by `list`, `show HOST` and `host show`.
enum CertificateTable {
    static func print(_ records: [CertificateRecord], now: Date = Clock.now()) {
        if records.isEmpty { return Swift.print("No certificates match.") }
        Output.table(["SERIAL", "KIND", "HOST", "SUBJECT", "EXPIRES", "STATUS"], records.map {
            [$0.serial.hex, $0.kind.rawValue, $0.hostName ?? "-", $0.subject, Output.day($0.notAfter),
             $0.isExpired(at: now) && $0.status == .active ? "expired" : $0.status.rawValue]
        })
    }
}
