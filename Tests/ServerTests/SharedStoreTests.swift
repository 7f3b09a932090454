import Foundation
import JSON
import RedisClient
import RedisTestSupport
import Testing

/// Several real daemons on one real Redis (`serve --store`): sessions and added items are shared,
/// nothing acknowledged is lost to a killed daemon or a restarted Redis, and an unreachable Redis
/// is a clear error the daemons recover from.
@Suite(.serialized) struct SharedStoreTests {
    private static func errorCode(_ message: JSONValue?) -> Int64? { message?["error"]?["code"]?.intValue }

    private static func eventItems(_ answer: JSONValue?) -> [Int64]? {
        answer?["result"]?["events"]?.arrayValue?.compactMap { $0["itemId"]?.intValue }
    }

    /// `count` daemons on `redis`, each on its own socket, with `arguments` added.
    private static func daemons(_ count: Int, redis: RedisServer, dataset: String, arguments: [String] = []) throws -> [DaemonHarness] {
        try (0..<count).map { _ in try DaemonHarness(socket: true, dataset: dataset, extraArguments: ["--store", redis.url] + arguments) }
    }

    private static func connect(_ daemon: DaemonHarness) throws -> FramedChannel {
        let channel = try daemon.connect()
        channel.initialize()
        return channel
    }

