import CAKit
import FoundationEssentials
import Glibc

/// Text tables and JSON, the two shapes of every report.
enum Output {
    /// JSON with stable snake_case keys, sorted, ISO 8601 dates.
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Left-aligned columns separated by two spaces; the last column is not padded. Widths count
    /// UTF-8 bytes (every value ca prints in a table is validated ASCII), and the text is written
    /// in one go: 100,000 rows must not take seconds.
    static func table(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].utf8.count }.max() ?? 0 }
        var text = ""
        text.reserveCapacity(all.count * (widths.reduce(0, +) + 2 * widths.count + 1))
        for row in all {
            for (column, cell) in row.enumerated() {
                text += cell
                if column < row.count - 1 { text += String(repeating: " ", count: widths[column] - cell.utf8.count + 2) }
            }
            text += "\n"
        }
        print(text, terminator: "")
    }

    static func day(_ date: Date) -> String { String(date.iso8601.prefix(10)) }

    /// "5 s ago", "12 min ago", "3 h ago", "2 days ago".
    static func ago(_ date: Date, now: Date = Clock.now()) -> String {
        let seconds = Int(now.timeIntervalSince(date))
        if seconds < 0 { return "in the future" }
        if seconds < 120 { return "\(seconds) s ago" }
        if seconds < 7200 { return "\(seconds / 60) min ago" }
        if seconds < 172_800 { return "\(seconds / 3600) h ago" }
        return "\(seconds / 86_400) days ago"
    }

    /// "in 397 days" / "3 days ago".
    static func relative(_ date: Date, now: Date = Clock.now()) -> String {
        let days = Int((date.timeIntervalSince(now) / 86_400).rounded(.down))
        if date <= now { return "expired \(max(0, -days)) days ago" }
        return days == 0 ? "within a day" : "in \(days) days"
    }
}

/// JSON shape of a certificate. Never includes a key.
struct CertificateJSON: Encodable {
    let serial: String
    let kind: String
    let host: String?
    let subject: String
    let names: [String]
    let keyType: String
    let notBefore: Date
    let notAfter: Date
    let status: String
    let expired: Bool
    let fingerprintSha256: String
    let authorityId: Int64
    let pem: String?

    init(_ record: CertificateRecord, now: Date = Clock.now(), includePEM: Bool = false) {
        serial = record.serial.hex
        kind = record.kind.rawValue
        host = record.hostName
        subject = record.subject
        names = record.names
        keyType = record.keyType.rawValue
        notBefore = record.notBefore
        notAfter = record.notAfter
        status = record.status.rawValue
        expired = record.isExpired(at: now)
        fingerprintSha256 = record.fingerprint
        authorityId = record.authorityID
        pem = includePEM ? record.certificatePEM : nil
    }
}

/// JSON shape of a host.
struct HostJSON: Encodable {
    let name: String
    let role: String
    let dnsNames: [String]
    let ipAddresses: [String]
    let postgresVersion: String
    let dataDir: String
    let configDir: String
    let osUser: String
    let replicationUser: String
    let port: Int
    /// Who makes the host's keys: ca or host.
    let keys: String

    init(_ host: PostgresHost) {
        name = host.name.value
        role = host.role.rawValue
        dnsNames = host.dnsNames.map(\.value)
        ipAddresses = host.ipAddresses.map(\.description)
        postgresVersion = host.postgresVersion.description
        dataDir = host.dataDirectory.value
        configDir = host.configDirectory.value
        osUser = host.osUser
        replicationUser = host.replicationUser
        port = host.port
        keys = host.keyPolicy.rawValue
    }
}

/// JSON shape of a CA certificate. Never includes the key.
struct AuthorityJSON: Encodable {
    let id: Int64
    let name: String
    let status: String
    let keyType: String
    let keyEncrypted: Bool
    let subject: String
    let serial: String
    let keyId: String
    let notBefore: Date
    let notAfter: Date
    let fingerprintSha256: String

    init(_ record: AuthorityRecord) throws {
        let certificate = try record.certificate()
        id = record.id
        name = record.name
        status = record.status.rawValue
        keyType = record.keyType.rawValue
        keyEncrypted = record.keyEncrypted
        subject = certificate.subject
        serial = certificate.serial.hex
        keyId = certificate.subjectKeyIdentifier?.hexString ?? ""
        notBefore = certificate.notBefore
        notAfter = certificate.notAfter
        fingerprintSha256 = certificate.fingerprint
    }
}
