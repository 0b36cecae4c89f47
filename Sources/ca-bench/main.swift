// ca-bench: the figures of DESIGN.md §7, printed side by side. Medians of repeated runs; compare
// as ratios within one run (shared machines are noisy). Run: swift build -c release --static-swift-stdlib
// (as ./ca builds) && .build/release/ca-bench [--quick] [issue|process|inventory|rotation|mint]
import CAKit
import Foundation
import Glibc

let quick = CommandLine.arguments.contains("--quick")
/// Sections to run (issue, process, inventory, rotation); all when none is named.
let sections = Set(CommandLine.arguments.dropFirst().filter { !$0.hasPrefix("--") })
func wanted(_ section: String) -> Bool { sections.isEmpty || sections.contains(section) }
// "mint" runs alone (for callgrind); it is not part of a run of every section.
let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ca").path
guard FileManager.default.isExecutableFile(atPath: binary) else {
    FileHandle.standardError.write(Data(("ca-bench: build ca first (swift build -c release); looked for \(binary)\n").utf8))
    exit(69)
}
let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ca-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: scratch) }

func median(_ values: [Double]) -> Double { let s = values.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}
func row(_ what: String, _ figure: String) { print(what.padding(toLength: 62, withPad: " ", startingAt: 0) + figure) }

