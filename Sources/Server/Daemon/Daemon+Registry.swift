import Datasets
import JSON
import JSONRPC
import LLMRecProtocol
import Models
import Recommender

/// One request as the daemon handles it: what was asked, who asked, where the answer goes, when
/// it came and the token its progress is reported under. Loop thread only.
struct IncomingRequest {
    var id: RequestID
    var method: String
    var params: JSONValue?
    var client: ClientState
    /// The batch the answer joins, when the request came in one.
    var batch: BatchReply?
    /// Uptime nanoseconds when its bytes were read (latency is measured from here).
    var receivedAt: UInt64
    /// The client's `workDoneToken`, once the params are read.
    var progressToken: JSONValue?
}

/// What a method answers: its typed result or an error. The result is written to JSON once, in
/// the reply.
typealias MethodOutcome = Result<any WireCodable, ResponseError>

extension Daemon {
    /// One served method: its request type's name, its handler, and whether it may come before
    /// `initialize`.
    struct MethodEntry: Sendable {
        var method: String
        var beforeInitialize: Bool
        var handle: @Sendable (Daemon, IncomingRequest) throws -> Handling

        /// Serves `R`: its params are read under the daemon's limits, then `handler` runs with the
        /// typed request.
        init<R: LLMRecRequest>(
            _ type: R.Type, beforeInitialize: Bool = false,
            _ handler: @escaping @Sendable (Daemon, R, IncomingRequest) throws -> Handling
        ) {
            method = R.method
            self.beforeInitialize = beforeInitialize
            handle = { daemon, incoming in
                let request = try R(params: incoming.params, limits: daemon.configuration.limits)
                var incoming = incoming
                incoming.progressToken = request.progressToken
                return try handler(daemon, request, incoming)
            }
        }
    }

    /// Every method the daemon serves, in the order `initialize` lists them. Dispatch and that list
    /// are both built from this table; a test checks that `Protocol/openrpc.json` documents the
    /// same methods. Each group is declared beside its handlers, so adding a method touches its
    /// request and response types (LLMRecProtocol), its handler and entry, and its OpenRPC
    /// description.
    static let registry: [MethodEntry] = lifecycleMethods + storeMethods + conversationMethods

    /// `initialize` and `shutdown`.
    static let lifecycleMethods: [MethodEntry] = [
        MethodEntry(Initialize.Request.self, beforeInitialize: true) { daemon, request, incoming in
            daemon.initialize(request, incoming)
        },
        MethodEntry(Lifecycle.Shutdown.self) { daemon, _, incoming in daemon.shutdown(incoming) },
    ]

    /// The methods `initialize` announces.
    static let methods = registry.map(\.method)

    /// The registry by method name.
    static let handlers = Dictionary(uniqueKeysWithValues: registry.map { ($0.method, $0) })

    /// `initialize`: once per connection.
    func initialize(_ request: Initialize.Request, _ incoming: IncomingRequest) -> Handling {
        guard !incoming.client.initialized else { return .failure(.invalidRequest("already initialized")) }
        incoming.client.initialized = true
        return .success(Initialize.Response(
            serverVersion: Self.version, methods: Self.methods, datasetFingerprint: dataset.fingerprint,
            catalogSize: catalog.count, users: dataset.userCount, recommender: engine.recommender.name,
            encoder: engine.semanticSearch.map { $0.encoder.fingerprint }, limits: configuration.limits))
    }

    /// `shutdown`: answered once the client's requests in flight are.
    func shutdown(_ incoming: IncomingRequest) -> Handling {
        let client = incoming.client
        client.shutdownRequested = true
        guard client.isIdle else {
            client.deferredShutdown = (incoming.id, incoming.batch, incoming.receivedAt)
            return .deferred
        }
        return .success(NullResponse())
    }
}