    @Test func aSessionOpenedOnOneDaemonContinuesOnTheOthers() throws {
        let redis = try RedisServer()
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let daemons = try Self.daemons(3, redis: redis, dataset: dataset)
        let (a, b, c) = (try Self.connect(daemons[0]), try Self.connect(daemons[1]), try Self.connect(daemons[2]))
        a.request(2, "session/open", ["sessionId": "s", "history": [1, 2]])
        #expect(a.response(to: 2).response?["result"]?["historyLength"] == 2)
        b.request(3, "session/observe", ["sessionId": "s", "events": [["itemId": 3, "kind": "viewed"], ["itemId": 4, "kind": "rejected"]]])
        #expect(b.response(to: 3).response?["result"]?["historyLength"] == 3)
        c.request(4, "session/get", ["sessionId": "s"])
        let seen = c.response(to: 4).response
        #expect(seen?["result"]?["history"] == [1, 2, 3])
        #expect(seen?["result"]?["rejected"] == [4])
        a.request(5, "session/recommend", ["sessionId": "s", "k": 5])
        let ids = a.response(to: 5).response?["result"]?["items"]?.arrayValue?.compactMap { $0["itemId"]?.intValue } ?? []
        #expect(ids == [5], "seen and rejected items stay out on the daemon that did not see them happen: \(ids)")
        b.request(6, "session/open", ["sessionId": "s"])
        #expect(Self.errorCode(b.response(to: 6).response) == -32602, "an id open on another daemon is taken")
        c.request(7, "session/close", ["sessionId": "s"])
        #expect(c.response(to: 7).response?["result"] != nil)
        for (index, channel) in [a, b].enumerated() {
            channel.request(8 + index, "session/get", ["sessionId": "s"])
            #expect(Self.errorCode(channel.response(to: 8 + index).response) == -32010, "closed on one daemon is closed on all")
        }
        a.request(40, "session/open", ["history": [3]])
        let generated = a.response(to: 40).response?["result"]?["sessionId"]
        #expect(generated?.stringValue?.hasPrefix("s-") == true)
        c.request(41, "session/get", ["sessionId": generated ?? .null])
        #expect(c.response(to: 41).response?["result"]?["history"] == [3], "a generated id is shared too")
        // Requests that arrive together are handled in order: the reads wait for one round trip.
        #expect(ConversationDaemonTests.writeTogether([
            ConversationDaemonTests.request(30, "session/open", ["sessionId": "together", "history": [1]]),
            ConversationDaemonTests.request(31, "session/observe", ["sessionId": "together", "events": [["itemId": 2, "kind": "viewed"]]]),
            ConversationDaemonTests.request(32, "session/get", ["sessionId": "together"]),
            ConversationDaemonTests.request(33, "session/recommend", ["sessionId": "together", "k": 5]),
            ConversationDaemonTests.request(34, "session/close", ["sessionId": "together"]),
            ConversationDaemonTests.request(35, "session/get", ["sessionId": "together"]),
        ], to: b))
        var answers: [Int64: JSONValue] = [:]
        while answers.count < 6, let message = b.receive() { if let id = message["id"]?.intValue { answers[id] = message } }
        #expect(answers[31]?["result"]?["historyLength"] == 2)
        #expect(answers[32]?["result"]?["history"] == [1, 2])
        #expect(answers[33]?["result"]?["items"]?.arrayValue?.contains { $0["itemId"] == 2 || $0["itemId"] == 1 } == false)
        #expect(answers[34]?["result"] != nil)
        #expect(Self.errorCode(answers[35]) == -32010)
        // Closed and opened again elsewhere while a daemon still caches the first one: a change on
        // that daemon goes to the session that exists now.
        a.request(20, "session/open", ["sessionId": "again", "history": [1]])
        _ = a.response(to: 20)
        a.request(21, "session/observe", ["sessionId": "again", "events": [["itemId": 2, "kind": "viewed"]]])
        #expect(a.response(to: 21).response?["result"]?["historyLength"] == 2)
        b.request(22, "session/close", ["sessionId": "again"])
        _ = b.response(to: 22)
        b.request(23, "session/open", ["sessionId": "again", "history": [5]])
        _ = b.response(to: 23)
        a.request(24, "session/observe", ["sessionId": "again", "events": [["itemId": 3, "kind": "viewed"]]])
        #expect(a.response(to: 24).response?["result"]?["historyLength"] == 2)
        c.request(25, "session/get", ["sessionId": "again"])
        #expect(c.response(to: 25).response?["result"]?["history"] == [5, 3])
        a.request(26, "session/get", ["sessionId": "again"])
        #expect(a.response(to: 26).response?["result"]?["history"] == [5, 3])
    }

    @Test func concurrentObservesOfOneSessionThroughTwoDaemonsLoseNothing() throws {
        let redis = try RedisServer()
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let daemons = try Self.daemons(2, redis: redis, dataset: dataset)
        let opener = try Self.connect(daemons[0])
        opener.request(2, "session/open", ["sessionId": "shared"])
        #expect(opener.response(to: 2).response?["result"] != nil)
        let clientsPerDaemon = 4
        let perClient = 60
        let channels = try daemons.flatMap { daemon in try (0..<clientsPerDaemon).map { _ in try Self.connect(daemon) } }
        // Each client's events carry its own item pattern: items 1-5, with the kind telling clients apart.
        var sent: [[Int64]] = []
        for (index, channel) in channels.enumerated() {
            var order: [Int64] = []
            for step in 0..<perClient {
                let item = Int64((index + step) % 5 + 1)
                order.append(item)
                channel.request(100 + step, "session/observe", ["sessionId": "shared", "events": [["itemId": .integer(item), "kind": "viewed"]]])
            }
            sent.append(order)
        }
        for channel in channels {
            for step in 0..<perClient { #expect(channel.response(to: 100 + step, timeout: 30).response?["result"] != nil) }
        }
        for (index, daemon) in daemons.enumerated() {
            let channel = try Self.connect(daemon)
            channel.request(3, "session/get", ["sessionId": "shared"])
            let events = Self.eventItems(channel.response(to: 3).response) ?? []
            #expect(events.count == channels.count * perClient, "daemon \(index): every acknowledged event is there, once")
            var counts: [Int64: Int] = [:]
            for item in events { counts[item, default: 0] += 1 }
            var expected: [Int64: Int] = [:]
            for item in sent.joined() { expected[item, default: 0] += 1 }
            #expect(counts == expected)
        }
        let raw = try RedisConnection(endpoint: redis.endpoint).command(["LLEN", "llmrec:session:shared"]).integer
        #expect(raw == Int64(1 + channels.count * perClient), "one record per observe in Redis, after the open")
    }

    @Test func anItemAddedOnOneDaemonIsFoundAndRecommendedByTheOthers() throws {
        try #require(FileManager.default.fileExists(atPath: SemanticSearchTests.minilm + "/model.safetensors"), "run scripts/fetch-assets.sh minilm")
        let redis = try RedisServer()
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let daemons = try Self.daemons(3, redis: redis, dataset: dataset, arguments: ["--encoder", SemanticSearchTests.minilm])
        let channels = try daemons.map(Self.connect)
        // Every daemon adds at once: ids never collide, and each daemon ends with the same catalog.
        for (index, channel) in channels.enumerated() {
            channel.request(2, "catalog/add", ["items": [["title": .string("Shared Item \(index)"), "originalId": .string("shared-\(index)")]]])
        }
        var given: [Int64] = []
        for channel in channels {
            let result = channel.response(to: 2, timeout: 60).response?["result"]
            given += result?["items"]?.arrayValue?.compactMap { $0["itemId"]?.intValue } ?? []
        }
        #expect(given.sorted() == [6, 7, 8], "three additions, three distinct ids after the 5 prepared items: \(given)")
        channels[1].request(3, "catalog/add", ["items": [["title": "Again", "originalId": "shared-0"]]])
        #expect(Self.errorCode(channels[1].response(to: 3, timeout: 60).response) == -32602, "an originalId taken on another daemon")

        channels[0].request(4, "catalog/add", [
            "items": [["title": "Lavender Night Cream", "description": "A rich cream for dry skin.", "metadata": ["categories": ["Beauty", "Skin Care"]]]]
        ])
        let added = channels[0].response(to: 4, timeout: 60).response?["result"]?["items"]?.arrayValue?.first?["itemId"]?.intValue
        #expect(added == 9)
        for (index, channel) in channels.enumerated().dropFirst() {
            var found = false
            let deadline = Date().addingTimeInterval(10)
            var attempt = 10
            while !found && Date() < deadline {
                attempt += 1
                channel.request(attempt, "catalog/get", ["itemIds": [9]])
                found = channel.response(to: attempt).response?["result"]?["items"]?.arrayValue?.first?["title"] == "Lavender Night Cream"
                if !found { usleep(5_000) }
            }
            #expect(found, "daemon \(index) knows the item added on daemon 0")
            channel.request(90, "catalog/search", ["query": "lavender cream for the night", "limit": 2])
            let hits = channel.response(to: 90, timeout: 60).response?["result"]?["items"]?.arrayValue ?? []
            #expect(hits.first?["item"]?["itemId"] == 9, "daemon \(index) finds it by meaning: \(hits)")
            channel.request(91, "session/open", ["sessionId": .string("s\(index)"), "history": [1]])
            _ = channel.response(to: 91)
            channel.request(92, "session/recommend", ["sessionId": .string("s\(index)"), "k": 10, "query": "a lavender night cream"])
            let ids = channel.response(to: 92, timeout: 60).response?["result"]?["items"]?.arrayValue?.compactMap { $0["itemId"]?.intValue } ?? []
            #expect(ids.first == 9, "daemon \(index) recommends it: \(ids)")
        }
        // A daemon started later applies every addition at start.
        let lateDaemon = try DaemonHarness(socket: true, dataset: dataset, extraArguments: ["--store", redis.url, "--encoder", SemanticSearchTests.minilm])
        let late = try Self.connect(lateDaemon)
        late.request(2, "catalog/get", ["itemIds": [6, 7, 8, 9]])
        #expect(late.response(to: 2).response?["result"]?["items"]?.arrayValue?.count == 4)
        // Redis that lost its data (here: emptied) would give ids already given: additions are refused.
        try RedisConnection(endpoint: redis.endpoint).command(["FLUSHALL"])
        late.request(3, "catalog/add", ["items": [["title": "After the loss"]]])
        #expect(Self.errorCode(late.response(to: 3, timeout: 60).response) == -32014)
    }

    @Test func useOnAnyDaemonKeepsASessionAliveAndEachDaemonCachesAtMostItsCap() throws {
        let redis = try RedisServer()
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let daemons = try Self.daemons(2, redis: redis, dataset: dataset, arguments: ["--session-ttl", "2", "--max-sessions", "2"])
        let (a, b) = (try Self.connect(daemons[0]), try Self.connect(daemons[1]))
        for index in 0..<5 {
            a.request(10 + index, "session/open", ["sessionId": .string("t\(index)"), "history": [.integer(Int64(index + 1))]])
            #expect(a.response(to: 10 + index).response?["result"] != nil)
        }
        for index in 0..<5 {
            b.request(20 + index, "session/get", ["sessionId": .string("t\(index)")])
            #expect(b.response(to: 20 + index).response?["result"]?["history"] == .array([.integer(Int64(index + 1))]))
        }
        b.request(30, "server/status")
        #expect((b.response(to: 30).response?["result"]?["sessions"]?.intValue ?? 99) <= 2, "the cache holds at most --max-sessions")
        usleep(1_200_000)
        b.request(31, "session/get", ["sessionId": "t0"])
        #expect(b.response(to: 31).response?["result"] != nil)
        usleep(1_200_000)
        a.request(32, "session/get", ["sessionId": "t0"])
        #expect(a.response(to: 32).response?["result"] != nil, "read on the other daemon 1.2 s ago: still alive after 2.4 s")
        a.request(33, "session/get", ["sessionId": "t1"])
        #expect(Self.errorCode(a.response(to: 33).response) == -32010, "idle for 2.4 s on every daemon: expired")
    }

    @Test func updatesAcknowledgedBeforeADaemonIsKilledSurvive() throws {
        let redis = try RedisServer()
        let dataset = try DaemonHarness.prepareFixtureDataset()
        var sent: [Int64] = []
        var acknowledged = 0
        do {
            let daemon = try DaemonHarness(socket: true, dataset: dataset, extraArguments: ["--store", redis.url])
            let channel = try Self.connect(daemon)
            channel.request(2, "session/open", ["sessionId": "k"])
            _ = channel.response(to: 2)
            for step in 0..<400 {
                let item = Int64(step % 5 + 1)
                sent.append(item)
                channel.request(100 + step, "session/observe", ["sessionId": "k", "events": [["itemId": .integer(item), "kind": "viewed"]]])
            }
            for step in 0..<200 where channel.response(to: 100 + step).response?["result"] != nil { acknowledged += 1 }
            kill(daemon.process.processIdentifier, SIGKILL)
            _ = daemon.waitForExit()
        }
        #expect(acknowledged == 200)
        let otherDaemon = try DaemonHarness(socket: true, dataset: dataset, extraArguments: ["--store", redis.url])
        let other = try Self.connect(otherDaemon)
        other.request(2, "session/get", ["sessionId": "k"])
        let events = Self.eventItems(other.response(to: 2).response) ?? []
        #expect(events.count >= acknowledged, "every acknowledged event survives the daemon")
        #expect(events == Array(sent.prefix(events.count)), "in order, nothing else")
    }

    @Test func aRestartedRedisKeepsWhatWasAcknowledgedAndAnUnreachableOneIsAClearError() throws {
        let redis = try RedisServer()
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let daemons = try Self.daemons(2, redis: redis, dataset: dataset)
        let (a, b) = (try Self.connect(daemons[0]), try Self.connect(daemons[1]))
        a.request(2, "session/open", ["sessionId": "r", "history": [1]])
        _ = a.response(to: 2)
        for step in 0..<50 {
            a.request(100 + step, "session/observe", ["sessionId": "r", "events": [["itemId": .integer(Int64(step % 5 + 1)), "kind": "viewed"]]])
        }
        for step in 0..<50 { #expect(a.response(to: 100 + step).response?["result"] != nil) }
        redis.kill()

        b.request(3, "session/observe", ["sessionId": "r", "events": [["itemId": 2, "kind": "viewed"]]])
        let refused = b.response(to: 3).response
        #expect(Self.errorCode(refused) == -32014, "\(String(describing: refused))")
        #expect(refused?["error"]?["data"]?["store"] == .string(redis.url))
        a.request(4, "session/open", ["sessionId": "new"])
        #expect(Self.errorCode(a.response(to: 4).response) == -32014)
        a.request(5, "server/status")
        #expect(a.response(to: 5).response?["result"] != nil, "the daemon serves on without its store")

        try redis.start()
        b.request(6, "session/get", ["sessionId": "r"])
        let events = Self.eventItems(b.response(to: 6).response) ?? []
        #expect(events.count == 51, "the open's history and all 50 acknowledged observes survive Redis's crash")
        b.request(7, "session/observe", ["sessionId": "r", "events": [["itemId": 2, "kind": "viewed"]]])
        #expect(b.response(to: 7).response?["result"]?["historyLength"] == 52, "the refused observe was not kept; the daemon recovered")
        a.request(8, "session/open", ["sessionId": "new"])
        #expect(a.response(to: 8).response?["result"] != nil)
    }

    @Test func aDaemonRefusesARedisDatabaseThatServesAnotherDataset() throws {
        let redis = try RedisServer()
        let first = try DaemonHarness.prepareFixtureDataset()
        _ = try DaemonHarness(socket: true, dataset: first, extraArguments: ["--store", redis.url])
        let other = try DaemonHarness.prepareFixtureDataset()
        guard case .object(var manifest) = try JSONValue.parse(String(contentsOfFile: other + "/dataset.json", encoding: .utf8)) else {
            Issue.record("dataset.json is not an object")
            return
        }
        manifest["fingerprint"] = "another-dataset"
        try JSONWriter.compact(.object(manifest)).write(toFile: other + "/dataset.json", atomically: true, encoding: .utf8)
        let refused = try runLLMRec(["serve", "--socket", "/tmp/llmrec-refused-\(getpid()).sock", "--data", other, "--store", redis.url])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("holds the live items of dataset"), "\(refused.standardError)")
        let unreachable = try runLLMRec(["serve", "--socket", "/tmp/llmrec-refused-\(getpid()).sock", "--data", first, "--store", "redis://127.0.0.1:1"])
        #expect(unreachable.status != 0)
        #expect(unreachable.standardError.contains("Redis is unreachable"), "\(unreachable.standardError)")
        let both = try runLLMRec(["serve", "--stdio", "--data", first, "--store", redis.url, "--state", NSTemporaryDirectory()])
        #expect(both.status != 0 && both.standardError.contains("choose one"))
    }
}
