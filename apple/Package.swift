// swift-tools-version:5.9
// enroll for iOS and macOS: the Rust core as a binary XCFramework, the uniffi-generated Swift
// bindings plus a hand-written wrapper in the `Enroll` module, and XCTests against the reference
// server. Build the XCFramework and the generated sources first: `apple/build-xcframework.sh`.
import PackageDescription

let package = Package(
    name: "Enroll",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Enroll", targets: ["Enroll"]),
    ],
    targets: [
        // Static libraries (iOS device, iOS simulator arm64+x86_64, macOS arm64+x86_64) with the
        // C header and module map of the `EnrollFFI` clang module.
        .binaryTarget(name: "EnrollFFI", path: "EnrollFFI.xcframework"),
        .target(
            name: "Enroll",
            dependencies: ["EnrollFFI"],
            path: "Sources/Enroll",
            linkerSettings: [
                .linkedFramework("Security"),
                .linkedFramework("SystemConfiguration"),
                .linkedFramework("CoreFoundation"),
            ]
        ),
        .testTarget(
            name: "EnrollTests",
            dependencies: ["Enroll"],
            path: "Tests/EnrollTests"
        ),
    ]
)
