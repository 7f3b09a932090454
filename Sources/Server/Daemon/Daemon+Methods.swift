import Datasets
import Foundation
import JSON
import JSONRPC
import LLMRecProtocol
import Recommender
import RedisClient

/// The method handlers. Cheap ones answer on the loop thread; `catalog/search` and
/// `session/recommend` run on lanes.
extension Daemon {
    func initialize(_ params: JSONValue?) -> Result<JSONValue, ResponseError> {
        do { _ = try Initialize.Params(params) } catch { return .failure(error.responseError) }
        return .success(Initialize.Result(
            serverVersion: Self.version, methods: Self.methods, datasetFingerprint: dataset.fingerprint,
            catalogSize: catalog.count, users: dataset.userCount, recommender: engine.recommender.name,
            encoder: engine.semanticSearch.map { $0.encoder.fingerprint },
            limits: configuration.limits.json
        ).json)
    }

    func status() -> JSONValue {
        ServerStatus.Result(
            uptimeSeconds: Double(DispatchTime.now().uptimeNanoseconds - startedAt) / 1e9,
            connections: clients.count, sessions: store.count,
            lanes: lanes.map {
                ServerStatus.Lane(name: $0.name, queued: $0.queuedCount, running: $0.runningCount, capacity: $0.capacity)
            },
            served: metrics.served, failed: metrics.failed, cancelled: metrics.cancelled,
            latencyMilliseconds: metrics.percentiles, residentMemoryBytes: ServerMetrics.residentMemoryBytes,
            processId: Int(getpid()), connectionsAccepted: nextConnectionID
        ).json
    }

    func catalogGet(_ params: JSONValue?) throws -> Result<JSONValue, ResponseError> {
        let ids = try CatalogGet.Params(params).itemIds
        let unknown = catalog.unknownItems(ids)
        guard unknown.isEmpty else { return .failure(LLMRecError.itemNotFound(unknown)) }
        return .success(CatalogGet.result(ids.compactMap { catalog[$0] }))
    }

    func catalogSearch(_ request: IncomingRequest) throws -> Handling {
        let parsed = try CatalogSearchMethod.Params(request.params)
        let models = self.models
        let catalog = self.catalog
        return submitToLane(
            Self.catalogLane, request: request, progressToken: nil
        ) { _ in
            .success(CatalogSearchMethod.result(models.search(parsed.query, in: catalog, limit: parsed.limit)))
        }
    }

