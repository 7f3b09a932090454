import Datasets
import Foundation
import JSON
import JSONRPC
import LLMRecProtocol
import Models
import Recommender
import RedisClient
import RPCTransport

/// The method handlers. Cheap ones answer on the loop thread; `catalog/search` and
/// `session/recommend` run on lanes.
extension Daemon {
    /// The methods handled here, in the order `initialize` lists them (`registry`).
    static let storeMethods: [MethodEntry] = [
        MethodEntry(ServerStatus.Request.self) { daemon, _, _ in .success(daemon.status()) },
        MethodEntry(CatalogGet.Request.self) { daemon, request, _ in daemon.catalogGet(request) },
        MethodEntry(CatalogSearch.Request.self) { daemon, request, incoming in daemon.catalogSearch(request, incoming) },
        MethodEntry(SessionOpen.Request.self) { daemon, request, incoming in try daemon.sessionOpen(request, incoming) },
        MethodEntry(SessionObserve.Request.self) { daemon, request, incoming in try daemon.sessionObserve(request, incoming) },
        MethodEntry(SessionRecommend.Request.self) { daemon, request, incoming in try daemon.sessionRecommend(request, incoming) },
        MethodEntry(SessionGet.Request.self) { daemon, request, _ in .success(try daemon.sessionGet(request)) },
        MethodEntry(SessionClose.Request.self) { daemon, request, incoming in try daemon.sessionClose(request, incoming) },
    ]

    func status() -> ServerStatus.Response {
        let latency = metrics.percentiles
        return ServerStatus.Response(
            uptimeSeconds: Double(DispatchTime.now().uptimeNanoseconds - startedAt) / 1e9,
            connections: clients.count, sessions: store.count,
            lanes: lanes.map {
                ServerStatus.Lane(name: $0.name, queued: $0.queuedCount, running: $0.runningCount, capacity: $0.capacity)
            },
            served: metrics.served, failed: metrics.failed, cancelled: metrics.cancelled,
            latencyMilliseconds: .init(p50: latency.p50, p90: latency.p90, p99: latency.p99, max: latency.max),
            residentMemoryBytes: ServerMetrics.residentMemoryBytes, processId: Int(getpid()), connectionsAccepted: nextConnectionID)
    }

    func catalogGet(_ request: CatalogGet.Request) -> Handling {
        let unknown = catalog.unknownItems(request.itemIds)
        guard unknown.isEmpty else { return .failure(LLMRecError.itemNotFound(unknown)) }
        return .success(CatalogGet.Response(items: request.itemIds.compactMap { catalog[$0].map(CatalogEntry.init) }))
    }

    func catalogSearch(_ request: CatalogSearch.Request, _ incoming: IncomingRequest) -> Handling {
        let models = self.models
        let catalog = self.catalog
        return submitToLane(Self.catalogLane, request: incoming) { _ in
            .success(CatalogSearch.Response(
                items: models.search(request.query, in: catalog, limit: request.limit).map {
                    CatalogSearch.Match(item: CatalogEntry($0.item), score: $0.score)
                }))
        }
    }

    func sessionOpen(_ request: SessionOpen.Request, _ incoming: IncomingRequest) throws -> Handling {
        let unknown = catalog.unknownItems(request.history)
        guard unknown.isEmpty else { return .failure(LLMRecError.itemNotFound(unknown)) }
        let now = Date().timeIntervalSince1970
        // A named session may exist (here or, with a shared store, elsewhere); a generated id is new
        // (and the shared store's create refuses one that is not).
        if let named = request.sessionId { try prepareSession(named, at: now) }
        let id = request.sessionId ?? Self.newSessionID()
        let evicted = try store.open(id: id, history: request.history, at: now)
        let session = try store.get(id: id, at: now)
        let result = SessionOpen.Response(sessionId: id, historyLength: session.history.count)
        if let shared {
            shared.sessions.forgetAll(evicted)
            let created: Bool
            do { created = try shared.sessions.create(session) } catch {
                try? store.close(id: id)
                throw error
            }
            guard created else {
                try? store.close(id: id)
                throw SessionError.alreadyExists(id: id)
            }
            return .success(result)
        }
        guard let journal else { return .success(result) }
        var sequence = journal.recordOpen(session)
        for victim in evicted { sequence = journal.recordClose(id: victim) }
        journal.compactIfLarge(store)
        return answerWhenDurable(
            sequence, outcome: .success(result), undo: { [unowned self] in try? self.store.close(id: id) }, request: incoming)
    }

