import FoundationEssentials

/// What `ca request` prints and `ca sign HOST --request` reads: the host's two PKCS#10 requests
/// (server and replication client) in a small JSON envelope that says which is which, for which
/// host and for which CA. The envelope is not a credential: each request proves possession of its
/// key by its own signature, and the CA grants only what the host record says. Carry it over a
/// channel you trust to come from that host (deploy uses the operator's ssh).
public struct HostRequest: Sendable {
    public static let format = "ca-host-request/1"
    /// An envelope is a few kilobytes; anything past this is refused unread.
    public static let maximumSize = 256 << 10

    public var caName: String
    /// SHA-256 of the SubjectPublicKeyInfo of each CA the host trusted when it made the request.
    public var caKeyIDs: [String]
    public var hostName: String
    public var createdAt: Date
    public var server: CertificateRequest
    public var replication: CertificateRequest

    public init(caName: String, caKeyIDs: [String], hostName: String, createdAt: Date,
                server: CertificateRequest, replication: CertificateRequest) {
        self.caName = caName
        self.caKeyIDs = caKeyIDs
        self.hostName = hostName
        self.createdAt = createdAt
        self.server = server
        self.replication = replication
    }

    struct Envelope: Codable {
        var format: String
        var caName: String
        var caKeyIds: [String]
        var host: String
        var createdAt: Date
        var serverCsr: String
        var replicationCsr: String
    }

    public func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        let envelope = Envelope(format: Self.format, caName: caName, caKeyIds: caKeyIDs, host: hostName, createdAt: createdAt,
                                serverCsr: server.pem, replicationCsr: replication.pem)
        return String(decoding: try encoder.encode(envelope), as: UTF8.self) + "\n"
    }

    /// Parses an envelope and both requests; checks nothing about the CA or the host (see `check`).
    public static func decode(_ bytes: [UInt8]) throws -> HostRequest {
        guard bytes.count <= maximumSize else { throw CAError.invalid("the request is larger than \(maximumSize) bytes; a ca request is a few kilobytes") }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        let envelope: Envelope
        do {
            envelope = try decoder.decode(Envelope.self, from: Data(bytes))
        } catch {
            if let format = (try? JSONDecoder().decode(FormatField.self, from: Data(bytes)))?.format, format != Self.format {
                throw CAError.invalid("unsupported request format '\(format.quotedForError)': this ca reads \(Self.format)")
            }
            if String(decoding: bytes.prefix(64), as: UTF8.self).contains("BEGIN CERTIFICATE REQUEST") || bytes.first == 0x30 {
                throw CAError.invalid("this is a bare certificate request, not the envelope 'ca request' prints",
                                      fix: "Sign it with --csr FILE --kind server|client (for a host) or --csr FILE --profile server|client (one-off).")
            }
            throw CAError.invalid("not a ca request (expected the JSON that 'ca request' prints)")
        }
        guard envelope.format == Self.format else { throw CAError.invalid("unsupported request format '\(envelope.format.quotedForError)': this ca reads \(Self.format)") }
        _ = try CAName.validate(envelope.caName)
        let host = try HostName(envelope.host, what: "host name in the request").value
        func request(_ pem: String, _ what: String) throws -> CertificateRequest {
            do { return try CertificateRequest(pem: pem) } catch {
                throw CAError.invalid("the \(what) request in the envelope is not a valid certificate request (truncated or damaged)")
            }
        }
        guard envelope.caKeyIds.count <= 16, envelope.caKeyIds.allSatisfy({ $0.count == 64 && $0.allSatisfy(\.isHexDigit) }) else {
            throw CAError.invalid("the request's ca_key_ids are not SHA-256 key ids")
        }
        return HostRequest(caName: envelope.caName, caKeyIDs: envelope.caKeyIds.map { $0.lowercased() }, hostName: host,
                           createdAt: envelope.createdAt, server: try request(envelope.serverCsr, "server"),
                           replication: try request(envelope.replicationCsr, "replication"))
    }

    /// The request must be for this CA (by a key it trusts) and for `hostName`.
    public func check(hostName expected: String, caName: String, trustedKeyIDs: [String]) throws {
        let trusted = Set(trustedKeyIDs.map { $0.lowercased() })
        guard self.caName == caName, caKeyIDs.contains(where: trusted.contains) else {
            throw CAError.invalid("the request was made for another CA ('\(self.caName.quotedForError)', key \(caKeyIDs.first.map { String($0.prefix(16)) } ?? "none")), not '\(caName)'",
                                  fix: "Make the request on the host with this CA's bundle ('ca export \(expected)' → 'ca request --bundle FILE').")
        }
        guard hostName == expected else {
            throw CAError.invalid("the request is for host '\(hostName)', not '\(expected)'", fix: "Sign it as 'ca sign \(hostName)', or make the request on '\(expected)'.")
        }
    }
}

/// The one field read from a JSON document that is not what ca expected, to say which format it is.
struct FormatField: Decodable { let format: String }
