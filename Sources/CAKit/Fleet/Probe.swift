import FoundationEssentials
import Glibc

/// What a PostgreSQL server really serves, seen the way libpq sees it: TCP, PostgreSQL's SSLRequest,
/// TLS with the host name as SNI; then the served chain verified against the CA's trust with the host
/// name (verify-full), and the served certificate compared with the inventory's active one.
public struct Probe: Sendable {
    public enum Verdict: String, Sendable, Codable {
        case ok = "OK", drift = "DRIFT", untrusted = "UNTRUSTED", expiring = "EXPIRING", unreachable = "UNREACHABLE"
    }

    /// One host's result; its JSON (snake case) is what `probe --json` prints.
    public struct Result: Sendable, Encodable {
        public let host: String
        public let address: String
        public let port: Int
        public let verdict: Verdict
        public let reason: String
        public let servedSerial: String?
        public let servedIssuer: String?
        public let servedNotAfter: Date?
        public let servedNames: [String]
        public let expectedSerial: String?
        public let tls: String?

        enum CodingKeys: String, CodingKey {
            case host, address, port, verdict = "result", reason, servedSerial, servedIssuer, servedNotAfter, servedNames, expectedSerial, tls
        }
    }

    public static let expiringWithin: TimeInterval = 14 * 86_400

    public let timeout: TimeInterval
    public init(timeout: TimeInterval = 5) { self.timeout = timeout }

    /// Probes `host` at `address` (default: its first IP, else its name) and judges what it serves.
    /// `revoked`: the serials the CA's CRLs list; a served one is UNTRUSTED (PostgreSQL's clients with
    /// sslcrl would refuse it, and it must not pass as OK or as mere drift).
    public func probe(_ host: PostgresHost, address override: String? = nil, expected: CertificateRecord?, trust: [Certificate],
                      revoked: Set<SerialNumber> = [], now: Date = Clock.now()) -> Result {
        let address = override ?? host.ipAddresses.first?.description ?? host.name.value
        func result(_ verdict: Verdict, _ reason: String, served: Certificate? = nil, tls: String? = nil) -> Result {
            Result(host: host.name.value, address: address, port: host.port, verdict: verdict, reason: reason,
                   servedSerial: served?.serial.hex, servedIssuer: served?.issuer, servedNotAfter: served?.notAfter,
                   servedNames: served?.subjectAlternativeNames.map(\.value) ?? [], expectedSerial: expected?.serial.hex, tls: tls)
        }
        let served: TLSHandshake.Served
        do {
            let fd = try connect(address, port: host.port)
            defer { close(fd) }
            try sslRequest(fd)
            served = try CAError.translatingCrypto { try TLSHandshake.run(socket: fd, serverName: host.name.value) }
        } catch {
            return result(.unreachable, error.message)
        }
        guard let leaf = served.chain.first else { return result(.unreachable, "the server sent no certificate") }
        let tls = "\(served.protocolVersion) \(served.cipher)"
        if let why = ChainVerifier.failure(of: leaf, trusted: trust, purpose: .server, hostName: host.name.value, at: now) {
            return result(.untrusted, "does not verify as \(host.name) against the CA's trust bundle: \(why)", served: leaf, tls: tls)
        }
        if revoked.contains(leaf.serial) {
            return result(.untrusted, "serves \(leaf.serial.hex), which the CA has revoked: install the host's current certificate and reload",
                          served: leaf, tls: tls)
        }
        guard let expected else { return result(.drift, "serves \(leaf.serial.hex), but the inventory has no active server certificate for it", served: leaf, tls: tls) }
        if leaf.serial != expected.serial {
            return result(.drift, "serves \(leaf.serial.hex) (until \(leaf.notAfter.iso8601)), the inventory's active one is \(expected.serial.hex): install it and reload",
                          served: leaf, tls: tls)
        }
        let left = leaf.notAfter.timeIntervalSince(now)
        if left < Self.expiringWithin {
            return result(.expiring, "the served certificate expires in \(max(0, Int(left / 86_400))) days (\(leaf.notAfter.iso8601)): ca renew, then install", served: leaf, tls: tls)
        }
        return result(.ok, "serves the inventory's certificate \(leaf.serial.hex), verified as \(host.name)", served: leaf, tls: tls)
    }

    /// A TCP connection with a bounded connect, then send and receive timeouts for the handshake.
    func connect(_ address: String, port: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(address, String(port), &hints, &list)
        guard status == 0, let first = list else { throw CAError.io("cannot resolve '\(address)': \(String(cString: gai_strerror(status)))") }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            guard fd >= 0 else { lastError = String(cString: strerror(errno)); continue }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var ok = Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0
            if !ok && errno == EINPROGRESS {
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&poller, 1, Int32(timeout * 1000)) == 1 {
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                    ok = error == 0
                    if !ok { lastError = String(cString: strerror(error)) }
                } else {
                    lastError = "no answer within \(Int(timeout)) s"
                }
            } else if !ok {
                lastError = String(cString: strerror(errno))
            }
            guard ok else { close(fd); continue }
            _ = fcntl(fd, F_SETFL, flags)
            var limit = timeval(tv_sec: Int(timeout), tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            return fd
        }
        throw CAError.io("cannot connect to \(address) port \(port): \(lastError)")
    }

    /// PostgreSQL's SSLRequest (length 8, code 80877103); the server answers 'S' to go on with TLS.
    func sslRequest(_ fd: Int32) throws {
        let request: [UInt8] = [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F]
        guard write(fd, request, request.count) == request.count else { throw CAError.io("cannot send the SSLRequest: \(String(cString: strerror(errno)))") }
        var answer: UInt8 = 0
        let n = read(fd, &answer, 1)
        guard n == 1 else { throw CAError.io(n == 0 ? "the server closed the connection at the SSLRequest" : "no answer to the SSLRequest: \(String(cString: strerror(errno)))") }
        switch answer {
        case UInt8(ascii: "S"): return
        case UInt8(ascii: "N"): throw CAError.io("the server refuses TLS (ssl is off)")
        default: throw CAError.io("the server answered the SSLRequest with \(answer), not PostgreSQL's 'S' or 'N'")
        }
    }

    /// Probes `hosts` at most `parallel` at once (an unreachable one costs its timeout, not everyone's)
    /// against the inventory, and records each host's result (for status, deploy --all and metrics)
    /// unless `record` is false. Returns the results and, if recording failed, why.
    public func run(_ hosts: [PostgresHost], store: CAStore, address: String? = nil, parallel: Int, now: Date,
                    record: Bool) throws -> (results: [Result], recordingError: String?) {
        let trust = try store.trustedAuthorities().map { try $0.certificate() }
        let jobs = try hosts.map { host in
            (host, try store.certificates(CertificateFilter(hostName: host.name.value, kind: .server, status: .active)).last)
        }
        let revoked = Set(try store.trustedAuthorities().flatMap { try store.revocations(authorityID: $0.id).map(\.serial) })
        let results = Parallel.map(jobs, limit: parallel) { job in
            self.probe(job.0, address: address, expected: job.1, trust: trust, revoked: revoked, now: now)
        }
        guard record else { return (results, nil) }
        do {
            try store.write {
                for result in results {
                    try store.recordProbe(ProbeRecord(hostName: result.host, at: now, result: result.verdict.rawValue,
                                                      servedSerial: result.servedSerial, detail: result.reason))
                }
            }
            return (results, nil)
        } catch {
            return (results, error.message)
        }
    }
}
