/// PostgreSQL's own checks on private key files (reference §0.1–0.3, §1.2, §3.3), so `install`
/// and `doctor` refuse what PostgreSQL or libpq would.
public enum KeyFileRule {
    /// The server's check of `ssl_key_file` for `version`, run as the server's uid; nil when it passes.
    public static func serverProblem(version: PostgresVersion, ownerUID: UInt32, mode: UInt32, isRegular: Bool,
                                     serverUID: UInt32) -> String? {
        guard isRegular else { return "is not a regular file" }
        let permissions = mode & 0o777
        if version < PostgresVersion(uncheckedMajor: 9, minor: 6) {
            // Upstream 9.1–9.5: no owner check, no group or world bits at all.
            if permissions & 0o077 != 0 {
                return "has group or world access (mode \(octal(permissions))); PostgreSQL \(version) requires 0600 or less"
            }
            return nil
        }
        if ownerUID != serverUID && ownerUID != 0 { return "must be owned by the database user or root" }
        if ownerUID == serverUID && permissions & 0o077 != 0 {
            return "has group or world access (mode \(octal(permissions))); owned by the database user it must be 0600 or less"
        }
        if ownerUID == 0 && ownerUID != serverUID && permissions & 0o037 != 0 {
            return "has group write or world access (mode \(octal(permissions))); owned by root it must be 0640 or less"
        }
        return nil
    }

    /// libpq's check of `sslkey` (mode only; root-owned 0640 allowed since the 2022 minors);
    /// nil when it passes.
    public static func clientProblem(ownerUID: UInt32, mode: UInt32, isRegular: Bool) -> String? {
        guard isRegular else { return "is not a regular file" }
        let permissions = mode & 0o777
        if ownerUID == 0 ? permissions & 0o037 != 0 : permissions & 0o077 != 0 {
            return "has group or world access (mode \(octal(permissions))); libpq requires 0600 or less (0640 if owned by root)"
        }
        return nil
    }

    static func octal(_ mode: UInt32) -> String { "0" + String(mode, radix: 8) }
}
