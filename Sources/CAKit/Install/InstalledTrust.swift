/// The CA certificates a host already trusts: what ca installed there last (its own copy in
/// ca-managed), or, from ca before ca-managed, the regular root-owned file at the Debian name.
/// Read without following links; a file anyone but root could have written is not trust.
public enum InstalledTrust {
    public static func certificates(caName: String, root: FileRoot) -> [Certificate] {
        let layout = (root.prefix.isEmpty ? "" : root.prefix) + "/etc/ssl"
        for path in ["\(layout)/\(InstallLayout.managedName)/trust/\(caName).crt", "\(layout)/certs/\(caName).crt"] {
            guard let read = try? root.read(path, limit: 1 << 20), read.info.uid == 0, read.info.mode & 0o022 == 0,
                  let certificates = try? Certificate.all(inPEM: String(decoding: read.bytes, as: UTF8.self)), !certificates.isEmpty else { continue }
            return certificates.filter(\.isCA)
        }
        return []
    }
}