    func sessionOpen(_ request: IncomingRequest) throws -> Handling {
        let parsed = try SessionOpen.Params(request.params, maxHistory: configuration.limits.maxHistory)
        let unknown = catalog.unknownItems(parsed.history)
        guard unknown.isEmpty else { return .answer(.failure(LLMRecError.itemNotFound(unknown))) }
        let now = Date().timeIntervalSince1970
        // A named session may exist (here or, with a shared store, elsewhere); a generated id is new
        // (and the shared store's create refuses one that is not).
        if let named = parsed.sessionId { try prepareSession(named, at: now) }
        let id = parsed.sessionId ?? Self.newSessionID()
        let evicted = try store.open(id: id, history: parsed.history, at: now)
        let session = try store.get(id: id, at: now)
        let result = SessionOpen.result(sessionId: id, historyLength: session.history.count)
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
            return .answer(.success(result))
        }
        guard let journal else { return .answer(.success(result)) }
        var sequence = journal.recordOpen(session)
        for victim in evicted { sequence = journal.recordClose(id: victim) }
        journal.compactIfLarge(store)
        return answerWhenDurable(
            sequence, outcome: .success(result), undo: { [unowned self] in try? self.store.close(id: id) }, request: request)
    }

    func sessionObserve(_ request: IncomingRequest) throws -> Handling {
        let parsed = try SessionObserve.Params(request.params, maxEvents: configuration.limits.maxEventsPerObserve)
        let unknown = catalog.unknownItems(parsed.events.map(\.itemId))
        guard unknown.isEmpty else { return .answer(.failure(LLMRecError.itemNotFound(unknown))) }
        let now = Date().timeIntervalSince1970
        try prepareSession(parsed.sessionId, at: now, changing: true)
        let before = try store.get(id: parsed.sessionId, at: now)
        let events = parsed.events.map { SessionEvent(itemId: $0.itemId, kind: InteractionKind(rawValue: $0.kind)!) }
        let session = try store.observe(id: parsed.sessionId, events: events, at: now)
        let result = SessionObserve.result(
            sessionId: session.id, historyLength: session.history.count, rejectedCount: session.rejected.count)
        if let shared {
            return answerWhenShared(
                [SessionRecords.observe(parsed.sessionId, events, at: now)], before: before, outcome: .success(result),
                rebuiltOutcome: { [unowned self] in
                    guard let session = try? self.store.get(id: parsed.sessionId, at: now) else { return .success(result) }
                    return .success(SessionObserve.result(
                        sessionId: session.id, historyLength: session.history.count, rejectedCount: session.rejected.count))
                }, using: shared, request: request)
        }
        guard let journal else { return .answer(.success(result)) }
        let sequence = journal.recordObserve(id: parsed.sessionId, events: events, at: now)
        journal.compactIfLarge(store)
        return answerWhenDurable(
            sequence, outcome: .success(result), undo: { [unowned self] in self.store.restore(before) }, request: request)
    }

    func sessionRecommend(_ request: IncomingRequest) throws -> Handling {
        let parsed = try SessionRecommend.Params(
            request.params, maxK: configuration.limits.maxK, maxCandidates: configuration.limits.maxCandidates)
        let now = Date().timeIntervalSince1970
        try prepareSession(parsed.sessionId, at: now)
        let session = try store.get(id: parsed.sessionId, at: now)
        if let candidates = parsed.candidates {
            let unknown = catalog.unknownItems(candidates)
            guard unknown.isEmpty else { return .answer(.failure(LLMRecError.itemNotFound(unknown))) }
        }
        var excluded = parsed.exclude + session.rejected
        if parsed.excludeSeen { excluded += session.history }
        if usesBlendedRanking(parsed, session: session) {
            return blendedRecommend(parsed, session: session, excluded: excluded, request: request)
        }
        let engine = self.engine
        let history = session.history.filter(catalog.isPrepared)
        let catalog = dataset.catalog
        return submitToLane(
            Self.modelLane, request: request, progressToken: parsed.workDoneToken
        ) { [excluded] context in
            guard !context.isCancelled else { return .failure(.requestCancelled) }
            do throws(EngineError) {
                let ranked = try engine.recommend(
                    history: history, k: parsed.k, candidates: parsed.candidates, excluded: excluded)
                return .success(SessionRecommend.result(
                    sessionId: parsed.sessionId, recommender: engine.recommender.name,
                    items: ranked.map {
                        SessionRecommend.Recommendation(itemId: $0.itemId, score: $0.score, title: catalog[$0.itemId]?.title ?? "")
                    }))
            } catch {
                return .failure(LLMRecError.itemNotFound(error.unknownIDs))
            }
        }
    }

    func sessionGet(_ params: JSONValue?) throws -> Result<JSONValue, ResponseError> {
        let id = try SessionGet.Params(params).sessionId
        let now = Date().timeIntervalSince1970
        try prepareSession(id, at: now)
        let session = try store.get(id: id, at: now)
        return .success(SessionGet.result(
            sessionId: session.id, history: session.history,
            events: session.events.map { ($0.itemId, $0.kind.rawValue) }, rejected: session.rejected.sorted(),
            createdAt: session.createdAt, updatedAt: session.updatedAt))
    }

    func sessionClose(_ request: IncomingRequest) throws -> Handling {
        let id = try SessionGet.Params(request.params).sessionId
        let now = Date().timeIntervalSince1970
        try prepareSession(id, at: now)
        let session = try store.get(id: id, at: now)
        if let shared {
            guard try shared.sessions.delete(id, in: &store) else { throw SessionError.notFound(id: id) }
            models.dropChatCache(session: id)
            return .answer(.success(SessionClose.result(sessionId: id)))
        }
        try store.close(id: id)
        models.dropChatCache(session: id)
        guard let journal else { return .answer(.success(SessionClose.result(sessionId: id))) }
        return answerWhenDurable(
            journal.recordClose(id: id), outcome: .success(SessionClose.result(sessionId: id)),
            undo: { [unowned self] in self.store.restore(session) }, request: request)
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
        _ records: [JSONValue], before: Session, outcome: Result<JSONValue, ResponseError>,
        rebuiltOutcome: @escaping () -> Result<JSONValue, ResponseError>, using shared: SharedStore, request: IncomingRequest
    ) -> Handling {
        let client = request.client
        client.unacknowledged += 1
        let scheduled = shared.sessions.queue(records, to: before.id, before: before) { [unowned self, weak client] flushed in
            guard let client else { return }
            client.unacknowledged -= 1
            let answer: Result<JSONValue, ResponseError> = switch flushed {
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
            for waiter in waiting { waiter.resume(.failure(shared.unavailable(error))) }
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
