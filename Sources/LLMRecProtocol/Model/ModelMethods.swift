import JSON
import JSONRPC

/// `model/status`: what is loaded and resident.
public enum ModelStatus {
    public struct Request: LLMRecRequest, Equatable {
        public static let method = "model/status"
        public typealias Response = ModelStatus.Response

        public init() {}

        public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {}

        public var params: JSONValue? { nil }
    }

    /// One resident part (recommender, encoder, LM, bundle): its name, where it was read from, and
    /// what else is known of it (`detail`, written beside `name` and `path`).
    public struct Part: WireCodable, Equatable {
        public var name: String
        public var path: String?
        public var detail: JSONObject

        public init(name: String, path: String?, detail: JSONObject = [:]) {
            self.name = name
            self.path = path
            self.detail = detail
        }

        public var json: JSONValue {
            var object = detail
            object["name"] = .string(name)
            object["path"] = path.map { .string($0) } ?? .null
            return .object(object)
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            name = try reader.string("name")
            path = try reader.optionalString("path")
            var detail = JSONObject()
            for (key, value) in json.objectValue?.members ?? [] where key != "name" && key != "path" { detail[key] = value }
            self.detail = detail
        }
    }

    /// A load in progress: what, and for how many seconds so far.
    public struct Loading: Sendable, Equatable {
        public var bundle: String?
        public var languageModel: String?
        /// Seconds, to one decimal.
        public var seconds: Double

        public init(bundle: String?, languageModel: String?, seconds: Double) {
            self.bundle = bundle
            self.languageModel = languageModel
            self.seconds = (seconds * 10).rounded() / 10
        }
    }

    public struct Response: WireCodable, Equatable {
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
        public var loading: Loading?
        /// Seconds the current models took to load, to two decimals.
        public var loadSeconds: Double
        /// Loads completed since start (0: the models the daemon started with).
        public var generation: Int

        public init(
            recommender: Part, encoder: Part?, languageModel: Part?, bundle: Part?, capabilities: [String], catalogSize: Int,
            addedItems: Int, modelBytes: Int, chatCacheSessions: Int, chatCacheBytes: Int, residentMemoryBytes: Int?,
            loading: Loading?, loadSeconds: Double, generation: Int
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
            self.loadSeconds = (loadSeconds * 100).rounded() / 100
            self.generation = generation
        }

        public var json: JSONValue {
            [
                "recommender": recommender.json, "encoder": encoder?.json ?? .null, "languageModel": languageModel?.json ?? .null,
                "bundle": bundle?.json ?? .null, "capabilities": capabilities.json,
                "catalogSize": .integer(catalogSize), "addedItems": .integer(addedItems), "modelBytes": .integer(modelBytes),
                "chatCaches": ["sessions": .integer(chatCacheSessions), "bytes": .integer(chatCacheBytes)],
                "residentMemoryBytes": residentMemoryBytes.map { .integer($0) } ?? .null,
                "loading": loading.map { loading -> JSONValue in
                    [
                        "bundle": loading.bundle.map { .string($0) } ?? .null,
                        "languageModel": loading.languageModel.map { .string($0) } ?? .null,
                        "seconds": .number(loading.seconds),
                    ]
                } ?? .null,
                "loadSeconds": .number(loadSeconds), "generation": .integer(generation),
            ]
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            recommender = try reader.decode("recommender")
            encoder = try reader.optionalDecode("encoder")
            languageModel = try reader.optionalDecode("languageModel")
            bundle = try reader.optionalDecode("bundle")
            capabilities = try reader.strings("capabilities")
            catalogSize = try reader.int("catalogSize")
            addedItems = try reader.int("addedItems")
            modelBytes = try reader.int("modelBytes")
            let caches = try reader.reader("chatCaches")
            chatCacheSessions = try caches.int("sessions")
            chatCacheBytes = try caches.int("bytes")
            residentMemoryBytes = try reader.optionalInt("residentMemoryBytes")
            if reader.has("loading") {
                let loading = try reader.reader("loading")
                self.loading = Loading(
                    bundle: try loading.optionalString("bundle"), languageModel: try loading.optionalString("languageModel"),
                    seconds: try loading.double("seconds"))
            }
            loadSeconds = try reader.double("loadSeconds")
            generation = try reader.int("generation")
        }
    }
}

/// `model/load`: loads a bundle (and optionally another LM or encoder) and swaps it in when ready;
/// the models in use keep serving meanwhile, and requests already running finish on them. The
/// result is the new `model/status`.
public enum ModelLoad {
    public struct Request: LLMRecRequest, Equatable {
        public static let method = "model/load"
        public typealias Response = ModelStatus.Response

        /// A bundle directory (`llmrec train ...`).
        public var bundle: String?
        /// An LM for answers (GGUF file or Hugging Face directory); default: the bundle's.
        public var languageModel: String?
        /// A sentence-transformers directory; default: the bundle's, else the one in use.
        public var encoder: String?

        public init(bundle: String? = nil, languageModel: String? = nil, encoder: String? = nil) {
            self.bundle = bundle
            self.languageModel = languageModel
            self.encoder = encoder
        }

        public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {
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

        public var params: JSONValue? {
            var writer = ParamsWriter()
            writer.set("bundle", bundle)
            writer.set("languageModel", languageModel)
            writer.set("encoder", encoder)
            return writer.params
        }
    }
}
