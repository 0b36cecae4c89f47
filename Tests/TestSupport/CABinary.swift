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
}
