import ArgumentParser
import CAKit
import FoundationEssentials
import Glibc

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Build a scratch CA with a primary and a standby, and show what ca made.",
        discussion: "Everything goes under a fresh scratch directory (or --dir); nothing outside it is touched.")

    @Option(name: .long, help: ArgumentHelp("Scratch directory to use (must not exist or be empty).", valueName: "dir"))
    var dir: String?

    @Flag(name: .long, help: "Print JSON: the paths and the issued certificates.") var json = false

    @Flag(name: .long, help: "Run a real primary and standby (as root, PostgreSQL installed), replicate over verified TLS, rotate the CA; leave them running.")
    var postgres = false

    struct JSON: Encodable {
        struct Doctor: Encodable {
            let host: String
            let ok: Int
            let warn: Int
            let fail: Int
        }
        let directory: String
        let database: String
        let bundle: String
        let hosts: [HostJSON]
        let certificates: [CertificateJSON]
        let installed: [String]
        let doctor: [Doctor]
        let skippedInstall: String?
    }

    func run() throws {
        let root = try Demo.prepare(directory: dir)
        if postgres {
            let started = Date()
            let result = try PostgresDemo { print($0) }.run(in: root)
            print("")
            print("Done in \(Date().timeIntervalSince(started).fixed(1)) s. Both servers are still running:")
            print("  primary  psql -h \(result.pair.primary.socketDirectory) -p \(result.pair.primary.port) -U postgres   (as postgres)")
            print("  standby  psql -h \(result.pair.standby.socketDirectory) -p \(result.pair.standby.port) -U postgres")
            print("  ./ca status --db \(result.database);  ./ca doctor db2.demo.internal --root \(root) --db \(result.database)")
            print("Stop them with:")
            print("  \(result.pair.stopCommand)")
            return
        }
        let result = try Demo.run(in: root)
        if json {
            return try Output.json(JSON(directory: root, database: result.database, bundle: result.bundlePath,
                                        hosts: result.hosts.map(HostJSON.init), certificates: result.certificates.map { CertificateJSON($0) },
                                        installed: result.installs.flatMap { $0.report.entries.map(\.operation.path) },
                                        doctor: result.installs.map { install in
                                            JSON.Doctor(host: install.host, ok: install.findings.filter { $0.level == .ok }.count,
                                                        warn: install.findings.filter { $0.level == .warn }.count,
                                                        fail: install.findings.filter { $0.level == .fail }.count)
                                        }, skippedInstall: result.skippedInstall))
        }
        print("Scratch CA built under \(root)")
        print("")
        print("  database   \(result.database)   (CA key unencrypted: demo only)")
        print("  trust      \(result.bundlePath)")
        for host in result.hosts {
            print("  \(host.role.rawValue.padded(to: 9))  \(host.name.value)  names: \((host.dnsNames.map(\.value) + host.ipAddresses.map(\.description)).joined(separator: ", "))")
        }
        print("")
        try CertificateTable.print(result.certificates)
        print("")
        if let skipped = result.skippedInstall {
            print("Install step skipped: \(skipped).")
        } else {
            print("Installed both hosts under \(root) (links and config included):")
            let accounts = SystemAccounts()
            var seen = Set<String>()
            for install in result.installs {
                for entry in install.report.entries where seen.insert(entry.operation.path).inserted {
                    let op = entry.operation
                    let relative = String(op.path.dropFirst(root.count))
                    switch op.kind {
                    case .directory: continue
                    case .link(let target): print("  \(relative) -> \(target.hasPrefix(root + "/") ? String(target.dropFirst(root.count)) : target)")
                    case .file: print("  \(relative)  \(accounts.userName(op.uid)):\(accounts.groupName(op.gid)) \(KeyFileRuleText.octal(op.mode))")
                    }
                }
            }
            print("")
            for install in result.installs {
                let fails = install.findings.filter { $0.level == .fail }
                print("doctor \(install.host): \(install.findings.filter { $0.level == .ok }.count) OK, \(install.findings.filter { $0.level == .warn }.count) WARN, \(fails.count) FAIL")
                for finding in fails { print("  FAIL \(finding.check): \(finding.reason)") }
            }
        }
        print("")
        print("Look around:")
        print("  ./ca status --db \(result.database)")
        print("  ./ca show db2.demo.internal --db \(result.database)")
        print("  ./ca show db1.demo.internal --pem --db \(result.database) | openssl x509 -noout -text")
        if result.skippedInstall == nil {
            print("  ./ca doctor db2.demo.internal --root \(root) --db \(result.database)")
            print("  ./ca pg-config db2.demo.internal --root \(root) --db \(result.database)")
        }
        print("Remove it all with: rm -rf \(root)")
    }
}
