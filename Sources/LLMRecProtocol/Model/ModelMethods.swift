import JSON

/// `model/status`: what is loaded and resident.
public enum ModelStatus {
    public static let method = "model/status"

    /// One resident part (recommender, encoder, LM, bundle).
    public struct Part: Sendable {
        public var name: String
        public var path: String?
        public var detail: JSONObject

        public init(name: String, path: String?, detail: JSONObject = [:]) {
            self.name = name
            self.path = path
            self.detail = detail
        }

        var json: JSONValue {
            var object = detail
            object["name"] = .string(name)
            object["path"] = path.map { .string($0) } ?? .null
            return .object(object)
        }
    }

    public struct Result: Sendable {
        public var recommender: Part
        public var encoder: Part?
        public var languageModel: Part?
        public var bundle: Part?
        /// Which signals a turn can use.
        public var capabilities: [String]
        public var catalogSize: Int
        public var addedItems: Int
        public var modelBytes: Int
        public var chatCacheSessions: Int
        public var chatCacheBytes: Int
        public var residentMemoryBytes: Int?
        /// The load in progress, if any: what and since when (seconds).
        public var loading: (bundle: String?, languageModel: String?, seconds: Double)?
        /// Seconds the current models took to load.
        public var loadSeconds: Double
        /// Loads completed since start (0: the models the daemon started with).
        public var generation: Int

        public init(
            recommender: Part, encoder: Part?, languageModel: Part?, bundle: Part?, capabilities: [String], catalogSize: Int,
            addedItems: Int, modelBytes: Int, chatCacheSessions: Int, chatCacheBytes: Int, residentMemoryBytes: Int?,
            loading: (bundle: String?, languageModel: String?, seconds: Double)?, loadSeconds: Double, generation: Int
        ) {
            self.recommender = recommender
            self.encoder = encoder
            self.languageModel = languageModel
            self.bundle = bundle
            self.capabilities = capabilities
            self.catalogSize = catalogSize
            self.addedItems = addedItems
            self.modelBytes = modelBytes
            self.chatCacheSessions = chatCacheSessions
            self.chatCacheBytes = chatCacheBytes
            self.residentMemoryBytes = residentMemoryBytes
            self.loading = loading
            self.loadSeconds = loadSeconds
            self.generation = generation
        }

        public var json: JSONValue {
            [
                "recommender": recommender.json, "encoder": encoder?.json ?? .null, "languageModel": languageModel?.json ?? .null,
                "bundle": bundle?.json ?? .null, "capabilities": .array(capabilities.map { .string($0) }),
                "catalogSize": .integer(catalogSize), "addedItems": .integer(addedItems), "modelBytes": .integer(modelBytes),
                "chatCaches": ["sessions": .integer(chatCacheSessions), "bytes": .integer(chatCacheBytes)],
                "residentMemoryBytes": residentMemoryBytes.map { .integer($0) } ?? .null,
                "loading": loading.map { loading -> JSONValue in
                    [
                        "bundle": loading.bundle.map { .string($0) } ?? .null,
                        "languageModel": loading.languageModel.map { .string($0) } ?? .null,
                        "seconds": .number((loading.seconds * 10).rounded() / 10),
                    ]
                } ?? .null,
                "loadSeconds": .number((loadSeconds * 100).rounded() / 100), "generation": .integer(generation),
            ]
        }
    }
}

/// `model/load`: loads a bundle (and optionally another LM or encoder) and swaps it in when ready;
/// the models in use keep serving meanwhile, and requests already running finish on them.
public enum ModelLoad {
    public static let method = "model/load"

    public struct Params: Sendable {
        /// An A-LLMRec bundle directory (`llmrec train align|project`).
        public var bundle: String?
        /// An LM for answers (GGUF file or Hugging Face directory); default: the bundle's.
        public var languageModel: String?
        /// A sentence-transformers directory; default: the bundle's, else the one in use.
        public var encoder: String?

        public init(_ params: JSONValue?) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            if let unknown = reader.unknownFields(["bundle", "languageModel", "encoder"]).first {
                throw InvalidParams(field: unknown, message: "unknown parameter '\(unknown)' (known: bundle, languageModel, encoder)")
            }
            bundle = try reader.has("bundle") ? reader.string("bundle", length: 1...4096) : nil
            languageModel = try reader.has("languageModel") ? reader.string("languageModel", length: 1...4096) : nil
            encoder = try reader.has("encoder") ? reader.string("encoder", length: 1...4096) : nil
            guard bundle != nil || languageModel != nil || encoder != nil else {
                throw InvalidParams(field: "bundle", message: "name at least one of bundle, languageModel, encoder")
            }
        }
    }
}
