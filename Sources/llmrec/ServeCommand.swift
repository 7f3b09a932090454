import ArgumentParser
import Foundation
import LLMRecProtocol
import Logging
import Models
import Numerics
import Recommender
import RedisClient
import RPCClient
import Server
import Training

extension Logger.Level: @retroactive ExpressibleByArgument {}

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the recommendation daemon (JSON-RPC 2.0, LSP framing) over stdio or a Unix socket.",
        discussion: """
            The protocol is specified in Protocol/spec.md. Model work runs on serial worker lanes; \
            the I/O thread stays responsive. SIGTERM or SIGINT finish in-flight requests, write their \
            replies and exit 0. With --state, sessions are journaled and survive a crash or restart. \
            With --store redis://HOST:PORT[/DB], sessions and added items live in Redis instead, shared \
            by every daemon that names it (several daemons behind one load balancer).

            Without --stdio or --socket the daemon is the user's shared one: it listens on \
            $XDG_RUNTIME_DIR/llmrec/llmrec.sock (/tmp/llmrec-UID/llmrec.sock without that variable), \
            journals to $XDG_STATE_HOME/llmrec (~/.local/state/llmrec) unless --state says otherwise, \
            and is what `llmrec chat`, `llmrec start` and the clients find or start. Under systemd \
            socket activation (LISTEN_FDS) it serves the socket it inherits. Its options not given \
            come from the configuration file ($XDG_CONFIG_HOME/llmrec/config.json): the same names in \
            camel case. A daemon on --stdio or --socket reads a configuration only with --config.
            """
    )

    @Flag(help: "Serve one client on stdin/stdout.")
    var stdio = false

    @Option(help: "Serve many clients on a Unix socket at this path (created with mode 0600).")
    var socket: String?

    @Option(help: "Configuration file (default for the shared daemon: $XDG_CONFIG_HOME/llmrec/config.json, when it exists).")
    var config: String?

    @Option(help: "Prepared dataset directory (`llmrec prepare`).")
    var data: String?

    @Option(help: "Directory for the session journal; without it (and off the shared socket) sessions live in memory only.")
    var state: String?

    @Option(help: "Keep sessions and added items in Redis, shared with every daemon that names it: redis://[:PASSWORD@]HOST[:PORT][/DB] or unix:///PATH[?db=N] (instead of --state).")
    var store: String?

    @OptionGroup var models: ServedModelOptions

    @Option(help: "Threads for embedding the catalog at start-up (default 1).")
    var embeddingThreads: Int?

    @Option(help: "Sessions whose LM conversation is kept cached, so a next turn only runs its new tokens (default 8).")
    var chatCacheSessions: Int?

    @Option(help: "Tokens each cached conversation may hold before it starts over from the system prompt (default 1024).")
    var chatCacheTokens: Int?

    @Option(help: "Requests waiting or running per lane before the daemon answers 'overloaded' (default \(ProtocolLimits().maxQueuedPerLane)).")
    var maxQueuedPerLane: Int?

    @Option(help: "Largest accepted message body, in bytes (default \(ProtocolLimits().maxMessageBytes)).")
    var maxMessageBytes: Int?

    @Option(help: "Most live sessions; the least recently used is evicted beyond it (default \(ProtocolLimits().maxSessions)).")
    var maxSessions: Int?

    @Option(help: "Seconds of inactivity after which a session expires (default \(Int(ProtocolLimits().sessionTimeToLiveSeconds))).")
    var sessionTtl: Double?

    @Option(help: "On a socket: exit after this many seconds with no connection and nothing in flight (needs a journal; sessions survive).")
    var idleExit: Double?

    @Option(help: "Least severe log events written to stderr: trace, debug, info, notice, warning, error, critical (default info).")
    var logLevel: Logger.Level?

    func validate() throws {
        guard !(stdio && socket != nil) else { throw ValidationError("choose one of --stdio and --socket PATH") }
        if let chatCacheSessions, chatCacheSessions < 0 { throw ValidationError("--chat-cache-sessions must be at least 0") }
        if let chatCacheTokens, chatCacheTokens < 64 { throw ValidationError("--chat-cache-tokens must be at least 64") }
        for (flag, value) in [("--max-queued-per-lane", maxQueuedPerLane), ("--max-sessions", maxSessions), ("--embedding-threads", embeddingThreads)] {
            if let value, value < 1 { throw ValidationError("\(flag) must be at least 1") }
        }
        if let maxMessageBytes, maxMessageBytes < 1024 { throw ValidationError("--max-message-bytes must be at least 1024") }
        for (flag, value) in [("--session-ttl", sessionTtl), ("--idle-exit", idleExit)] {
            if let value, !(value > 0) { throw ValidationError("\(flag) must be a positive number of seconds") }
        }
    }

    func run() throws {
        do {
            // The default configuration file describes the user's shared daemon; a daemon on
            // --stdio or --socket reads a configuration only when given one with --config.
            let settings = stdio || socket != nil ? try config.map(DaemonSettings.read) ?? DaemonSettings() : try DaemonSettings.load(explicitPath: config)
            let level = logLevel ?? settings.logLevel ?? .info
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let configuration = try daemonConfiguration(settings)
            // Prompts (A-LLMRec ranking, answers) run through OpenBLAS on the model lane: as many
            // threads as the LM's token steps get.
            BLAS.setThreads(configuration.languageModelThreads)
            let status = try Daemon(configuration: configuration).run()
            if status != 0 { throw ExitCode(status) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw fail(error)
        }
    }

    /// The daemon's configuration: these options, then `settings`, then the defaults.
    func daemonConfiguration(_ settings: DaemonSettings) throws -> DaemonConfiguration {
        guard let data = data ?? settings.data else {
            throw ValidationError(
                "no dataset: pass --data DIR, or set \"data\" in \(config ?? DaemonSettings.defaultPath()) (llmrec prepare makes one)")
        }
        let transport: DaemonConfiguration.Transport
        var state = state ?? settings.state
        if stdio {
            transport = .stdio
        } else if let socket {
            transport = .socket(path: socket)
        } else {
            // The user's shared daemon: inherited from systemd, on the configured socket, or on the
            // default one; it journals by default.
            if let descriptor = Self.inheritedListener() {
                transport = .inheritedSocket(descriptor: descriptor)
            } else if let configured = settings.socket {
                transport = .socket(path: configured)
            } else {
                let path = DaemonEndpoint.defaultSocketPath()
                try DaemonEndpoint.preparePrivateDirectory((path as NSString).deletingLastPathComponent)
                transport = .socket(path: path)
            }
            state = state ?? Self.defaultStateDirectory()
        }
        var sharedStore: RedisEndpoint?
        if let url = store ?? settings.store {
            switch RedisEndpoint.parse(url) {
            case .success(let endpoint): sharedStore = endpoint
            case .failure(let error): throw ValidationError("--store: \(error)")
            }
            guard self.state == nil, settings.state == nil || store != nil else {
                throw ValidationError("--store keeps sessions in Redis and --state in a local journal: choose one")
            }
            state = nil
        }
        let idle = idleExit ?? settings.idleExit
        if idle != nil {
            guard transport != .stdio else { throw ValidationError("--idle-exit applies to a socket, not to --stdio") }
            guard state != nil || sharedStore != nil else {
                throw ValidationError("--idle-exit needs a journal (--state) or a shared store (--store) so that sessions outlive the daemon")
            }
        }
        var limits = ProtocolLimits()
        limits.maxQueuedPerLane = maxQueuedPerLane ?? settings.maxQueuedPerLane ?? limits.maxQueuedPerLane
        limits.maxMessageBytes = maxMessageBytes ?? settings.maxMessageBytes ?? limits.maxMessageBytes
        limits.maxSessions = maxSessions ?? settings.maxSessions ?? limits.maxSessions
        limits.sessionTimeToLiveSeconds = sessionTtl ?? settings.sessionTtl ?? limits.sessionTimeToLiveSeconds
        let served = models.resolved(over: settings)
        return DaemonConfiguration(
            transport: transport, datasetDirectory: data, stateDirectory: state,
            recommender: try ModelSpecification(parsing: served.recommender ?? "cooccurrence"), encoderDirectory: served.encoder,
            embeddingThreads: embeddingThreads ?? settings.embeddingThreads ?? 1, encoderPrecision: served.encoderPrecision ?? .float32,
            bundleDirectory: served.bundle, languageModelPath: served.lm, languageModelThreads: served.lmThreads ?? 1,
            chatCacheSessions: chatCacheSessions ?? settings.chatCacheSessions ?? 8,
            chatCacheTokens: chatCacheTokens ?? settings.chatCacheTokens ?? 1024, itemNoun: served.itemNoun,
            limits: limits, idleExitSeconds: idle, sharedStore: sharedStore)
    }

    /// The listening socket a service manager handed over (`LISTEN_PID` is this process and
    /// `LISTEN_FDS` at least 1: descriptor 3), or nil.
    static func inheritedListener(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int32? {
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
            let count = environment["LISTEN_FDS"].flatMap(Int.init), count >= 1
        else { return nil }
        return 3
    }

    /// `$XDG_STATE_HOME/llmrec`, or `~/.local/state/llmrec`: the shared daemon's journal.
    static func defaultStateDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base = environment["XDG_STATE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.local/state"
        return base + "/llmrec"
    }
}