/// Runs the built ca; wall time and the child's peak RSS (wait4).
func runCA(_ arguments: [String], env: [String: String] = [:]) throws -> (seconds: Double, maxRSSMiB: Double, status: Int32) {
    var environment = ProcessInfo.processInfo.environment
    environment.merge(env) { $1 }
    let out = scratch + "/out", err = scratch + "/err"
    let start = DispatchTime.now().uptimeNanoseconds
    let pid = try Spawn.start([binary] + arguments, stdout: out, stderr: err, environment: environment)
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) == -1 && errno == EINTR {}
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    if status != 0 { FileHandle.standardError.write(Data(("ca \(arguments.joined(separator: " ")) failed: \((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")\n").utf8)) }
    return (elapsed, Double(usage.ru_maxrss) / 1024, status)
}

func newCA(_ name: String, passphrase: String?) throws -> (CAStore, KeyVault, String) {
    let path = scratch + "/\(name).sqlite3"
    let store = try CAStore.openOrCreate(path: path).store
    _ = try Issuer.createRoot(store: store, name: name, keyType: .ecP256, days: 3650, passphrase: passphrase, now: Date())
    return (store, KeyVault { passphrase }, path)
}

print("ca-bench on \(ProcessInfo.processInfo.processorCount) cores; medians\(quick ? " (--quick: fewer repetitions)" : "")")
print("")

// 1. In-process issuance: keygen + sign + PEM + key sealing, then with the SQLite commit.
if wanted("issue") {
let openssl = try? String(decoding: {
    let out = scratch + "/speed", err = scratch + "/speed.err"
    _ = try Spawn.run(["/usr/bin/openssl", "speed", "-seconds", quick ? "1" : "3", "ecdsap256", "rsa2048"], stdout: out, stderr: err)
    return try Data(contentsOf: URL(fileURLWithPath: out))
}(), as: UTF8.self)
func speedFigure(_ pattern: String, column: Int) -> Double? {
    guard let line = openssl?.components(separatedBy: "\n").first(where: { $0.contains(pattern) }) else { return nil }
    // "rsa 2048 bits 0.000258s 0.000017s 3871.0 59454.8": the plain numbers after the key size are sign/s, verify/s.
    let numbers = line.split(separator: " ").compactMap { Double($0) }
    return numbers.count > column ? numbers[column] : nil
}
for (type, count) in [(KeyType.ecP256, quick ? 500 : 2000), (.rsa2048, quick ? 5 : 20)] {
    let caKey = try PrivateKey(generating: .ecP256)
    let ca = try Certificate.sign(Profile.root(name: "bench").template(serial: .random(), validity: .root(now: Date(), days: 3650)), subjectKey: caKey, issuer: nil)
    let secret = try caKey.wrappingSecret(label: "bench")
    let profile = Profile.client(role: "replicator", host: "db2.example.com")
    var keygen: [Double] = [], full: [Double] = []
    for _ in 0..<count {
        var key: PrivateKey?
        keygen.append(try seconds { key = try PrivateKey(generating: type) })
        full.append(try seconds {
            let leafKey = try PrivateKey(generating: type)
            let certificate = try Certificate.sign(profile.template(serial: .random(), validity: .leaf(now: Date(), days: nil, issuer: ca)),
                                                   subjectKey: leafKey, issuer: (ca, caKey))
            _ = certificate.pem
            _ = try leafKey.pkcs8PEM(passphrase: secret, iterations: PrivateKey.wrappingIterations)
        })
        _ = key
    }
    row("in-process leaf, \(type.rawValue) (keygen+sign+PEM+seal), n=\(count)", String(format: "%8.0f certs/s  (%.3f ms; keygen %.3f ms)", 1 / median(full), median(full) * 1000, median(keygen) * 1000))
}
if let ec = speedFigure("ecdsa (nistp256)", column: 1), let rsa = speedFigure("rsa 2048 bits", column: 1) {
    row("openssl speed: ecdsap256 sign", String(format: "%8.0f sign/s", ec))
    row("openssl speed: rsa2048 sign", String(format: "%8.0f sign/s", rsa))
}
do {
    let (store, vault, _) = try newCA("inproc", passphrase: nil)
    let issuer = Issuer(store: store, vault: vault)
    let n = quick ? 100 : 400
    var times: [Double] = []
    for i in 0..<n { times.append(try seconds { _ = try issuer.issueClient(role: "app_\(i)") }) }
    row("in-process issue incl. SQLite commit (fsync), ec-p256, n=\(n)", String(format: "%8.0f certs/s  (%.3f ms)", 1 / median(times), median(times) * 1000))
}

}

// 1b. Only the P-256 mint (keygen + sign + PEM + seal), n leaves: small enough for callgrind, whose
// instruction count is steady on a noisy machine (valgrind --tool=callgrind ca-bench mint).
if sections.contains("mint") {
    let caKey = try PrivateKey(generating: .ecP256)
    let ca = try Certificate.sign(Profile.root(name: "bench").template(serial: .random(), validity: .root(now: Date(), days: 3650)), subjectKey: caKey, issuer: nil)
    let secret = try caKey.wrappingSecret(label: "bench")
    let profile = Profile.server(commonName: "db1.example.com", names: [.dnsName("db1.example.com"), .ipAddress([192, 0, 2, 1])])
    let n = quick ? 50 : 200
    var times: [Double] = []
    for _ in 0..<n {
        times.append(try seconds {
            let leafKey = try PrivateKey(generating: .ecP256)
            let certificate = try Certificate.sign(profile.template(serial: .random(), validity: .leaf(now: Date(), days: nil, issuer: ca)),
                                                   subjectKey: leafKey, issuer: (ca, caKey))
            _ = certificate.pem
            _ = try leafKey.pkcs8PEM(passphrase: secret, iterations: PrivateKey.wrappingIterations)
        })
    }
    row("P-256 mint (keygen+sign+PEM+seal), n=\(n)", String(format: "%8.3f ms", median(times) * 1000))
}

// 2. One `ca issue` process end to end (start-up, open, KDF, 2 keys, 2 signatures, commit).
if wanted("process") {
print("")
for encrypted in [true, false] {
    let (store, _, path) = try newCA(encrypted ? "proc-enc" : "proc-plain", passphrase: encrypted ? "bench passphrase" : nil)
    let host = try PostgresHost(name: HostName("db1.example.com"), dnsNames: [], ipAddresses: [IPAddress("192.0.2.1")], role: .primary,
                                postgresVersion: .default, dataDirectory: nil, configDirectory: nil, osUser: "postgres", replicationUser: "replicator")
    try store.write { try store.insertHost(host, at: Date()) }
    var runs: [(Double, Double)] = []
    for _ in 0..<(quick ? 3 : 9) {
        let r = try runCA(["issue", "db1.example.com", "--db", path], env: encrypted ? ["CA_PASSPHRASE": "bench passphrase"] : [:])
        runs.append((r.seconds, r.maxRSSMiB))
    }
    row("one `ca issue HOST` process, CA key \(encrypted ? "encrypted (PBKDF2 600k)" : "unencrypted")",
        String(format: "%8.1f ms  (peak RSS %.1f MiB)", median(runs.map(\.0)) * 1000, median(runs.map(\.1))))
}
let version = try runCA(["--version"])
row("`ca --version` (process start-up alone)", String(format: "%8.1f ms", version.seconds * 1000))

}

// 3. Inventory at 100,000 certificates: 1,000 real leaves, each stored 100 times under fresh serials
// (list and status read rows, not PEM), so the table has the size and shape of a real one.
if wanted("inventory") {
    print("")
    let (store, vault, path) = try newCA("inventory", passphrase: nil)
    let issuer = Issuer(store: store, vault: vault)
    let target = quick ? 20_000 : 100_000
    let templates = try (0..<1000).map { try issuer.issueClient(role: "app_\($0)").certificates[0] }
    let fill = try seconds {
        try store.write {
            for i in 0..<(target - templates.count) {
                var record = templates[i % templates.count]
                record.serial = try SerialNumber.random()
                record.notAfter = Date().addingTimeInterval(Double(i % 500) * 86_400)
                try store.insertCertificate(record)
            }
        }
    }
    row("fill to \(target) certificates (one transaction)", String(format: "%8.2f s", fill))
    for arguments in [["list", "--status", "active"], ["list", "--json"], ["list", "--expiring", "30d"], ["status"], ["status", "--json"], ["status", "--check"]] {
        var runs: [(Double, Double)] = []
        for _ in 0..<(quick ? 2 : 5) { let r = try runCA(arguments + ["--db", path]); runs.append((r.seconds, r.maxRSSMiB)) }
        row("`ca \(arguments.joined(separator: " "))` at \(target)", String(format: "%8.1f ms  (peak RSS %.1f MiB)", median(runs.map(\.0)) * 1000, median(runs.map(\.1))))
    }
}

// 4. rotate reissue of 10,000 leaves: one process, batches of 50 per transaction.
if wanted("rotation") {
    print("")
    let n = quick ? 2000 : 10_000
    let (store, vault, path) = try newCA("rotation", passphrase: "bench passphrase")
    let issuer = Issuer(store: store, vault: vault)
    let populate = try seconds { for i in 0..<n { _ = try issuer.issueClient(role: "app_\(i)") } }
    row("populate \(n) leaves through Issuer (one transaction each)", String(format: "%8.2f s", populate))
    _ = try runCA(["rotate", "start", "--db", path], env: ["CA_PASSPHRASE": "bench passphrase"])
    let r = try runCA(["rotate", "reissue", "--db", path], env: ["CA_PASSPHRASE": "bench passphrase"])
    row("`ca rotate reissue` of \(n) leaves (ec-p256), one process", String(format: "%8.2f s  (%.0f leaves/s, peak RSS %.1f MiB)", r.seconds, Double(n) / r.seconds, r.maxRSSMiB))
}
