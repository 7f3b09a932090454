import Foundation
import JSON
import JSONRPC
import LLMRecProtocol
import Recommender
import RedisClient

extension Daemon {
    /// What a method handler decided: an answer now, or work handed to a lane (answered later).
    enum Handling {
        case answer(Result<JSONValue, ResponseError>)
        case deferred
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
        if client.shutdownRequested && !resumed { return .answer(.failure(LLMRecError.shuttingDown)) }
        let entry = Self.handlers[request.method]
        if entry?.beforeInitialize != true {
            guard client.initialized else { return .answer(.failure(.serverNotInitialized)) }
            if client.tickets[request.id] != nil {
                return .answer(.failure(.invalidRequest("request id \(request.id) is already in flight on this connection")))
            }
        }
        guard let entry else { return .answer(.failure(.methodNotFound(request.method))) }
        do {
            return try entry.handle(self, request)
        } catch let error as InvalidParams {
            return .answer(.failure(error.responseError))
        } catch let error as SessionError {
            switch error {
            case .notFound(let id): return .answer(.failure(LLMRecError.sessionNotFound(id)))
            case .alreadyExists(let id):
                return .answer(.failure(InvalidParams(field: "sessionId", message: "session '\(id)' already exists").responseError))
            }
        } catch let read as SessionRead {
            client.unacknowledged += 1
            if awaitingSessionReads.isEmpty { mailbox.post(.flushSharedChanges) }
            awaitingSessionReads.append(SessionReadWaiter(sessionId: read.id) { [unowned self, weak client] failure in
                guard let client else { return }
                client.unacknowledged -= 1
                let handling = failure.map { Handling.answer($0) } ?? self.route(request, retried: retried, resumed: true)
                if case .answer(let outcome) = handling { self.reply(to: request, outcome) }
                self.afterRequestFinished(of: client)
            })
            return .deferred
        } catch let stale as SharedSessions.StaleCache {
            guard retried else { return route(request, retried: true, resumed: resumed) }
            return .answer(.failure(.internalError("session '\(stale.id)' changed under two tries; retry")))
        } catch let error as RedisError {
            return .answer(.failure(shared?.unavailable(error) ?? .internalError("internal error: \(error)")))
        } catch let error as SharedCatalogError {
            return .answer(.failure(InvalidParams(field: "items", message: error.description).responseError))
        } catch {
            return .answer(.failure(.internalError("internal error: \(error)")))
        }
    }

    /// Answers `request` (see `reply(to:id:_:batch:receivedAt:)`).
    func reply(to request: IncomingRequest, _ outcome: Result<JSONValue, ResponseError>) {
        reply(to: request.client, id: request.id, outcome, batch: request.batch, receivedAt: request.receivedAt)
    }

    /// Sends a response (or adds it to its batch) and records its latency.
    func reply(
        to client: ClientState, id: RequestID?, _ outcome: Result<JSONValue, ResponseError>, batch: BatchReply?,
        receivedAt: UInt64
    ) {
        let message: JSONValue
        let recorded: ServerMetrics.Outcome
        switch outcome {
        case .success(let result):
            message = OutgoingMessage.response(id: id, result: result)
            recorded = .success
        case .failure(let error):
            message = OutgoingMessage.error(id: id, error)
            recorded = error.code == ResponseError.requestCancelledCode ? .cancelled : .failure
        }
        metrics.record(milliseconds: milliseconds(since: receivedAt), outcome: recorded)
        if let batch { batch.add(message) } else { send(message, to: client) }
    }

    /// Hands `job` to a lane; answers `-32003` at once when the lane is full. `finish`, when given,
    /// runs on the loop thread with the job's outcome before the reply and may replace it (a model
    /// swap happens there); it does not run for a cancelled request. With `durable`, the request
    /// also waits for that journal record: the answer goes once both are done, and when the
    /// record fails, `durable.undo` runs, the job is cancelled and the answer is `-32603`.
    func submitToLane(
        _ laneIndex: Int, request: IncomingRequest, progressToken: JSONValue?,
        durable: (journal: JournalKind, sequence: UInt64, undo: () -> Void)? = nil,
        finish: ((Result<JSONValue, ResponseError>) -> Result<JSONValue, ResponseError>)? = nil,
        job: @escaping @Sendable (LaneJobContext) -> Result<JSONValue, ResponseError>
    ) -> Handling {
        let (client, id) = (request.client, request.id)
        let lane = lanes[laneIndex]
        nextTicket += 1
        let ticket = nextTicket
        let cancellation = CancellationFlag()
        let mailbox = self.mailbox!
        let poster = LoopMailboxPoster { event in mailbox.post(event) }
        guard lane.submit(ticket: ticket, cancellation: cancellation, mailbox: poster, job: job) else {
            return .answer(.failure(LLMRecError.overloaded(lane: lane.name, capacity: lane.capacity)))
        }
        if let progressToken {
            send(OutgoingMessage.notification(
                method: Lifecycle.progress,
                params: Lifecycle.progressParams(token: progressToken, kind: "begin", title: lane.name)), to: client)
        }
        pending[ticket] = PendingRequest(
            connectionID: client.connection.id, requestID: id, receivedAt: request.receivedAt, batch: request.batch,
            cancellation: cancellation, progressToken: progressToken, finish: finish, awaitingDurability: durable != nil)
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
    private func answer(ticket: Int, _ outcome: Result<JSONValue, ResponseError>) {
        guard let request = pending.removeValue(forKey: ticket) else { return }
        guard let client = clients[request.connectionID] else { return }
        client.tickets[request.requestID] = nil
        if let token = request.progressToken {
            send(OutgoingMessage.notification(
                method: Lifecycle.progress, params: Lifecycle.progressParams(token: token, kind: "end", percentage: 100)),
                to: client)
        }
        let outcome = request.persistenceFailure.map { .failure($0) } ?? request.finish.map { $0(outcome) } ?? outcome
        reply(to: client, id: request.requestID, outcome, batch: request.batch, receivedAt: request.receivedAt)
        afterRequestFinished(of: client)
    }

    /// Answers a waiting `shutdown` and closes connections that were only waiting for their last request.
    func afterRequestFinished(of client: ClientState) {
        if client.isIdle, let shutdown = client.deferredShutdown {
            client.deferredShutdown = nil
            reply(to: client, id: shutdown.id, .success(.null), batch: shutdown.batch, receivedAt: shutdown.receivedAt)
        }
        if client.closingAfterInFlight && client.isIdle {
            client.connection.closeWhenFlushed()
        }
        if draining { closeDrainedClients() }
    }
}

extension Daemon.Handling {
    /// Runs `action` when this is a successful answer.
    func afterSuccess(_ action: () -> Void) -> Daemon.Handling {
        if case .answer(.success) = self { action() }
        return self
    }
}
