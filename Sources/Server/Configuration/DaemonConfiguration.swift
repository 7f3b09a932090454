import JSON
import LLMRecProtocol
import Models
import Recommender
import RedisClient

/// How a daemon runs: where it listens, what it serves, and its limits.
public struct DaemonConfiguration: Sendable {
    public enum Transport: Sendable, Equatable {
        /// JSON-RPC on stdin/stdout; the process ends with the client.
        case stdio
        /// A Unix domain socket at this path (mode 0600); many clients.
        case socket(path: String)
        /// A listening Unix socket inherited from a service manager (systemd's `LISTEN_FDS`).
        case inheritedSocket(descriptor: Int32)
    }

    public var transport: Transport
    /// A prepared dataset directory (`llmrec prepare`): the catalog and what the recommender learns from.
    public var datasetDirectory: String
    /// Where the session journal lives; nil keeps sessions in memory only (unless `sharedStore`).
    public var stateDirectory: String?
    /// A Redis server that keeps sessions and added items for every daemon that names it, instead
    /// of the local journal (`stateDirectory` must then be nil).
    public var sharedStore: RedisEndpoint?
    public var recommender: ModelSpecification
    /// A sentence-transformers model directory; when set, `catalog/search` ranks by meaning.
    public var encoderDirectory: String?
    /// Threads for embedding the catalog at start-up (when its cache is missing or incomplete).
    public var embeddingThreads: Int
    /// How the encoder's linear layers multiply (bfloat16 falls back to float32 without AVX-512 BF16).
    public var encoderPrecision: TransformerEncoder.Precision
    /// An A-LLMRec bundle: its SASRec replaces `recommender`, its stage 1 feeds the text path, its
    /// stage 2 and LM rank shortlists, and its encoder and LM are used unless others are named.
    public var bundleDirectory: String?
    /// The LM that writes answers (GGUF or Hugging Face directory); default: the bundle's.
    public var languageModelPath: String?
    /// Threads for the LM's single-token steps.
    public var languageModelThreads: Int
    /// Sessions whose LM conversation cache is kept, and the tokens each may hold.
    public var chatCacheSessions: Int
    public var chatCacheTokens: Int
    /// How answers name what is recommended ("movie", "game", "item"); nil: the loaded bundle's
    /// domain (`ConversationModels.itemNoun`), else "item".
    public var itemNoun: String?
    /// The limits announced in `initialize` and applied to every request.
    public var limits: ProtocolLimits
    /// With a socket: exit (status 0, as on SIGTERM) after this many seconds with no connection,
    /// no request and no work in flight; nil serves until stopped.
    public var idleExitSeconds: Double?

    public init(
        transport: Transport, datasetDirectory: String, stateDirectory: String? = nil,
        recommender: ModelSpecification = .cooccurrence, encoderDirectory: String? = nil, embeddingThreads: Int = 1,
        encoderPrecision: TransformerEncoder.Precision = .float32, bundleDirectory: String? = nil, languageModelPath: String? = nil,
        languageModelThreads: Int = 1,
        chatCacheSessions: Int = 8, chatCacheTokens: Int = 1024, itemNoun: String? = nil, limits: ProtocolLimits = .init(),
        idleExitSeconds: Double? = nil, sharedStore: RedisEndpoint? = nil
    ) {
        self.sharedStore = sharedStore
        self.idleExitSeconds = idleExitSeconds
        self.transport = transport
        self.datasetDirectory = datasetDirectory
        self.stateDirectory = stateDirectory
        self.recommender = recommender
        self.encoderDirectory = encoderDirectory
        self.embeddingThreads = embeddingThreads
        self.encoderPrecision = encoderPrecision
        self.bundleDirectory = bundleDirectory
        self.languageModelPath = languageModelPath
        self.languageModelThreads = languageModelThreads
        self.chatCacheSessions = chatCacheSessions
        self.chatCacheTokens = chatCacheTokens
        self.itemNoun = itemNoun
        self.limits = limits
    }
}
