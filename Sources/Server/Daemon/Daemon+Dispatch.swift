import Foundation
import JSON
import JSONRPC
import LLMRecProtocol
import Recommender
import RedisClient
import RPCTransport

extension Daemon {
    /// What a method handler decided: an answer now, or work handed to a lane (answered later).
    enum Handling {
        case answer(MethodOutcome)
        case deferred

        /// An answer now: `result`.
        static func success(_ result: some WireCodable) -> Handling { .answer(.success(result)) }

        /// An answer now: `error`.
        static func failure(_ error: ResponseError) -> Handling { .answer(.failure(error)) }
    }

    func handle(_ message: IncomingMessage, from client: ClientState, batch: BatchReply?, receivedAt: UInt64) {
        lastActivity = receivedAt
        switch message {
        case .invalid(let id, let error):
            batch?.expectResponse()
            reply(to: client, id: id, .failure(error), batch: batch, receivedAt: receivedAt)
        case .response:
            return
        case .notification(let method, let params):
            handleNotification(method, params: params, from: client)
        case .request(let id, let method, let params):
            batch?.expectResponse()
            let request = IncomingRequest(id: id, method: method, params: params, client: client, batch: batch, receivedAt: receivedAt)
            if case .answer(let outcome) = route(request) { reply(to: request, outcome) }
        }
    }

    private func handleNotification(_ method: String, params: JSONValue?, from client: ClientState) {
        switch method {
        case Lifecycle.exit:
            // Reading stops; requests already in flight are answered, then the connection closes
            // (and in stdio mode the process ends).
            if client.isStdio && !draining {
                exitStatus = client.shutdownRequested ? 0 : 1
            }
            client.connection.stopReceiving()
            client.closingAfterInFlight = true
            if client.isIdle { client.connection.closeWhenFlushed() }
        case Lifecycle.cancelRequest:
            guard client.initialized, let raw = params?["id"], let id = RequestID(json: raw),
                let ticket = client.tickets.removeValue(forKey: id), let request = pending.removeValue(forKey: ticket)
            else { return }
            request.cancellation.cancel()
            if let token = request.progressToken {
                send(OutgoingMessage.notification(
                    method: Lifecycle.progress, params: Lifecycle.progressParams(token: token, kind: "end")), to: client)
            }
            reply(to: client, id: id, .failure(.requestCancelled), batch: request.batch, receivedAt: request.receivedAt)
            afterRequestFinished(of: client)
        default:
            return  // `initialized` and unknown notifications need no answer.
        }
    }

    /// Checks the connection's state, finds the method in `registry` and runs its handler; maps
    /// the errors handlers throw to their answers.
    /// - Parameters:
    ///   - retried: this is the second try of a request whose cached session turned out to be stale
    ///     (shared store); it is not tried a third time.
    ///   - resumed: the request was accepted earlier and waited for its session's read (a `shutdown`
    ///     that came after it does not refuse it).
    private func route(_ request: IncomingRequest, retried: Bool = false, resumed: Bool = false) -> Handling {
        let client = request.client
        if client.shutdownRequested && !resumed { return .failure(LLMRecError.shuttingDown) }
        let entry = Self.handlers[request.method]
        if entry?.beforeInitialize != true {
            guard client.initialized else { return .failure(.serverNotInitialized) }
            if client.tickets[request.id] != nil {
                return .failure(.invalidRequest("request id \(request.id) is already in flight on this connection"))
            }
        }
        guard let entry else { return .failure(.methodNotFound(request.method)) }
        do {
            return try entry.handle(self, request)
        } catch let error as InvalidParams {
            return .failure(error.responseError)
        } catch let error as SessionError {
            switch error {
            case .notFound(let id): return .failure(LLMRecError.sessionNotFound(id))
            case .alreadyExists(let id):
                return .failure(InvalidParams(field: "sessionId", message: "session '\(id)' already exists").responseError)
            }
        } catch let read as SessionRead {
            client.unacknowledged += 1
            if awaitingSessionReads.isEmpty { mailbox.post(.flushSharedChanges) }
            awaitingSessionReads.append(SessionReadWaiter(sessionId: read.id) { [unowned self, weak client] failure in
                guard let client else { return }
                client.unacknowledged -= 1
                let handling = failure.map { Handling.failure($0) } ?? self.route(request, retried: retried, resumed: true)
                if case .answer(let outcome) = handling { self.reply(to: request, outcome) }
                self.afterRequestFinished(of: client)
            })
            return .deferred
        } catch let stale as SharedSessions.StaleCache {
            guard retried else { return route(request, retried: true, resumed: resumed) }
            return .failure(.internalError("session '\(stale.id)' changed under two tries; retry"))
        } catch let error as RedisError {
            return .failure(shared?.unavailable(error) ?? .internalError("internal error: \(error)"))
        } catch let error as SharedCatalogError {
            return .failure(InvalidParams(field: "items", message: error.description).responseError)
        } catch {
            return .failure(.internalError("internal error: \(error)"))
        }
    }

