import Foundation

/// The `ca` executable that `swift build` made next to the test bundle.
public enum CABinary {
    public static var path: String {
        if let explicit = ProcessInfo.processInfo.environment["CA_BINARY"] { return explicit }
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("ca").path
    }

    /// Runs `ca` with a clean environment: no CA_DB, no CA_PASSPHRASE unless given.
    public static func run(_ arguments: [String], environment extra: [String: String] = [:], stdin: String? = nil) throws -> ProcessResult {
        try ProcessResult.run(path, arguments, environment: environment(extra), stdin: stdin)
    }

    public static func launch(_ arguments: [String], environment extra: [String: String] = [:]) throws -> ProcessResult.Running {
        try ProcessResult.launch(path, arguments, environment: environment(extra))
    }

    static func environment(_ extra: [String: String]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["CA_DB"] = nil
        environment["CA_PASSPHRASE"] = nil
        environment.merge(extra) { $1 }
        return environment
    }

    /// The SHA-256 fingerprint of the signing CA of `db` (for install --ca-fingerprint on a new host).
    public static func caFingerprint(db: String) throws -> String {
        let result = try run(["bundle", "--json", "--db", db])
        let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        guard let row = rows?.first(where: { $0["status"] as? String == "active" }) ?? rows?.first,
              let fingerprint = row["fingerprint_sha256"] as? String else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "no CA in \(db): \(result.stderr)"])
        }
        return fingerprint
    }
}
