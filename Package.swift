// swift-tools-version: 6.2
import PackageDescription

/// Numeric and parsing modules are compiled with full optimisation even in debug builds,
/// because their loops are 10-50x slower unoptimised and the tests run real data through them.
let optimised: [SwiftSetting] = [
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

/// Every Swift target sees only the members of the modules it imports itself.
let imports: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "LLMRec",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "llmrec", targets: ["llmrec"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // System libraries (Debian: libuv1-dev, libjansson-dev; OpenBLAS, libopenblas-dev, is opened by CKernels at run time).
        .systemLibrary(name: "CUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "CJansson", pkgConfig: "jansson", providers: [.apt(["libjansson-dev"])]),

        // Layers, lowest first; a module imports only modules above it in this list.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])], linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("pthread")]),
        .target(name: "Support", swiftSettings: imports),
        .target(name: "Numerics", dependencies: ["CKernels"], swiftSettings: optimised + imports),
        .target(name: "Checkpoints", dependencies: ["Numerics"], swiftSettings: optimised + imports),
        .target(name: "Tokenizers", dependencies: ["Checkpoints"], swiftSettings: optimised + imports),
        .target(name: "JSON", dependencies: ["CJansson"], swiftSettings: optimised + imports),
        .target(name: "JSONRPC", dependencies: ["JSON"], swiftSettings: optimised + imports),
        .target(name: "RPCTransport", dependencies: ["JSONRPC", "CUV"], swiftSettings: imports),
        .target(name: "RedisClient", swiftSettings: imports),
        .target(name: "LLMRecProtocol", dependencies: ["JSONRPC", "JSON"], swiftSettings: imports),
        .target(name: "RPCClient", dependencies: ["LLMRecProtocol", "JSONRPC", "JSON"], swiftSettings: imports),
        .target(name: "Datasets", dependencies: ["Support", "JSON", "Numerics"], swiftSettings: optimised + imports),
        .target(name: "Models", dependencies: ["Datasets", "Tokenizers", "Checkpoints", "Numerics"], swiftSettings: optimised + imports),
        .target(name: "Recommender", dependencies: ["Support", "Tokenizers", "Models", "Datasets", "Checkpoints", "Numerics", "JSON"], swiftSettings: optimised + imports),
        .target(name: "Training", dependencies: ["Support", "Tokenizers", "Recommender", "Models", "Datasets", "Checkpoints", "Numerics", "JSON"], swiftSettings: optimised + imports),
        .target(
            name: "Server",
            dependencies: ["Support", 
                "LLMRecProtocol", "RPCTransport", "JSONRPC", "RedisClient", "Recommender", "Models", "Datasets", "JSON",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: imports),
        .executableTarget(
            name: "llmrec",
            dependencies: [
                "Server", "LLMRecProtocol", "RPCClient", "JSONRPC", "Training", "Recommender", "Models", "Tokenizers", "Datasets",
                "Numerics", "JSON", "RedisClient", "Support",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: imports),

        .testTarget(name: "NumericsTests", dependencies: ["Numerics"], swiftSettings: imports),
        .testTarget(name: "JSONTests", dependencies: ["JSON"], swiftSettings: imports),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "Numerics"], resources: [.copy("Fixtures")], swiftSettings: imports),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers"], resources: [.copy("Fixtures")], swiftSettings: imports),
        .testTarget(name: "JSONRPCTests", dependencies: ["JSONRPC", "JSON"], swiftSettings: imports),
        .testTarget(name: "DatasetsTests", dependencies: ["Support", "Datasets", "Numerics", "JSON"], resources: [.copy("Fixtures")], swiftSettings: imports),
        .testTarget(name: "ModelsTests", dependencies: ["Support", "Tokenizers", "Models", "Checkpoints", "Numerics", "Datasets", "JSON"], resources: [.copy("Fixtures")], swiftSettings: imports),
        .testTarget(name: "RecommenderTests", dependencies: ["Numerics", "Support", "Recommender", "Models", "Datasets", "JSON"], swiftSettings: imports),
        .testTarget(name: "LLMRecProtocolTests", dependencies: ["LLMRecProtocol", "JSONRPC", "JSON"], swiftSettings: imports),
        .testTarget(name: "RPCClientTests", dependencies: ["RPCClient", "LLMRecProtocol", "JSONRPC", "JSON"], swiftSettings: imports),
        .testTarget(name: "RPCTransportTests", dependencies: ["RPCTransport"], swiftSettings: imports),
        // Starts a real redis-server for the tests that need one.
        .target(name: "RedisTestSupport", dependencies: ["RedisClient"], path: "Tests/RedisTestSupport", swiftSettings: imports),
        .testTarget(name: "RedisClientTests", dependencies: ["RedisClient", "RedisTestSupport"], swiftSettings: imports),
        .testTarget(name: "ServerTests", dependencies: ["Server", "RPCClient", "LLMRecProtocol", "JSONRPC", "JSON", "Numerics", "RedisClient", "RedisTestSupport"], swiftSettings: imports),
        .testTarget(name: "TrainingTests", dependencies: ["Numerics", "Checkpoints", "Support", "Training", "Recommender", "Models", "Datasets", "JSON"], swiftSettings: imports),
        .testTarget(name: "llmrecTests", dependencies: ["Support", "JSON", "Datasets", "Checkpoints"], swiftSettings: imports),
    ],
    swiftLanguageModes: [.v6]
)
