import JSON
import JSONRPC
import LLMRecProtocol

/// One request as the daemon handles it: what was asked, who asked, where the answer goes and
/// when it came. Loop thread only.
struct IncomingRequest {
    var id: RequestID
    var method: String
    var params: JSONValue?
    var client: ClientState
    /// The batch the answer joins, when the request came in one.
    var batch: BatchReply?
    /// Uptime nanoseconds when its bytes were read (latency is measured from here).
    var receivedAt: UInt64
}

extension Daemon {
    /// One served method: its name, its handler, and whether it may come before `initialize`.
    struct MethodEntry: Sendable {
        var method: String
        var beforeInitialize = false
        var handle: @Sendable (Daemon, IncomingRequest) throws -> Handling
    }

    /// Every method the daemon serves, in the order `initialize` lists them. Dispatch and that list
    /// are both built from this table; `Protocol/openrpc.json` documents each one (a test checks
    /// that the two name the same methods).
    static let registry: [MethodEntry] = [
        MethodEntry(method: Initialize.method, beforeInitialize: true) { daemon, request in daemon.initialize(request) },
        MethodEntry(method: Lifecycle.shutdown) { daemon, request in daemon.shutdown(request) },
        MethodEntry(method: ServerStatus.method) { daemon, _ in .answer(.success(daemon.status())) },
        MethodEntry(method: CatalogGet.method) { daemon, request in .answer(try daemon.catalogGet(request.params)) },
        MethodEntry(method: CatalogSearchMethod.method) { daemon, request in try daemon.catalogSearch(request) },
        MethodEntry(method: SessionOpen.method) { daemon, request in try daemon.sessionOpen(request) },
        MethodEntry(method: SessionObserve.method) { daemon, request in try daemon.sessionObserve(request) },
        MethodEntry(method: SessionRecommend.method) { daemon, request in try daemon.sessionRecommend(request) },
        MethodEntry(method: SessionGet.method) { daemon, request in .answer(try daemon.sessionGet(request.params)) },
        MethodEntry(method: SessionClose.method) { daemon, request in try daemon.sessionClose(request) },
        MethodEntry(method: SessionMessage.method) { daemon, request in try daemon.sessionMessage(request) },
        MethodEntry(method: CatalogAdd.method) { daemon, request in try daemon.catalogAdd(request) },
        MethodEntry(method: ModelStatus.method) { daemon, _ in .answer(.success(daemon.modelStatus())) },
        MethodEntry(method: ModelLoad.method) { daemon, request in try daemon.modelLoad(request) },
    ]

    /// The methods `initialize` announces.
    static let methods = registry.map(\.method)

    /// The registry by method name.
    static let handlers = Dictionary(uniqueKeysWithValues: registry.map { ($0.method, $0) })

    /// `initialize`: once per connection.
    func initialize(_ request: IncomingRequest) -> Handling {
        guard !request.client.initialized else { return .answer(.failure(.invalidRequest("already initialized"))) }
        return .answer(initialize(request.params)).afterSuccess { request.client.initialized = true }
    }

    /// `shutdown`: answered once the client's requests in flight are.
    func shutdown(_ request: IncomingRequest) -> Handling {
        let client = request.client
        client.shutdownRequested = true
        guard client.isIdle else {
            client.deferredShutdown = (request.id, request.batch, request.receivedAt)
            return .deferred
        }
        return .answer(.success(.null))
    }
}