    func sessionObserve(_ request: SessionObserve.Request, _ incoming: IncomingRequest) throws -> Handling {
        let unknown = catalog.unknownItems(request.events.map(\.itemId))
        guard unknown.isEmpty else { return .failure(LLMRecError.itemNotFound(unknown)) }
        let now = Date().timeIntervalSince1970
        try prepareSession(request.sessionId, at: now, changing: true)
        let before = try store.get(id: request.sessionId, at: now)
        let events = request.events.map(SessionEvent.init)
        let session = try store.observe(id: request.sessionId, events: events, at: now)
        let result = SessionObserve.Response(session)
        if let shared {
            return answerWhenShared(
                [SessionRecords.observe(request.sessionId, events, at: now)], before: before, outcome: .success(result),
                rebuiltOutcome: { [unowned self] in
                    guard let session = try? self.store.get(id: request.sessionId, at: now) else { return .success(result) }
                    return .success(SessionObserve.Response(session))
                }, using: shared, request: incoming)
        }
        guard let journal else { return .success(result) }
        let sequence = journal.recordObserve(id: request.sessionId, events: events, at: now)
        journal.compactIfLarge(store)
        return answerWhenDurable(
            sequence, outcome: .success(result), undo: { [unowned self] in self.store.restore(before) }, request: incoming)
    }

    func sessionRecommend(_ request: SessionRecommend.Request, _ incoming: IncomingRequest) throws -> Handling {
        let now = Date().timeIntervalSince1970
        try prepareSession(request.sessionId, at: now)
        let session = try store.get(id: request.sessionId, at: now)
        if let candidates = request.candidates {
            let unknown = catalog.unknownItems(candidates)
            guard unknown.isEmpty else { return .failure(LLMRecError.itemNotFound(unknown)) }
        }
        var excluded = request.exclude + session.rejected
        if request.excludeSeen { excluded += session.history }
        if usesBlendedRanking(request, session: session) {
            return blendedRecommend(request, session: session, excluded: excluded, incoming: incoming)
        }
        let engine = self.engine
        let history = session.history.filter(catalog.isPrepared)
        let catalog = dataset.catalog
        return submitToLane(Self.modelLane, request: incoming) { [excluded] context -> Result<SessionRecommend.Response, ResponseError> in
            guard !context.isCancelled else { return .failure(.requestCancelled) }
            do throws(EngineError) {
                let ranked = try engine.recommend(
                    history: history, k: request.k, candidates: request.candidates, excluded: excluded)
                return .success(SessionRecommend.Response(
                    sessionId: request.sessionId, recommender: engine.recommender.name,
                    items: ranked.map {
                        SessionMessage.RankedItem(itemId: $0.itemId, title: catalog[$0.itemId]?.title ?? "", score: $0.score)
                    }))
            } catch {
                return .failure(LLMRecError.itemNotFound(error.unknownIDs))
            }
        }
    }

    func sessionGet(_ request: SessionGet.Request) throws -> SessionGet.Response {
        let now = Date().timeIntervalSince1970
        try prepareSession(request.sessionId, at: now)
        return SessionGet.Response(try store.get(id: request.sessionId, at: now))
    }

    func sessionClose(_ request: SessionClose.Request, _ incoming: IncomingRequest) throws -> Handling {
        let id = request.sessionId
        let now = Date().timeIntervalSince1970
        try prepareSession(id, at: now)
        let session = try store.get(id: id, at: now)
        let result = SessionClose.Response(sessionId: id)
        if let shared {
            guard try shared.sessions.delete(id, in: &store) else { throw SessionError.notFound(id: id) }
            models.dropChatCache(session: id)
            return .success(result)
        }
        try store.close(id: id)
        models.dropChatCache(session: id)
        guard let journal else { return .success(result) }
        return answerWhenDurable(
            journal.recordClose(id: id), outcome: .success(result), undo: { [unowned self] in self.store.restore(session) },
            request: incoming)
    }