    /// Answers `request` (see `reply(to:id:_:batch:receivedAt:)`).
    func reply(to request: IncomingRequest, _ outcome: MethodOutcome) {
        reply(to: request.client, id: request.id, outcome, batch: request.batch, receivedAt: request.receivedAt)
    }

    /// Sends a response (or adds it to its batch) and records its latency. The result is written
    /// to JSON here, once.
    func reply(
        to client: ClientState, id: RequestID?, _ outcome: MethodOutcome, batch: BatchReply?, receivedAt: UInt64
    ) {
        let message: JSONValue
        let recorded: ServerMetrics.Outcome
        switch outcome {
        case .success(let result):
            message = OutgoingMessage.response(id: id, result: result.json)
            recorded = .success
        case .failure(let error):
            message = OutgoingMessage.error(id: id, error)
            recorded = error.code == ResponseError.requestCancelledCode ? .cancelled : .failure
        }
        metrics.record(milliseconds: milliseconds(since: receivedAt), outcome: recorded)
        if let batch { batch.add(message) } else { send(message, to: client) }
    }

    /// Hands `job` to a lane and answers its result; `-32003` at once when the lane is full. See
    /// `submitToLane(_:request:durable:finish:job:)`.
    func submitToLane<Response: WireCodable>(
        _ laneIndex: Int, request: IncomingRequest,
        durable: (journal: JournalKind, sequence: UInt64, undo: () -> Void)? = nil,
        job: @escaping @Sendable (LaneJobContext) -> Result<Response, ResponseError>
    ) -> Handling {
        submitToLane(laneIndex, request: request, durable: durable, finish: { $0 }, job: job)
    }

