import Datasets
import Foundation
import JSON
import JSONRPC
import LLMRecProtocol
import Logging
import Models
import Recommender
import RedisClient
import RPCTransport

/// Errors starting the daemon (after start, nothing a client sends can stop it).
public enum DaemonError: Error, Sendable, CustomStringConvertible {
    case cannotLoad(String)

    public var description: String {
        switch self {
        case .cannotLoad(let reason): return reason
        }
    }
}

/// The long-lived daemon: libuv I/O on the calling thread, model work on serial lanes, sessions with
/// TTL, LRU cap and an fsync'd journal. Protocol/spec.md is its contract.
///
/// Everything here runs on the loop thread (the thread that called `run`), except the jobs handed
/// to lanes, which capture only Sendable values and come back through `mailbox`.
public final class Daemon {
    let configuration: DaemonConfiguration
    /// The models in use; `model/load` swaps them (loop thread), jobs keep the set they started with.
    var models: ConversationModels
    /// The prepared catalog plus items added at run time (shared with jobs; thread-safe).
    let catalog: LiveCatalog
    let dataset: PreparedDataset
    var store: SessionStore
    let journal: SessionJournal?
    let catalogJournal: CatalogJournal?
    /// Sessions and added items in Redis, shared with other daemons (`--store`), instead of the
    /// journals.
    let shared: SharedStore?
    /// Requests waiting for their journal records to be durable, per journal.
    var durability: [JournalKind: DurabilityWaiters] = [.sessions: DurabilityWaiters(), .catalog: DurabilityWaiters()]
    let journalOutcomes = JournalOutcomeRelay()
    /// Loads completed since start, and how long the current models took.
    var modelGeneration = 0
    var modelLoadSeconds: Double
    /// The latest load submitted; it is in progress while the loading lane has work, whether or not
    /// its request was cancelled meanwhile.
    var latestLoad: (request: ModelSetRequest, startedAt: UInt64)?

    let loop: EventLoop
    var mailbox: LoopMailbox<LaneEvent>!
    var stdinMailbox: LoopMailbox<StdinChunk>?
    var signals: SignalWatcher?
    var sweepTimer: RepeatingTimer?
    var listener: SocketListener?
    let lanes: [WorkLane]

    var clients: [Int: ClientState] = [:]
    /// The most clients connected at once since memory was last returned to the system.
    var peakClients = 0
    /// Set after a large message or a burst of closed connections: within a second (once their
    /// replies are written) the heap's free pages go back to the system.
    var memoryToReturn = false
    var memoryTimer: RepeatingTimer?
    /// When the last connection came or went or the last request arrived (uptime nanoseconds).
    var lastActivity = DispatchTime.now().uptimeNanoseconds
    var idleTimer: RepeatingTimer?
    var pending: [Int: PendingRequest] = [:]
    /// With a shared store: requests waiting for their session to be read at the end of this turn
    /// of the loop (`flushSharedChanges`), in arrival order.
    var awaitingSessionReads: [SessionReadWaiter] = []
    /// Sessions read from the shared store in this turn of the loop, while the requests that waited
    /// for them are handled again.
    var freshSessions: Set<String> = []
    /// Of those, the ones Redis did not have.
    var absentSessions: Set<String> = []
    var nextTicket = 0
    var nextConnectionID = 0
    var metrics = ServerMetrics()
    let startedAt = DispatchTime.now().uptimeNanoseconds
    var draining = false
    var finished = false
    var exitStatus: Int32 = 0

    static let modelLane = 0
    static let catalogLane = 1
    /// `model/load` runs here, so the model lane keeps serving with the current models meanwhile.
    static let loadingLane = 2
    static let version = "0.1.0"

