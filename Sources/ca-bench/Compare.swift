// The tools a DBA would pick instead of ca, one process per certificate, interleaved with ca in the
// same run (ca-bench --compare). Each makes an ECDSA P-256 server certificate for the same names
// under its own P-256 CA (mkcert's CA is its RSA-3072 default); every certificate is then checked
// with `openssl verify`, so a tool that fails quietly cannot look fast.
import CAKit
import Foundation
import Glibc

struct Tool {
    let name: String
    /// Where its files go; run `index`'s stdout is `dir/out-index`.
    let dir: String
    /// The command for certificate `index` (its files are named after it).
    let command: (Int) -> (argv: [String], env: [String: String])
    /// The PEM certificate written by run `index`.
    let certificate: (Int) throws -> String
    /// The CA certificate file its leaves verify under.
    let caFile: String
}

enum Compare {
    static let easyRSA = "/usr/share/easy-rsa/easyrsa"
    static let baseEnv = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C"]

    static func which(_ name: String) -> String? {
        ["/usr/bin/", "/usr/local/bin/", "/bin/"].map { $0 + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs a set-up command; throws with its stderr when it fails.
    static func setUp(_ argv: [String], env: [String: String] = [:], in dir: String, stdout: String? = nil) throws {
        let out = stdout ?? dir + "/setup.out", err = dir + "/setup.err"
        let status = try Spawn.run(argv, stdout: out, stderr: err, environment: baseEnv.merging(env) { $1 })
        guard status == 0 else {
            throw BenchError("\(argv.joined(separator: " ")) failed: \((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")")
        }
    }

    /// The tools that are installed, each with its CA made (not timed). Missing ones are named.
    static func tools(in scratch: String) throws -> (tools: [Tool], missing: [String]) {
        var tools: [Tool] = [], missing: [String] = []
        let names = "db1.example.com", ip = "192.0.2.1"

        if let cfssl = which("cfssl"), let cfssljson = which("cfssljson") {
            let dir = scratch + "/cfssl"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try #"{"CN":"Bench CA","key":{"algo":"ecdsa","size":256}}"#.write(toFile: dir + "/ca-csr.json", atomically: true, encoding: .utf8)
            try #"{"signing":{"profiles":{"server":{"usages":["digital signature","server auth"],"expiry":"9528h"}}}}"#
                .write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            try #"{"CN":"\#(names)","hosts":["\#(names)","\#(ip)"],"key":{"algo":"ecdsa","size":256}}"#
                .write(toFile: dir + "/csr.json", atomically: true, encoding: .utf8)
            try setUp([cfssl, "gencert", "-initca", dir + "/ca-csr.json"], in: dir, stdout: dir + "/ca.json")
            try setUp([cfssljson, "-f", dir + "/ca.json", "-bare", dir + "/ca"], in: dir)
            tools.append(Tool(name: "cfssl gencert", dir: dir, command: { _ in
                ([cfssl, "gencert", "-ca", dir + "/ca.pem", "-ca-key", dir + "/ca-key.pem", "-config", dir + "/config.json",
                  "-profile", "server", dir + "/csr.json"], [:])
            }, certificate: { i in
                let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out-\(i)")))
                guard let cert = (json as? [String: Any])?["cert"] as? String else { throw BenchError("cfssl wrote no certificate") }
                return cert
            }, caFile: dir + "/ca.pem"))
        } else { missing.append("cfssl (apt-get install golang-cfssl)") }

        if let openssl = which("openssl") {
            let dir = scratch + "/openssl"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try setUp([openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", dir + "/ca.key"], in: dir)
            try setUp([openssl, "req", "-x509", "-new", "-key", dir + "/ca.key", "-subj", "/CN=Bench CA", "-days", "3650", "-out", dir + "/ca.crt"], in: dir)
            tools.append(Tool(name: "openssl req -x509 -CA", dir: dir, command: { i in
                ([openssl, "req", "-x509", "-CA", dir + "/ca.crt", "-CAkey", dir + "/ca.key", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", dir + "/\(i).key", "-out", dir + "/\(i).crt", "-subj", "/CN=\(names)",
                  "-addext", "subjectAltName=DNS:\(names),IP:\(ip)", "-addext", "basicConstraints=critical,CA:FALSE",
                  "-addext", "extendedKeyUsage=serverAuth", "-days", "397"], [:])
            }, certificate: { i in try String(contentsOfFile: dir + "/\(i).crt", encoding: .utf8) }, caFile: dir + "/ca.crt"))
        }

        if let mkcert = which("mkcert") {
            let dir = scratch + "/mkcert"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            // Its first run makes its CA (in CAROOT; never -install: nothing touches the system trust store).
            try setUp([mkcert, "-ecdsa", "-cert-file", dir + "/setup.crt", "-key-file", dir + "/setup.key", names], env: ["CAROOT": dir], in: dir)
            tools.append(Tool(name: "mkcert -ecdsa", dir: dir, command: { i in
                ([mkcert, "-ecdsa", "-cert-file", dir + "/\(i).crt", "-key-file", dir + "/\(i).key", names, ip], ["CAROOT": dir])
            }, certificate: { i in try String(contentsOfFile: dir + "/\(i).crt", encoding: .utf8) }, caFile: dir + "/rootCA.pem"))
        } else { missing.append("mkcert (apt-get install mkcert)") }

        if FileManager.default.isExecutableFile(atPath: easyRSA) {
            let dir = scratch + "/easyrsa"
            let env = ["EASYRSA_PKI": dir + "/pki", "EASYRSA_BATCH": "1", "EASYRSA_ALGO": "ec", "EASYRSA_CURVE": "prime256v1"]
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try setUp([easyRSA, "init-pki"], env: env, in: dir)
            try setUp([easyRSA, "build-ca", "nopass"], env: env.merging(["EASYRSA_REQ_CN": "Bench CA"]) { $1 }, in: dir)
            tools.append(Tool(name: "easy-rsa build-server-full", dir: dir, command: { i in
                ([easyRSA, "--san=DNS:\(names),IP:\(ip)", "build-server-full", "db\(i).example.com", "nopass"], env)
            }, certificate: { i in try String(contentsOfFile: dir + "/pki/issued/db\(i).example.com.crt", encoding: .utf8) },
               caFile: dir + "/pki/ca.crt"))
        } else { missing.append("easy-rsa (apt-get install easy-rsa)") }
        return (tools, missing)
    }

    /// Times one process: wall seconds and its exit status.
    static func time(_ argv: [String], env: [String: String], stdout: String, stderr: String) throws -> (Double, Int32) {
        let start = DispatchTime.now().uptimeNanoseconds
        let status = try Spawn.run(argv, stdout: stdout, stderr: stderr, environment: baseEnv.merging(env) { $1 })
        return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, status)
    }

    /// `openssl verify` of every PEM under `caFile`: how many came out OK.
    static func verified(_ pems: [String], caFile: String, in dir: String) throws -> Int {
        var ok = 0
        for start in stride(from: 0, to: pems.count, by: 100) {
            var files: [String] = []
            for (offset, pem) in pems[start..<min(pems.count, start + 100)].enumerated() {
                let file = dir + "/verify-\(start + offset).pem"
                try pem.write(toFile: file, atomically: true, encoding: .utf8)
                files.append(file)
            }
            let out = dir + "/verify.out"
            _ = try Spawn.run(["/usr/bin/openssl", "verify", "-CAfile", caFile] + files, stdout: out, stderr: dir + "/verify.err",
                              environment: baseEnv)
            ok += try String(contentsOfFile: out, encoding: .utf8).components(separatedBy: ": OK\n").count - 1
        }
        return ok
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