    /// Readies session `id` for a request. With the local journal: removes (and journals the end
    /// of) a session idle past its time-to-live, so that expiry takes effect on use and not only at
    /// the next sweep. With a shared store: brings the cached copy up to date with Redis (which
    /// expires sessions itself); throws `RedisError` when Redis cannot be reached.
    /// A request that only appends to the session (`changing`) skips the read when the session is
    /// cached: its append returns what other daemons added meanwhile. Any other request throws
    /// `SessionRead` unless its session was read in this turn of the loop: the request is then
    /// handled again once the reads of every such request are done, in one pipelined round trip.
    func prepareSession(_ id: String, at now: Double, changing: Bool = false) throws {
        if let shared {
            if shared.sessions.hasQueuedChanges(id) {
                // The cached copy shows the queued changes; anything but one more change sends them first.
                if changing { return }
                flushQueuedSharedChanges()
            }
            if store.expireIfIdle(id: id, at: now) { shared.sessions.forgetAll([id]) }
            guard shared.sessions.isCached(id) else {
                if absentSessions.contains(id) { return }
                if freshSessions.contains(id) {
                    // Read in this turn, then evicted by another read of the same turn: read again.
                    try shared.sessions.refresh(id, in: &store)
                    return
                }
                throw SessionRead(id: id)
            }
            if changing || freshSessions.contains(id) { return }
            throw SessionRead(id: id)
        }
        guard store.expireIfIdle(id: id, at: now) else { return }
        journal?.recordClose(id: id)
    }

    /// Queues a change already made to the cached session for the shared store and answers
    /// `outcome` once Redis has taken it (after the next flush, which sends every change queued in
    /// this turn of the loop in one round trip); when Redis cannot take it the cached session goes
    /// back and the answer is the error. When other daemons' changes came first, the session is
    /// rebuilt in Redis's order and the answer is `rebuiltOutcome()`.
    func answerWhenShared(
        _ records: [JSONValue], before: Session, outcome: MethodOutcome,
        rebuiltOutcome: @escaping () -> MethodOutcome, using shared: SharedStore, request: IncomingRequest
    ) -> Handling {
        let client = request.client
        client.unacknowledged += 1
        let scheduled = shared.sessions.queue(records, to: before.id, before: before) { [unowned self, weak client] flushed in
            guard let client else { return }
            client.unacknowledged -= 1
            let answer: MethodOutcome = switch flushed {
            case .stored: outcome
            case .rebuilt: rebuiltOutcome()
            case .failed(let error): .failure(self.sharedFailure(error))
            }
            self.reply(to: request, answer)
            self.afterRequestFinished(of: client)
        }
        if scheduled { mailbox.post(.flushSharedChanges) }
        return .deferred
    }

    /// Sends the queued shared-store changes and answers their requests.
    func flushQueuedSharedChanges() {
        guard let shared else { return }
        for (completion, outcome) in shared.sessions.flush(in: &store) { completion(outcome) }
    }

    /// The end of a turn of the loop with a shared store: sends the queued changes, then reads the
    /// sessions of the requests that wait for them (one round trip for all) and handles those
    /// requests again.
    func flushSharedChanges() {
        flushQueuedSharedChanges()
        guard let shared, !awaitingSessionReads.isEmpty else { return }
        let waiting = awaitingSessionReads
        awaitingSessionReads = []
        var ids: [String] = []
        var seen = Set<String>()
        for waiter in waiting where seen.insert(waiter.sessionId).inserted { ids.append(waiter.sessionId) }
        do { absentSessions = try shared.sessions.refresh(ids, in: &store) } catch {
            for waiter in waiting { waiter.resume(shared.unavailable(error)) }
            return
        }
        freshSessions = seen
        defer {
            freshSessions = []
            absentSessions = []
        }
        for waiter in waiting { waiter.resume(nil) }
    }

    /// The answer for a change the shared store did not take.
    func sharedFailure(_ error: Error) -> ResponseError {
        switch error {
        case let error as RedisError: return shared?.unavailable(error) ?? .internalError("\(error)")
        case SessionError.notFound(let id): return LLMRecError.sessionNotFound(id)
        default: return .internalError("cannot store the change: \(error)")
        }
    }

    /// Stores a change already made to the cached session in the shared store; when Redis cannot
    /// take it, the cached session goes back to `before` and the error is rethrown.
    func persistShared(_ records: [JSONValue], before: Session, using shared: SharedStore) throws {
        do { try shared.sessions.append(records, to: before.id, before: before, in: &store) } catch let error as RedisError {
            store.restore(before)
            throw error
        }
    }

    /// A random session id: "s-" and 16 hex digits.
    static func newSessionID() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return "s-" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension EngineError {
    var unknownIDs: [Int32] {
        switch self {
        case .unknownItems(let ids): return ids
        }
    }
}