    /// Loads the dataset, fits the recommender on every interaction and replays the session journal.
    public init(configuration: DaemonConfiguration) throws {
        self.configuration = configuration
        do { dataset = try PreparedDataset(directory: configuration.datasetDirectory) } catch {
            throw DaemonError.cannotLoad("\(error)")
        }
        let loadStarted = DispatchTime.now().uptimeNanoseconds
        do {
            models = try ModelSetLoader.load(
                ModelSetRequest(
                    recommender: configuration.recommender, bundle: configuration.bundleDirectory,
                    languageModel: configuration.languageModelPath, encoder: configuration.encoderDirectory),
                dataset: dataset, configuration: configuration)
        } catch {
            throw DaemonError.cannotLoad("\(error)")
        }
        modelLoadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStarted) / 1e9
        catalog = LiveCatalog(base: dataset.catalog)
        var store = SessionStore(
            maxSessions: configuration.limits.maxSessions, timeToLive: configuration.limits.sessionTimeToLiveSeconds)
        if let endpoint = configuration.sharedStore {
            let opened = try SharedStore.open(
                endpoint, catalog: catalog, datasetFingerprint: dataset.fingerprint,
                timeToLiveSeconds: configuration.limits.sessionTimeToLiveSeconds)
            shared = opened.store
            if opened.skippedEntries > 0 { log(.warning, "shared catalog: skipped \(opened.skippedEntries) unreadable stream entries") }
        } else {
            shared = nil
        }
        if let directory = configuration.stateDirectory, shared == nil {
            let relay = journalOutcomes
            let opened = try SessionJournal.open(directory: directory, into: &store, now: Date().timeIntervalSince1970) {
                relay.report($0)
            }
            journal = opened.journal
            if opened.skippedLines > 0 {
                log(.warning, "session journal: skipped \(opened.skippedLines) unreadable line(s) in \(opened.journal.path)")
            }
            let catalogOpened = try CatalogJournal.open(directory: directory, into: catalog) { relay.report($0) }
            catalogJournal = catalogOpened.journal
            if catalogOpened.skippedLines > 0 {
                log(.warning, "catalog journal: skipped \(catalogOpened.skippedLines) unreadable line(s) in \(catalogOpened.journal.path)")
            }
        } else {
            journal = nil
            catalogJournal = nil
        }
        self.store = store
        let capacity = configuration.limits.maxQueuedPerLane
        lanes = [
            WorkLane(name: "model", index: Self.modelLane, capacity: capacity),
            WorkLane(name: "catalog", index: Self.catalogLane, capacity: capacity),
            WorkLane(name: "loading", index: Self.loadingLane, capacity: 1),
        ]
        loop = try EventLoop()
    }

    /// Serves until `exit` (stdio), end of input (stdio), or SIGTERM/SIGINT; returns the exit status.
    public func run() throws -> Int32 {
        let mailbox = try LoopMailbox<LaneEvent>(loop: loop) { [unowned self] event in self.receive(event) }
        self.mailbox = mailbox
        journalOutcomes.connect { mailbox.post($0) }
        shared?.catalog.startFollowing { log(.warning, $0) }
        signals = try SignalWatcher(loop: loop, signals: [SIGTERM, SIGINT]) { [unowned self] _ in self.beginDraining() }
        let sweepMilliseconds = UInt64(min(60, max(1, configuration.limits.sessionTimeToLiveSeconds / 2)) * 1000)
        sweepTimer = try RepeatingTimer(loop: loop, intervalMilliseconds: sweepMilliseconds) { [unowned self] in
            self.expireSessions()
        }
        memoryTimer = try RepeatingTimer(loop: loop, intervalMilliseconds: 1000) { [unowned self] in
            guard self.memoryToReturn else { return }
            self.memoryToReturn = false
            ServerMetrics.returnFreedMemory()
        }
        switch configuration.transport {
        case .stdio:
            let opened = try StdioTransport.open(
                loop: loop, id: nextConnectionID, maxMessageBytes: configuration.limits.maxMessageBytes,
                maxPendingWriteBytes: configuration.limits.maxPendingWriteBytes)
            stdinMailbox = opened.inputMailbox
            adopt(opened.connection, isStdio: true)
        case .socket(let path):
            listener = try SocketListener(loop: loop, path: path) { [unowned self] stream in self.accept(stream) }
            log("listening on \(path) (\(catalog.count) items, recommender \(engine.recommender.name)\(storeDescription))")
        case .inheritedSocket(let descriptor):
            listener = try SocketListener(loop: loop, inheritedDescriptor: descriptor) { [unowned self] stream in self.accept(stream) }
            log("listening on the inherited socket \(descriptor) (\(catalog.count) items, recommender \(engine.recommender.name)\(storeDescription))")
        }
        if let idle = configuration.idleExitSeconds, configuration.transport != .stdio {
            let interval = UInt64(max(0.05, min(5, idle / 4)) * 1000)
            idleTimer = try RepeatingTimer(loop: loop, intervalMilliseconds: interval) { [unowned self] in self.exitIfIdle(after: idle) }
        }
        loop.run()
        loop.close()
        return exitStatus
    }

    private func accept(_ stream: AcceptedStream) {
        nextConnectionID += 1
        do {
            let connection = try Connection.accepted(
                stream, id: nextConnectionID, maxMessageBytes: configuration.limits.maxMessageBytes,
                maxPendingWriteBytes: configuration.limits.maxPendingWriteBytes)
            adopt(connection, isStdio: false)
        } catch {
            log(.error, "cannot start reading a new connection: \(error)")
        }
    }

    private func adopt(_ connection: Connection, isStdio: Bool) {
        lastActivity = DispatchTime.now().uptimeNanoseconds
        connection.delegate = self
        clients[connection.id] = ClientState(connection: connection, isStdio: isStdio)
        peakClients = max(peakClients, clients.count)
        if draining { connection.stopReceiving() }
    }

    /// Where sessions are kept, for the start-up log line.
    private var storeDescription: String {
        if let shared { return ", sessions and added items in \(shared.endpoint)" }
        return journal.map { ", sessions journaled in \(($0.path as NSString).deletingLastPathComponent)" } ?? ", sessions in memory"
    }

    /// The collaborative engine of the models in use.
    var engine: RecommendationEngine { models.engine }

    // MARK: Lifecycle of the whole daemon

    /// SIGTERM/SIGINT: accept nothing new, finish in-flight requests, write their replies, stop.
    func beginDraining() {
        guard !draining else { return }
        draining = true
        exitStatus = 0
        listener?.close()
        listener = nil
        for client in clients.values { client.connection.stopReceiving() }
        closeDrainedClients()
    }

    /// While draining: closes every client with no request in flight, and stops when none is left.
    func closeDrainedClients() {
        guard draining else { return }
        for client in clients.values where client.isIdle {
            client.connection.closeWhenFlushed()
        }
        if clients.isEmpty { finish() }
    }

    /// Closes the daemon's own handles so that the loop ends.
    func finish() {
        guard !finished else { return }
        finished = true
        flushSharedChanges()
        journal?.writer.stop()
        catalogJournal?.writer.stop()
        shared?.catalog.stop()
        listener?.close()
        signals?.close()
        sweepTimer?.close()
        memoryTimer?.close()
        idleTimer?.close()
        mailbox?.close()
        stdinMailbox?.close()
        loop.stop()
    }

    /// Exits as on SIGTERM when nothing happened for `seconds`: no connection open, no request in
    /// flight, no journal record waiting (sessions are journaled, so the next daemon has them).
    private func exitIfIdle(after seconds: Double) {
        guard !draining, clients.isEmpty, pending.isEmpty, durability.values.allSatisfy(\.isEmpty), shared?.sessions.hasQueuedChanges != true,
            awaitingSessionReads.isEmpty,
            lanes.allSatisfy({ $0.outstanding == 0 })
        else { return }
        guard Double(DispatchTime.now().uptimeNanoseconds - lastActivity) / 1e9 >= seconds else { return }
        log("idle for \(Int(seconds)) s with no connection: exiting")
        beginDraining()
    }

    /// Removes sessions idle past their time-to-live. With a shared store only the cached copies go:
    /// Redis expires the sessions themselves, counting every daemon's use.
    private func expireSessions() {
        let expired = store.expire(at: Date().timeIntervalSince1970)
        if let shared {
            shared.sessions.forgetAll(expired)
            return
        }
        for id in expired { journal?.recordClose(id: id) }
    }
}

