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

    /// The same table for a listing, written straight into the output buffer: at 100,000 rows
    /// building a String per cell and then one for the table cost more than reading the rows.
    static func write(_ listings: [CertificateListing], now: Date) throws {
        if listings.isEmpty { return Swift.print("No certificates match.") }
        var serialWidth = 6, hostWidth = 4, subjectWidth = 7  // the headers
        for c in listings {
            serialWidth = max(serialWidth, c.serial.utf8.count)
            hostWidth = max(hostWidth, c.hostName?.utf8.count ?? 1)
            subjectWidth = max(subjectWidth, c.subject.utf8.count)
        }
        let kindWidth = 6  // "server", "client"; EXPIRES is always a 10-character day
        let out = BufferedOutput()
        func cell(_ text: String, _ width: Int) {
            out.append(contentsOf: text.utf8)
            out.spaces(width - text.utf8.count + 2)
        }
        cell("SERIAL", serialWidth); cell("KIND", kindWidth); cell("HOST", hostWidth); cell("SUBJECT", subjectWidth)
        cell("EXPIRES", 10); out.put("STATUS\n")
        for c in listings {
            cell(c.serial, serialWidth); cell(c.kind.rawValue, kindWidth); cell(c.hostName ?? "-", hostWidth); cell(c.subject, subjectWidth)
            cell(Output.day(c.notAfter), 10)
            out.append(contentsOf: (c.isExpired(at: now) && c.status == .active ? "expired" : c.status.rawValue).utf8)
            out.put("\n")
            try out.flushIfFull()
        }
        try out.flush()
    }
}