    /// Hands `job` to a lane; answers `-32003` at once when the lane is full. `finish` runs on the
    /// loop thread with the job's output and makes the answer (a model swap or the conversation's
    /// bookkeeping happens there); it does not run for a cancelled request. With `durable`, the
    /// request also waits for that journal record: the answer goes once both are done, and when
    /// the record fails, `durable.undo` runs, the job is cancelled and the answer is `-32603`.
    /// Progress is reported under the request's `progressToken`, if any.
    func submitToLane<Output: Sendable, Response: WireCodable>(
        _ laneIndex: Int, request: IncomingRequest,
        durable: (journal: JournalKind, sequence: UInt64, undo: () -> Void)? = nil,
        finish: @escaping (Result<Output, ResponseError>) -> Result<Response, ResponseError>,
        job: @escaping @Sendable (LaneJobContext) -> Result<Output, ResponseError>
    ) -> Handling {
        let (client, id) = (request.client, request.id)
        let lane = lanes[laneIndex]
        nextTicket += 1
        let ticket = nextTicket
        let cancellation = CancellationFlag()
        let mailbox = self.mailbox!
        let poster = LoopMailboxPoster { event in mailbox.post(event) }
        let submitted = lane.submit(ticket: ticket, cancellation: cancellation, mailbox: poster) { context in
            job(context).map { $0 as any Sendable }
        }
        guard submitted else { return .failure(LLMRecError.overloaded(lane: lane.name, capacity: lane.capacity)) }
        if let progressToken = request.progressToken {
            send(OutgoingMessage.notification(
                method: Lifecycle.progress,
                params: Lifecycle.progressParams(token: progressToken, kind: "begin", title: lane.name)), to: client)
        }
        let answer: (LaneOutcome) -> MethodOutcome = { outcome in
            let typed = outcome.flatMap { output -> Result<Output, ResponseError> in
                guard let output = output as? Output else { return .failure(.internalError("internal error: a lane's job returned \(type(of: output))")) }
                return .success(output)
            }
            return finish(typed).map { $0 as any WireCodable }
        }
        pending[ticket] = PendingRequest(
            connectionID: client.connection.id, requestID: id, receivedAt: request.receivedAt, batch: request.batch,
            cancellation: cancellation, progressToken: request.progressToken, finish: answer, awaitingDurability: durable != nil)
        client.tickets[id] = ticket
        if let durable {
            durability[durable.journal, default: DurabilityWaiters()].add(.init(sequence: durable.sequence, undo: durable.undo) {
                [unowned self] error in
                self.durabilityResolved(ticket: ticket, error: error)
            })
        }
        return .deferred
    }

    /// The journal record of lane request `ticket` is durable (`error` nil) or failed.
    private func durabilityResolved(ticket: Int, error: JournalError?) {
        guard var request = pending[ticket] else { return }
        request.awaitingDurability = false
        if let error {
            request.persistenceFailure = .internalError("cannot persist the change: \(error)")
            request.cancellation.cancel()
        }
        pending[ticket] = request
        if let held = request.held { answer(ticket: ticket, held) }
    }

    /// Something a lane posted (loop thread, through the mailbox).
    func receive(_ event: LaneEvent) {
        switch event {
        case .completed(let completion): complete(completion)
        case .journaled(let outcome): journaled(outcome)
        case .flushSharedChanges: flushSharedChanges()
        case .notification(let ticket, let method, let params):
            guard let request = pending[ticket], let client = clients[request.connectionID] else { return }
            send(OutgoingMessage.notification(method: method, params: params), to: client)
        }
    }

    /// A lane finished a job.
    private func complete(_ completion: LaneCompletion) {
        lanes[completion.lane].completed()
        guard var request = pending[completion.ticket] else { return }
        guard !request.awaitingDurability else {
            request.held = completion.outcome
            pending[completion.ticket] = request
            return
        }
        answer(ticket: completion.ticket, completion.outcome)
    }

    /// Answers lane request `ticket` with its job's `outcome` (after `finish`, unless its journal
    /// record failed).
    private func answer(ticket: Int, _ outcome: LaneOutcome) {
        guard let request = pending.removeValue(forKey: ticket) else { return }
        guard let client = clients[request.connectionID] else { return }
        client.tickets[request.requestID] = nil
        if let token = request.progressToken {
            send(OutgoingMessage.notification(
                method: Lifecycle.progress, params: Lifecycle.progressParams(token: token, kind: "end", percentage: 100)),
                to: client)
        }
        let answered: MethodOutcome = request.persistenceFailure.map { .failure($0) } ?? request.finish(outcome)
        reply(to: client, id: request.requestID, answered, batch: request.batch, receivedAt: request.receivedAt)
        afterRequestFinished(of: client)
    }

    /// Answers a waiting `shutdown` and closes connections that were only waiting for their last request.
    func afterRequestFinished(of client: ClientState) {
        if client.isIdle, let shutdown = client.deferredShutdown {
            client.deferredShutdown = nil
            reply(to: client, id: shutdown.id, .success(NullResponse()), batch: shutdown.batch, receivedAt: shutdown.receivedAt)
        }
        if client.closingAfterInFlight && client.isIdle {
            client.connection.closeWhenFlushed()
        }
        if draining { closeDrainedClients() }
    }
}
