import CAKit
import FoundationEssentials
import Glibc

/// The inventory table shared by `list`, `show HOST`, `host show` and `demo`. Written straight into
/// the output buffer: at 100,000 rows building a String per cell and then one for the table cost
/// more than reading the rows. The layout is `Output.table`'s: two spaces between columns, widths
/// in UTF-8 bytes, the last column unpadded.
enum CertificateTable {
    static func print(_ records: [CertificateRecord], now: Date = Clock.now()) throws {
        try write(records.map(CertificateListing.init), now: now)
    }

    static func write(_ listings: [CertificateListing], now: Date) throws {
        if listings.isEmpty { return Swift.print("No certificates match.") }
        var serialWidth = 6, kindWidth = 4, hostWidth = 4, subjectWidth = 7  // the headers
        for c in listings {
            serialWidth = max(serialWidth, c.serial.utf8.count)
            kindWidth = max(kindWidth, c.kind.rawValue.utf8.count)
            hostWidth = max(hostWidth, c.hostName?.utf8.count ?? 1)
            subjectWidth = max(subjectWidth, c.subject.utf8.count)
        }
        let dayWidth = 10  // Output.day: always the first ten characters of an ISO 8601 time
        let out = BufferedOutput()
        func cell(_ text: String, _ width: Int) {
            out.append(contentsOf: text.utf8)
            out.spaces(width - text.utf8.count + 2)
        }
        cell("SERIAL", serialWidth); cell("KIND", kindWidth); cell("HOST", hostWidth); cell("SUBJECT", subjectWidth)
        cell("EXPIRES", dayWidth); out.put("STATUS\n")
        for c in listings {
            cell(c.serial, serialWidth); cell(c.kind.rawValue, kindWidth); cell(c.hostName ?? "-", hostWidth); cell(c.subject, subjectWidth)
            cell(Output.day(c.notAfter), dayWidth)
            out.append(contentsOf: (c.isExpired(at: now) && c.status == .active ? "expired" : c.status.rawValue).utf8)
            out.put("\n")
            try out.flushIfFull()
        }
        try out.flush()
    }
}