/// One connected client and its lifecycle state. Loop thread only.
final class ClientState {
    let connection: Connection
    let isStdio: Bool
    var initialized = false
    var shutdownRequested = false
    /// No more input will be read (exit, or end of stdin): close once in-flight requests are answered.
    var closingAfterInFlight = false
    /// A `shutdown` request waiting for this client's in-flight work to finish.
    var deferredShutdown: (id: RequestID, batch: BatchReply?, receivedAt: UInt64)?
    /// In-flight lane work of this client, by request id.
    var tickets: [RequestID: Int] = [:]
    /// Requests whose change is made and whose journal record is not yet durable.
    var unacknowledged = 0

    /// Whether nothing of this client's is in flight or waiting for the journal.
    var isIdle: Bool { tickets.isEmpty && unacknowledged == 0 }

    init(connection: Connection, isStdio: Bool) {
        self.connection = connection
        self.isStdio = isStdio
    }
}

/// A request handed to a lane and not yet answered. Loop thread only.
struct PendingRequest {
    var connectionID: Int
    var requestID: RequestID
    var receivedAt: UInt64
    var batch: BatchReply?
    var cancellation: CancellationFlag
    var progressToken: JSONValue?
    /// Makes the answer from the job's outcome, on the loop thread (`submitToLane`).
    var finish: (LaneOutcome) -> MethodOutcome
    /// The request's journal record is not yet durable: a finished job's outcome waits in `held`.
    var awaitingDurability = false
    var held: LaneOutcome?
    /// The request's journal record failed: this is the answer, whatever the job returns.
    var persistenceFailure: ResponseError?
}

/// A request whose session must be read from the shared store before it is handled.
struct SessionRead: Error {
    var id: String
}

/// A request waiting for its session's read; `resume` handles it again (nil), or answers the error.
struct SessionReadWaiter {
    var sessionId: String
    var resume: (ResponseError?) -> Void
}

/// Collects the responses of one batch and sends them as one array when the last one is in.
final class BatchReply {
    private(set) var responses: [JSONValue] = []
    private var expected = 0
    private var sealed = false
    private let send: ([JSONValue]) -> Void

    init(send: @escaping ([JSONValue]) -> Void) { self.send = send }

    func expectResponse() { expected += 1 }

    func add(_ response: JSONValue) {
        responses.append(response)
        flushIfComplete()
    }

    /// Called after every element of the batch was dispatched.
    func seal() {
        sealed = true
        flushIfComplete()
    }

    private func flushIfComplete() {
        guard sealed, responses.count == expected, expected > 0 else { return }
        send(responses)
        expected = 0
    }
}

/// The daemon's log: one line per event, with a timestamp and a level, on stderr (the handler and
/// the level are chosen by the executable, `LoggingSystem.bootstrap`).
let daemonLogger = Logger(label: "llmrec serve")

/// Logs `message` at `level`.
func log(_ level: Logger.Level, _ message: String) {
    daemonLogger.log(level: level, "\(message)")
}

/// Logs `message` at info level.
func log(_ message: String) { log(.info, message) }
