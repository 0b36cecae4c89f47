import FoundationEssentials
import Glibc

/// A certificate's validity window, worked out from the clock, a requested length and the
/// issuing CA's own window.
public struct Validity: Equatable, Sendable {
    public let notBefore: Date
    public let notAfter: Date
    /// True when the requested length was cut to end with the CA.
    public let cappedToIssuer: Bool

    /// Leaves are backdated this much for clock skew between hosts.
    public static let backdate: TimeInterval = 300
    public static let defaultLeafDays = 397
    public static let defaultRootDays = 3650
    public static let maximumDays = 36_500

    public init(notBefore: Date, notAfter: Date, cappedToIssuer: Bool = false) {
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.cappedToIssuer = cappedToIssuer
    }

    /// Checks a `--days` value: a whole number from 1 to 36,500.
    public static func checkDays(_ days: Int) throws {
        guard days >= 1 else { throw CAError.invalid("invalid --days \(days): it must be at least 1") }
        guard days <= maximumDays else { throw CAError.invalid("invalid --days \(days): at most \(maximumDays) (100 years)") }
    }

    /// A root's window.
    public static func root(now: Date, days: Int) throws -> Validity {
        try checkDays(days)
        return Validity(notBefore: now.addingTimeInterval(-backdate), notAfter: now.addingTimeInterval(TimeInterval(days) * 86_400))
    }

    /// A leaf's window under `issuer`. An explicit `days` past the CA's expiry is refused; the
    /// default length is capped to the CA's expiry (and says so).
    public static func leaf(now: Date, days: Int?, issuer: Certificate) throws -> Validity {
        if let days { try checkDays(days) }
        let notBefore = max(now.addingTimeInterval(-backdate), issuer.notBefore)
        let wanted = now.addingTimeInterval(TimeInterval(days ?? defaultLeafDays) * 86_400)
        guard now < issuer.notAfter else {
            throw CAError.invalid("the CA certificate expired on \(issuer.notAfter.iso8601)", fix: "Renew or rotate the CA before issuing.")
        }
        if wanted > issuer.notAfter {
            if let days {
                let left = Int(issuer.notAfter.timeIntervalSince(now) / 86_400)
                throw CAError.invalid("invalid --days \(days): the certificate would outlive its CA, which expires on \(issuer.notAfter.iso8601) (in \(left) days)",
                                      fix: "Give --days \(left) or less, or renew the CA first.")
            }
            return Validity(notBefore: notBefore, notAfter: issuer.notAfter, cappedToIssuer: true)
        }
        return Validity(notBefore: notBefore, notAfter: wanted)
    }
}

extension Date {
    /// UTC, second precision: 2026-11-27T11:36:50Z. gmtime_r, not a DateFormatter: inventories
    /// print this for every row.
    public var iso8601: String {
        var seconds = time_t(timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let year = String(parts.tm_year + 1900)  // four digits, as ISO 8601 writes years 1–999 too
        return "\(String(repeating: "0", count: max(0, 4 - year.count)))\(year)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
