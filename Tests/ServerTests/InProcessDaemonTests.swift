import Foundation
import JSON
import JSONRPC
import LLMRecProtocol
import RPCClient
import Server
import Synchronization
import Testing

/// A daemon in the test's own process: `Daemon.run()` on its own thread, listening on a socket,
/// talked to with typed requests through `RPCClient`. It ends by itself once no client has done
/// anything for `idleSeconds`.
final class InProcessDaemon: Sendable {
    let socketPath = "/tmp/llmrec-inproc-\(UUID().uuidString.prefix(12)).sock"
    private let exit = ExitStatus()

    /// The daemon's exit status once `run` returned, shared with its thread.
    private final class ExitStatus: Sendable {
        let value = Mutex<Int32?>(nil)
    }

    init(dataset: String, idleSeconds: Double = 1.5) throws {
        let configuration = DaemonConfiguration(
            transport: .socket(path: socketPath), datasetDirectory: dataset, idleExitSeconds: idleSeconds)
        let exit = self.exit
        Thread.detachNewThread {
            let status: Int32
            do { status = try Daemon(configuration: configuration).run() } catch { status = -1 }
            exit.value.withLock { $0 = status }
        }
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: socketPath), Date() < deadline, exit.value.withLock({ $0 == nil }) {
            usleep(10_000)
        }
        try #require(FileManager.default.fileExists(atPath: socketPath), "the daemon did not create its socket")
    }

    /// A client past `initialize`, and what the daemon announced.
    func connect() throws -> (RPCClient, Initialize.Response) {
        let client = try RPCClient(socketPath: socketPath)
        return (client, try client.initialize(clientName: "in-process-tests"))
    }

    /// Waits for the daemon to end by itself; its exit status (nil if it still runs after `seconds`).
    func waitForExit(seconds: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while exit.value.withLock({ $0 == nil }), Date() < deadline { usleep(20_000) }
        return exit.value.withLock { $0 }
    }
}

/// The Server in process: typed requests and typed responses, no binary spawned (the binary-level
/// suites beside this one keep checking the wire).
@Suite(.serialized) struct InProcessDaemonTests {
    @Test func aSessionGoesFromOpenToCloseThroughTypedRequests() throws {
        let daemon = try InProcessDaemon(dataset: try DaemonHarness.prepareFixtureDataset())
        let (client, announced) = try daemon.connect()
        #expect(announced.methods.first == Initialize.Request.method)
        #expect(announced.methods.contains(SessionMessage.Request.method))
        #expect(announced.limits == ProtocolLimits())
        #expect(announced.recommender == "cooccurrence")

        let opened = try client.send(SessionOpen.Request(history: [1, 2], sessionId: "typed"))
        #expect(opened == SessionOpen.Response(sessionId: "typed", historyLength: 2))
        let observed = try client.send(SessionObserve.Request(
            sessionId: "typed", events: [.init(itemId: 4, kind: .bought), .init(itemId: 3, kind: .rejected)]))
        #expect(observed == SessionObserve.Response(sessionId: "typed", historyLength: 3, rejectedCount: 1))

        let recommended = try client.send(SessionRecommend.Request(sessionId: "typed", k: 5))
        #expect(recommended.sessionId == "typed")
        #expect(!recommended.items.isEmpty)
        #expect(recommended.items.allSatisfy { ![1, 2, 3, 4].contains($0.itemId) && $0.detail == nil }, "seen and rejected items stay out")

        let state = try client.send(SessionGet.Request(sessionId: "typed"))
        #expect(state.history == [1, 2, 4])
        #expect(state.rejected == [3])
        #expect(state.events.map(\.kind) == [.viewed, .viewed, .bought, .rejected])

        #expect(try client.send(SessionClose.Request(sessionId: "typed")) == SessionClose.Response(sessionId: "typed"))
        do {
            _ = try client.send(SessionGet.Request(sessionId: "typed"))
            Issue.record("a closed session was found")
        } catch RPCClientError.response(let error) {
            #expect(error.code == LLMRecError.sessionNotFoundCode)
        }
        client.close()
        #expect(daemon.waitForExit() == 0, "the daemon ends by itself once idle")
    }

    @Test func catalogAndStatusAnswerAsTheirTypes() throws {
        let daemon = try InProcessDaemon(dataset: try DaemonHarness.prepareFixtureDataset())
        let (client, announced) = try daemon.connect()
        let items = try client.send(CatalogGet.Request(itemIds: [2, 1])).items
        #expect(items.map(\.itemId) == [2, 1])
        #expect(items.allSatisfy { !$0.title.isEmpty && !$0.originalId.isEmpty })

        let found = try client.send(CatalogSearch.Request(query: items[0].title, limit: 3)).items
        #expect(found.first?.item == items[0], "an item's own title finds it first")

        do {
            _ = try client.send(CatalogGet.Request(itemIds: [Int32(announced.catalogSize) + 1]))
            Issue.record("an unknown item was returned")
        } catch RPCClientError.response(let error) {
            #expect(error.code == LLMRecError.itemNotFoundCode)
            #expect(error.data == ["itemIds": [.integer(announced.catalogSize + 1)]])
        }

        let status = try client.send(ServerStatus.Request())
        #expect(status.lanes.map(\.name) == ["model", "catalog", "loading"])
        #expect(status.connections == 1)
        #expect(status.processId == Int(getpid()), "the daemon runs in this process")
        let models = try client.send(ModelStatus.Request())
        #expect(models.recommender.name == "cooccurrence")
        #expect(models.capabilities == ["collaborative"])
        #expect(models.catalogSize == announced.catalogSize)
        client.close()
        #expect(daemon.waitForExit() == 0)
    }
}
