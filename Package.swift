// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ca",
    products: [
        .executable(name: "ca", targets: ["ca"]),
        .library(name: "CAKit", targets: ["CAKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System libraries. shim.h forwards the macros Swift cannot import; it holds no logic.
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),
        // Linux calls Swift cannot import (prctl, pidfd): one-line forwarders in a header.
        .target(name: "CSystem"),
        // The only module that imports COpenSSL: every OpenSSL pointer lives and dies here,
        // behind value types and owning classes. Nothing outside sees an OpaquePointer.
        .target(name: "CACrypto", dependencies: ["COpenSSL"]),
        // All behaviour: model, validation, store, issuance. No printing, no exit().
        .target(name: "CAKit", dependencies: ["CACrypto", "CSQLite", "CSystem"]),
        // Thin argument-parser commands and output formatting.
        .executableTarget(
            name: "ca",
            dependencies: [
                "CAKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Figures for the README's performance section: swift run -c release ca-bench
        .executableTarget(name: "ca-bench", dependencies: ["CAKit"]),
        // Runs processes (openssl, the built ca) for the test targets.
        .target(name: "TestSupport", dependencies: ["CAKit"], path: "Tests/TestSupport"),
        .testTarget(name: "CAKitTests", dependencies: ["CAKit", "TestSupport"]),
        .testTarget(name: "CACommandTests", dependencies: ["CAKit", "TestSupport"]),
        // Real PostgreSQL servers on loopback, driven through the built ca (run as root).
        .testTarget(name: "IntegrationTests", dependencies: ["CAKit", "TestSupport"]),
    ]
)
