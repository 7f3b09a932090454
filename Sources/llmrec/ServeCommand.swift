import ArgumentParser
import Foundation
import Numerics
import Server
import Training

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the recommendation daemon (JSON-RPC 2.0, LSP framing) over stdio or a Unix socket.",
        discussion: """
            The protocol is specified in Protocol/spec.md. Model work runs on serial worker lanes; \
            the I/O thread stays responsive. SIGTERM or SIGINT finish in-flight requests, write their \
            replies and exit 0. With --state, sessions are journaled and survive a crash or restart.
            """
    )

    @Flag(help: "Serve one client on stdin/stdout.")
    var stdio = false

    @Option(help: "Serve many clients on a Unix socket at this path (created with mode 0600).")
    var socket: String?

    @Option(help: "Prepared dataset directory (`llmrec prepare`).")
    var data: String

    @Option(help: "Directory for the session journal; without it sessions live in memory only.")
    var state: String?

    @OptionGroup var models: ServedModelOptions

    @Option(help: "Threads for embedding the catalog at start-up.")
    var threads = 1

    @Option(help: "Sessions whose LM conversation is kept cached (so a next turn only runs its new tokens).")
    var chatCacheSessions = 8

    @Option(help: "Tokens each cached conversation may hold before it starts over from the system prompt.")
    var chatCacheTokens = 1024

    @Option(help: "Requests waiting or running per lane before the daemon answers 'overloaded'.")
    var maxQueuedPerLane = DaemonConfiguration.Limits().maxQueuedPerLane

    @Option(help: "Largest accepted message body, in bytes.")
    var maxMessageBytes = DaemonConfiguration.Limits().maxMessageBytes

    @Option(help: "Most live sessions; the least recently used is evicted beyond it.")
    var maxSessions = DaemonConfiguration.Limits().maxSessions

    @Option(help: "Seconds of inactivity after which a session expires.")
    var sessionTtl = DaemonConfiguration.Limits().sessionTimeToLiveSeconds

    func validate() throws {
        guard stdio != (socket != nil) else { throw ValidationError("choose exactly one of --stdio and --socket PATH") }
        guard chatCacheSessions >= 0, chatCacheTokens >= 64 else {
            throw ValidationError("--chat-cache-sessions must be at least 0, --chat-cache-tokens at least 64")
        }
        guard maxQueuedPerLane >= 1, maxSessions >= 1, sessionTtl > 0, maxMessageBytes >= 1024 else {
            throw ValidationError("limits must be positive (--max-message-bytes at least 1024)")
        }
    }

    func run() throws {
        var limits = DaemonConfiguration.Limits()
        limits.maxQueuedPerLane = maxQueuedPerLane
        limits.maxMessageBytes = maxMessageBytes
        limits.maxSessions = maxSessions
        limits.sessionTimeToLiveSeconds = sessionTtl
        // Prompts (A-LLMRec ranking, answers) run through OpenBLAS on the model lane: as many
        // threads as the LM's token steps get.
        BLAS.setThreads(models.lmThreads)
        let status: Int32
        do {
            let configuration = DaemonConfiguration(
                transport: socket.map { .socket(path: $0) } ?? .stdio, datasetDirectory: data, stateDirectory: state,
                recommender: try ModelSpecification(parsing: models.recommender), encoderDirectory: models.encoder,
                embeddingThreads: threads, encoderPrecision: models.encoderPrecision, bundleDirectory: models.bundle,
                languageModelPath: models.lm,
                languageModelThreads: models.lmThreads, chatCacheSessions: chatCacheSessions, chatCacheTokens: chatCacheTokens,
                itemNoun: models.itemNoun, limits: limits)
            status = try Daemon(configuration: configuration).run()
        } catch {
            throw fail(error)
        }
        if status != 0 { throw ExitCode(status) }
    }
}
