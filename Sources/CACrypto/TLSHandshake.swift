import COpenSSL
import FoundationEssentials

/// A TLS client handshake on a socket the caller connected (and, for PostgreSQL, already moved past
/// the SSLRequest): what the server presents, nothing more. It does not verify: the caller checks the
/// chain with `ChainVerifier` against its own trust and the host name, so one rule decides everywhere.
public enum TLSHandshake {
    public struct Served: Sendable {
        /// Leaf first, then whatever chain the server sent.
        public let chain: [Certificate]
        public let protocolVersion: String
        public let cipher: String
    }

    /// TLS 1.2 at least (what ca configures on servers), SNI = `serverName`. The socket must have
    /// send and receive timeouts set; the handshake blocks on it.
    public static func run(socket fd: Int32, serverName: String) throws -> Served {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw CryptoError.openssl("create a TLS context") }
        defer { SSL_CTX_free(context) }
        guard ca_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1 else { throw CryptoError.openssl("set the TLS floor") }
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        guard let ssl = SSL_new(context) else { throw CryptoError.openssl("create a TLS session") }
        defer { SSL_free(ssl) }
        guard SSL_set_fd(ssl, fd) == 1 else { throw CryptoError.openssl("attach the socket") }
        guard ca_SSL_set_tlsext_host_name(ssl, serverName) == 1 else { throw CryptoError.openssl("set the server name") }
        guard SSL_connect(ssl) == 1 else { throw CryptoError.openssl("complete the TLS handshake") }
        defer { _ = SSL_shutdown(ssl) }
        var chain: [Certificate] = []
        guard let leaf = SSL_get1_peer_certificate(ssl) else { throw CryptoError.openssl("get the server's certificate") }
        chain.append(try Certificate(owning: leaf))
        if let stack = SSL_get_peer_cert_chain(ssl) {
            // The client-side stack starts with the leaf; each entry is borrowed, so take a reference.
            for index in 1..<max(1, ca_sk_X509_num(stack)) {
                guard let entry = ca_sk_X509_value(stack, Int32(index)), X509_up_ref(entry) == 1 else { continue }
                chain.append(try Certificate(owning: entry))
            }
        }
        let version = String(cString: SSL_get_version(ssl))
        let cipher = SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? "?"
        return Served(chain: chain, protocolVersion: version, cipher: cipher)
    }
}
