import FoundationEssentials

extension CAStore {
    public func insertCertificate(_ record: CertificateRecord) throws {
        let hostRow: SQLValue = try record.hostName.flatMap { try self.hostID(named: $0) }.map { .integer($0) } ?? .null
        let hostName: SQLValue = record.hostName.map { .text($0) } ?? .null
        let authority: SQLValue = .integer(record.authorityID), serial: SQLValue = .text(record.serial.hex)
        var parameters: [SQLValue] = [authority, serial, hostRow, hostName]
        parameters += [.text(record.kind.rawValue), .text(record.subject), .text(record.names.joined(separator: "\n"))]
        parameters += [.text(record.keyType.rawValue), .integer(record.notBefore.unixSeconds), .integer(record.notAfter.unixSeconds)]
        parameters += [.text(record.status.rawValue), .text(record.fingerprint), .integer(record.createdAt.unixSeconds)]
        parameters.append(record.replaces.map { .text($0.hex) } ?? .null)
        try db.query("""
            INSERT INTO certificates (authority_id, serial, host_id, host_name, kind, subject, names, key_type, not_before,
                                      not_after, status, fingerprint, created_at, replaces)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, parameters)
        try db.query("INSERT INTO certificate_material (authority_id, serial, certificate_pem, key_pem) VALUES (?, ?, ?, ?)",
                     [authority, serial, .text(record.certificatePEM), record.keyPEM.map { .text($0) } ?? .null])
    }

    /// Marks the host's active certificates of `kind` superseded, except `keeping`. Returns their serials.
    @discardableResult
    public func supersede(hostName: String, kind: CertificateKind, keeping serial: SerialNumber) throws -> [SerialNumber] {
        let rows = try db.query("""
            UPDATE certificates SET status = 'superseded'
            WHERE host_name = ? AND kind = ? AND status = 'active' AND serial <> ?
            RETURNING serial
            """, [.text(hostName), .text(kind.rawValue), .text(serial.hex)])
        return rows.compactMap { SerialNumber(hex: $0.string("serial")) }
    }

    /// Marks one certificate superseded (it stays valid until it expires).
    public func supersede(_ record: CertificateRecord) throws {
        try db.query("UPDATE certificates SET status = 'superseded' WHERE authority_id = ? AND serial = ? AND status = 'active'",
                     [.integer(record.authorityID), .text(record.serial.hex)])
    }

    /// Active certificates issued by one authority, oldest first.
    public func activeCertificates(authorityID: Int64, limit: Int? = nil) throws -> [CertificateRecord] {
        try db.query("SELECT \(Self.recordColumns) FROM \(Self.withMaterial) WHERE authority_id = ? AND status = 'active' ORDER BY created_at, serial"
                     + (limit.map { " LIMIT \($0)" } ?? ""), [.integer(authorityID)]).map(certificate)
    }

    public func activeCount(authorityID: Int64) throws -> Int {
        Int(try db.query("SELECT count(*) AS n FROM certificates WHERE authority_id = ? AND status = 'active'", [.integer(authorityID)]).first?.int("n") ?? 0)
    }

    public func certificates(_ filter: CertificateFilter) throws -> [CertificateRecord] {
        let (sql, parameters) = filter.includePEM ? Self.select(Self.recordColumns, from: Self.withMaterial, filter)
            : Self.select("authority_id, serial, host_name, kind, subject, names, key_type, not_before, not_after, status, fingerprint, created_at, replaces, '' AS certificate_pem", filter)
        return try db.query(sql, parameters).map(certificate)
    }

    /// The certificates the filter selects, in its order, handed over one by one as SQLite reads
    /// them: memory does not grow with the number of rows. Never reads the PEM columns.
    public func eachCertificate(_ filter: CertificateFilter, _ body: (CertificateListing) throws -> Void) throws {
        let (sql, parameters) = Self.select("serial, kind, host_name, subject, names, key_type, not_before, not_after, status, fingerprint, authority_id", filter)
        try db.each(sql, parameters) { row in
            var serial = row.text(0)
            if !Self.isCanonicalSerial(serial) { serial = SerialNumber(hex: serial)?.hex ?? "" }
            guard !serial.isEmpty, let kind = CertificateKind(rawValue: row.text(1)),
                  let status = CertificateStatus(rawValue: row.text(8)), let keyType = KeyType(rawValue: row.text(5)) else {
                throw CAError.notADatabase(path: path, reason: "certificate \(row.text(0)) has an unreadable row")
            }
            try body(CertificateListing(serial: serial, kind: kind, hostName: row.optionalText(2), subject: row.text(3), namesText: row.text(4),
                                        keyType: keyType, notBefore: row.date(6), notAfter: row.date(7), status: status,
                                        fingerprint: row.text(9), authorityID: row.int(10)))
        }
    }

    /// A certificate's row with its PEM (certificate and sealed key), which live in a table of their own.
    private static let withMaterial = "certificates LEFT JOIN certificate_material USING (authority_id, serial)"
    /// Every column of a record, read from `withMaterial`. A missing material row reads as an empty PEM,
    /// which no parser accepts: a clear error, never a certificate made up.
    private static let recordColumns = """
        authority_id, serial, host_name, kind, subject, names, key_type, not_before, not_after, status, fingerprint, \
        created_at, replaces, coalesce(certificate_pem, '') AS certificate_pem, key_pem
        """

    /// The SELECT of `columns` the filter makes: its WHERE, its order, its limit.
    private static func select(_ columns: String, from table: String = "certificates", _ filter: CertificateFilter) -> (String, [SQLValue]) {
        let (clauses, parameters) = Self.clauses(filter)
        var sql = "SELECT \(columns) FROM \(table)"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += filter.soonestFirst ? " ORDER BY not_after, serial" : " ORDER BY created_at, host_name, kind DESC, serial"
        if let limit = filter.limit { sql += " LIMIT \(max(0, limit))" }
        return (sql, parameters)
    }

    /// What `SerialNumber.hex` writes: uppercase hex pairs, no leading zero octet unless it is the only one.
    private static func isCanonicalSerial(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { utf8 in  // contiguous bytes: the generic UTF8View walk cost ~1,600 instructions a row
            guard !utf8.isEmpty, utf8.count % 2 == 0, utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x46).contains($0) }) else { return false }
            return utf8.count == 2 || !(utf8[0] == 0x30 && utf8[1] == 0x30)
        }
    }

    /// How many certificates the filter selects (its limit ignored), without reading them.
    public func count(_ filter: CertificateFilter) throws -> Int {
        let (clauses, parameters) = Self.clauses(filter)
        let sql = "SELECT count(*) AS n FROM certificates" + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "))
        return Int(try db.query(sql, parameters).first?.int("n") ?? 0)
    }

    private static func clauses(_ filter: CertificateFilter) -> ([String], [SQLValue]) {
        var clauses: [String] = []
        var parameters: [SQLValue] = []
        if let host = filter.hostName { clauses.append("host_name = ?"); parameters.append(.text(host)) }
        if let kind = filter.kind { clauses.append("kind = ?"); parameters.append(.text(kind.rawValue)) }
        if let status = filter.status { clauses.append("status = ?"); parameters.append(.text(status.rawValue)) }
        if let before = filter.expiringBefore {
            if filter.includeExpired {
                clauses.append("not_after <= ?")
                parameters.append(.integer(before.unixSeconds))
            } else {
                clauses.append("not_after > ? AND not_after <= ?")
                parameters += [.integer(filter.now.unixSeconds), .integer(before.unixSeconds)]
            }
        }
        return (clauses, parameters)
    }

    /// Certificates whose serial starts with `prefix` (hex, either case, ':' allowed).
    public func certificates(serialPrefix prefix: String) throws -> [CertificateRecord] {
        let clean = prefix.filter { $0 != ":" }.uppercased()
        guard !clean.isEmpty, clean.allSatisfy({ $0.isHexDigit }) else { return [] }
        return try db.query("SELECT \(Self.recordColumns) FROM \(Self.withMaterial) WHERE serial >= ? AND serial < ? ORDER BY created_at",
                            [.text(clean), .text(clean + "G")]).map(certificate)
    }

    /// The certificate's status now (inside a transaction: as this transaction sees it).
    public func status(of record: CertificateRecord) throws -> CertificateStatus? {
        try db.query("SELECT status FROM certificates WHERE authority_id = ? AND serial = ?", [.integer(record.authorityID), .text(record.serial.hex)])
            .first.flatMap { CertificateStatus(rawValue: $0.string("status")) }
    }

    /// Names of the registered hosts that have at least one active certificate.
    public func hostsWithActiveCertificates() throws -> Set<String> {
        // Per registered host, by the host-name index: never a scan of every certificate.
        Set(try db.query("""
            SELECT name FROM hosts h
            WHERE EXISTS (SELECT 1 FROM certificates c WHERE c.host_name = h.name AND c.status = 'active')
            """).map { $0.string("name") })
    }

    /// Counts by status, for `status`.
    public func certificateCounts() throws -> [CertificateStatus: Int] {
        var out: [CertificateStatus: Int] = [:]
        for row in try db.query("SELECT status, count(*) AS n FROM certificates GROUP BY status") {
            if let status = CertificateStatus(rawValue: row.string("status")) { out[status] = Int(row.int("n")) }
        }
        return out
    }

    private func certificate(_ row: SQLRow) throws -> CertificateRecord {
        guard let serial = SerialNumber(hex: row.string("serial")),
              let kind = CertificateKind(rawValue: row.string("kind")),
              let keyType = KeyType(rawValue: row.string("key_type")),
              let status = CertificateStatus(rawValue: row.string("status")) else {
            throw CAError.notADatabase(path: path, reason: "certificate \(row.string("serial")) has an unreadable row")
        }
        let names = row.string("names")
        var record = CertificateRecord(serial: serial, authorityID: row.int("authority_id"), hostName: row.optionalString("host_name"),
                                 kind: kind, subject: row.string("subject"),
                                 names: CertificateListing.names(names), keyType: keyType,
                                 notBefore: row.date("not_before"), notAfter: row.date("not_after"), status: status,
                                 fingerprint: row.string("fingerprint"), certificatePEM: row.string("certificate_pem"),
                                 keyPEM: row.optionalString("key_pem"), createdAt: row.date("created_at"))
        record.replaces = row.optionalString("replaces").flatMap { SerialNumber(hex: $0) }
        return record
    }
}
