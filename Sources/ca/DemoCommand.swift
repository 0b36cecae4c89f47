import ArgumentParser
import CAKit
import Foundation

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Build a scratch CA with a primary and a standby, and show what ca made.",
        discussion: "Everything goes under a fresh scratch directory (or --dir); nothing outside it is touched.")

    @Option(name: .long, help: ArgumentHelp("Scratch directory to use (must not exist or be empty).", valueName: "dir"))
    var dir: String?

    @Flag(name: .long, help: "Print JSON: the paths and the issued certificates.") var json = false

    struct JSON: Encodable {
        let directory: String
        let database: String
        let bundle: String
        let hosts: [HostJSON]
        let certificates: [CertificateJSON]
    }

    func run() throws {
        let root = try Demo.prepare(directory: dir)
        let result = try Demo.run(in: root)
        if json {
            return try Output.json(JSON(directory: root, database: result.database, bundle: result.bundlePath,
                                        hosts: result.hosts.map(HostJSON.init), certificates: result.certificates.map { CertificateJSON($0) }))
        }
        print("Scratch CA built under \(root)")
        print("")
        print("  database   \(result.database)   (CA key unencrypted: demo only)")
        print("  trust      \(result.bundlePath)")
        for host in result.hosts {
            print("  \(host.role.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))  \(host.name.value)  names: \((host.dnsNames.map(\.value) + host.ipAddresses.map(\.description)).joined(separator: ", "))")
        }
        print("")
        CertificateTable.print(result.certificates)
        print("")
        print("Look around:")
        print("  ./ca status --db \(result.database)")
        print("  ./ca show db2.demo.internal --db \(result.database)")
        print("  ./ca show db1.demo.internal --pem --db \(result.database) | openssl x509 -noout -text")
        print("Remove it all with: rm -rf \(root)")
    }
}
