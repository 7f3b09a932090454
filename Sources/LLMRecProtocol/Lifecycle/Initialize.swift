import JSON
import JSONRPC

/// `initialize`: the first request of every connection.
public enum Initialize {
    public static let protocolVersion = "0.1"

    public struct Request: LLMRecRequest, Equatable {
        public static let method = "initialize"
        public typealias Response = Initialize.Response

        public var clientName: String?

        public init(clientName: String?) {
            self.clientName = clientName
        }

        public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            if reader.has("clientInfo") {
                guard case .object(let info)? = params?["clientInfo"] else {
                    throw InvalidParams(field: "clientInfo", message: "clientInfo must be an object")
                }
                clientName = info["name"]?.stringValue
            }
        }

        public var params: JSONValue? {
            guard let clientName else { return [:] }
            return ["clientInfo": ["name": .string(clientName)]]
        }
    }

    /// What is loaded and the limits clients must respect.
    public struct Response: WireCodable, Equatable {
        public var serverVersion: String
        public var methods: [String]
        public var datasetFingerprint: String
        public var catalogSize: Int
        public var users: Int
        public var recommender: String
        /// Fingerprint of the sentence encoder behind semantic search; nil without one.
        public var encoder: String?
        public var limits: ProtocolLimits

        public init(
            serverVersion: String, methods: [String], datasetFingerprint: String, catalogSize: Int, users: Int,
            recommender: String, encoder: String?, limits: ProtocolLimits
        ) {
            self.serverVersion = serverVersion
            self.methods = methods
            self.datasetFingerprint = datasetFingerprint
            self.catalogSize = catalogSize
            self.users = users
            self.recommender = recommender
            self.encoder = encoder
            self.limits = limits
        }

        public var json: JSONValue {
            [
                "serverInfo": ["name": "llmrec", "version": .string(serverVersion)],
                "protocolVersion": .string(Initialize.protocolVersion),
                "capabilities": ["methods": methods.json, "progress": true, "cancellation": true, "batches": true],
                "loaded": [
                    "dataset": .string(datasetFingerprint), "catalogSize": .integer(catalogSize), "users": .integer(users),
                    "recommender": .string(recommender), "encoder": encoder.map { .string($0) } ?? .null,
                ],
                "limits": limits.json,
            ]
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            serverVersion = try reader.reader("serverInfo").string("version")
            methods = try reader.reader("capabilities").strings("methods")
            let loaded = try reader.reader("loaded")
            datasetFingerprint = try loaded.string("dataset")
            catalogSize = try loaded.int("catalogSize")
            users = try loaded.int("users")
            recommender = try loaded.string("recommender")
            encoder = try loaded.optionalString("encoder")
            limits = try reader.decode("limits")
        }
    }
}

/// `initialized` (notification), `shutdown` (request), `exit` (notification), `$/cancelRequest`
/// (notification) and `$/progress` (server notification): the rest of the lifecycle.
public enum Lifecycle {
    public static let initialized = "initialized"
    public static let exit = "exit"
    public static let cancelRequest = "$/cancelRequest"
    public static let progress = "$/progress"

    /// `shutdown`: answered with null once the connection's requests in flight are answered.
    public struct Shutdown: LLMRecRequest, Equatable {
        public static let method = "shutdown"
        public typealias Response = NullResponse

        public init() {}

        public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {}

        public var params: JSONValue? { nil }
    }

    /// `$/progress` params: `{token, value: {kind, title?, message?, percentage?}}`.
    public static func progressParams(token: JSONValue, kind: String, title: String? = nil, percentage: Int? = nil) -> JSONValue {
        var value: JSONObject = ["kind": .string(kind)]
        if let title { value["title"] = .string(title) }
        if let percentage { value["percentage"] = .integer(percentage) }
        return ["token": token, "value": .object(value)]
    }
}
