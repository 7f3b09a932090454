// swift-tools-version: 6.2
import PackageDescription

/// Numeric and parsing modules are compiled with full optimisation even in debug builds,
/// because their loops are 10-50x slower unoptimised and the tests run real data through them.
let optimised: [SwiftSetting] = [
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

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
        // System libraries (Debian: libuv1-dev, libjansson-dev, libopenblas-dev).
        .systemLibrary(name: "CUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "CJansson", pkgConfig: "jansson", providers: [.apt(["libjansson-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // Layers, lowest first; a module imports only modules above it in this list.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Numerics", dependencies: ["COpenBLAS", "CKernels"], swiftSettings: optimised),
        .target(name: "Checkpoints", dependencies: ["Numerics"], swiftSettings: optimised),
        .target(name: "Tokenizers", dependencies: ["Checkpoints"], swiftSettings: optimised),
        .target(name: "JSON", dependencies: ["CJansson"], swiftSettings: optimised),
        .target(name: "JSONRPC", dependencies: ["JSON"], swiftSettings: optimised),
        .target(name: "RPCTransport", dependencies: ["JSONRPC", "CUV"]),
        .target(name: "RedisClient"),
        .target(name: "LLMRecProtocol", dependencies: ["JSONRPC", "JSON"]),
        .target(name: "RPCClient", dependencies: ["LLMRecProtocol", "JSONRPC", "JSON"]),
        .target(
            name: "Server",
            dependencies: [
                "LLMRecProtocol", "RPCTransport", "JSONRPC", "RedisClient", "Recommender", "Training", "Datasets", "JSON",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(name: "Datasets", dependencies: ["JSON", "Numerics"], swiftSettings: optimised),
        .target(name: "Models", dependencies: ["Datasets", "Tokenizers", "Checkpoints", "Numerics"], swiftSettings: optimised),
        .target(name: "Training", dependencies: ["Models", "Datasets", "Checkpoints", "Numerics", "JSON"], swiftSettings: optimised),
        .target(name: "Recommender", dependencies: ["Models", "Datasets", "Numerics"], swiftSettings: optimised),
        .executableTarget(
            name: "llmrec",
            dependencies: [
                "Server", "LLMRecProtocol", "RPCClient", "JSONRPC", "Recommender", "Training", "Models", "Datasets", "Numerics", "JSON", "RedisClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .testTarget(name: "NumericsTests", dependencies: ["Numerics"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "Numerics"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers"], resources: [.copy("Fixtures")]),
        .testTarget(name: "JSONRPCTests", dependencies: ["JSONRPC", "JSON"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Numerics", "JSON"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Checkpoints", "Numerics", "Datasets"], resources: [.copy("Fixtures")]),
        .testTarget(name: "RecommenderTests", dependencies: ["Recommender", "Models", "Datasets", "JSON"]),
        .testTarget(name: "LLMRecProtocolTests", dependencies: ["LLMRecProtocol", "JSONRPC", "JSON"]),
        .testTarget(name: "RPCTransportTests", dependencies: ["RPCTransport"]),
        // Starts a real redis-server for the tests that need one.
        .target(name: "RedisTestSupport", dependencies: ["RedisClient"], path: "Tests/RedisTestSupport"),
        .testTarget(name: "RedisClientTests", dependencies: ["RedisClient", "RedisTestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["JSON", "Numerics", "RedisClient", "RedisTestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "Datasets"]),
        .testTarget(name: "llmrecTests", dependencies: ["JSON", "Datasets", "Checkpoints"]),
    ],
    swiftLanguageModes: [.v6]
)
