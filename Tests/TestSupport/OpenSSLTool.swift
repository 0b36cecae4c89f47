import CAKit
import Foundation

/// The `openssl` command line, the independent judge of what ca writes.
public enum OpenSSLTool {
    public static let path = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @discardableResult
    public static func run(_ arguments: [String]) throws -> ProcessResult {
        guard let path else { throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "openssl is not installed"]) }
        return try ProcessResult.run(path, arguments)
    }

    /// `openssl x509 -noout -text` of a PEM certificate.
    public static func text(of pem: String, in scratch: Scratch) throws -> String {
        let file = try scratch.write("text-\(UUID().uuidString).pem", pem)
        return try run(["x509", "-in", file, "-noout", "-text"]).stdout
    }

    /// The lines of one extension block in `openssl x509 -text` output, without the header line.
    public static func extensionBlock(_ name: String, in text: String) -> (critical: Bool, body: String)? {
        let lines = text.components(separatedBy: "\n")
        guard let index = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("X509v3 \(name):") }) else { return nil }
        let header = lines[index]
        let indent = header.prefix { $0 == " " }.count
        var body: [String] = []
        for line in lines[(index + 1)...] {
            let depth = line.prefix { $0 == " " }.count
            if depth <= indent || line.trimmingCharacters(in: .whitespaces).isEmpty { break }
            body.append(line.trimmingCharacters(in: .whitespaces))
        }
        return (header.contains("critical"), body.joined(separator: "\n"))
    }
}

/// pkilint's RFC 5280 certificate linter (PyPI `pkilint`), installed by scripts/test.
public enum RFC5280Lint {
    public static let path: String? = {
        let candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/lint_pkix_cert" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// CI must run the lint; elsewhere a missing linter skips it.
    public static var required: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The findings at WARNING level or worse (INFO and NOTICE are not problems).
    public static func problems(in pem: String, scratch: Scratch) throws -> [String] {
        guard let path else { return ["lint_pkix_cert is not installed"] }
        let file = try scratch.write("lint-\(UUID().uuidString).pem", pem)
        let result = try ProcessResult.run(path, ["lint", file])
        return result.stdout.components(separatedBy: "\n").filter { $0.contains("(WARNING)") || $0.contains("(ERROR)") || $0.contains("(FATAL)") }
    }
}

/// Tools the maintain, metrics and alert tests run.
public enum MaintainTools {
    /// promtool: CA_PROMTOOL (scripts/test unpacks Debian's into /var/tmp/ca-prometheus), else one on the system.
    public static let promtool = [ProcessInfo.processInfo.environment["CA_PROMTOOL"] ?? "", "/var/tmp/ca-prometheus/usr/bin/promtool", "/usr/bin/promtool"]
        .first { !$0.isEmpty && FileManager.default.isExecutableFile(atPath: $0) }
}
