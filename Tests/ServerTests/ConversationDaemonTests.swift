import Foundation
import JSON
import Testing

/// The conversational methods over the real daemon (stdio) on the Amazon 2023 fixture catalog,
/// with the real all-MiniLM-L6-v2 and SmolLM2-135M-Instruct: streaming, cancellation, and what
/// survives a restart with `--state`.
@Suite struct ConversationDaemonTests {
    static var smollm2: String {
        URL(fileURLWithPath: SemanticSearchTests.minilm).deletingLastPathComponent().path + "/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    static func requireAssets() throws {
        try #require(FileManager.default.fileExists(atPath: SemanticSearchTests.minilm + "/model.safetensors"), "run scripts/fetch-assets.sh minilm")
        try #require(FileManager.default.fileExists(atPath: smollm2), "run scripts/fetch-assets.sh smollm2")
    }

    @Test func theAnswerStreamsBeforeTheReplyInOrder() throws {
        try Self.requireAssets()
        let daemon = try DaemonHarness(extraArguments: ["--encoder", SemanticSearchTests.minilm, "--lm", Self.smollm2])
        let channel = daemon.channel
        channel.initialize()
        channel.request(2, "session/open", ["sessionId": "s", "history": [1]])
        _ = channel.response(to: 2)
        channel.request(3, "session/message", ["sessionId": "s", "text": "a gentle cleanser for dry skin", "k": 3])
        let (response, others) = channel.response(to: 3, timeout: 60)
        let result = try #require(response?["result"])
        let deltas = others.filter { $0["method"] == "session/answerDelta" }
        #expect(!deltas.isEmpty)
        #expect(deltas.allSatisfy { $0["params"]?["requestId"] == 3 && $0["params"]?["sessionId"] == "s" })
        #expect(deltas.map { $0["params"]?["index"]?.intValue ?? -1 } == (0..<Int64(deltas.count)).map { $0 })
        let streamed = deltas.compactMap { $0["params"]?["text"]?.stringValue }.joined()
        #expect(streamed.trimmingCharacters(in: .whitespacesAndNewlines) == result["answer"]?["text"]?.stringValue)
        #expect(result["items"]?.arrayValue?.first?["title"]?.stringValue == "Gentle Cleanser 200 ml")

        // The second turn reuses the session's cached conversation.
        channel.request(4, "session/message", ["sessionId": "s", "text": "something that smells nice", "k": 3, "stream": false])
        let second = try #require(channel.response(to: 4, timeout: 60).response?["result"])
        #expect((second["answer"]?["reusedTokens"]?.intValue ?? 0) > 0)

        // An explanation reads the conversation but leaves its cache as it was: the next turn
        // reuses what the second turn's prompt ran, but for the few tokens where the rebuilt turn
        // reads differently (the end of its opening, now followed by the rest of the answer).
        channel.request(5, "session/recommend", ["sessionId": "s", "k": 3, "explain": true])
        let explained = try #require(channel.response(to: 5, timeout: 60).response?["result"])
        let top = try #require(explained["items"]?.arrayValue?.first?["title"]?.stringValue)
        #expect(explained["explanation"]?["text"]?.stringValue?.contains(top) == true)
        channel.request(6, "session/message", ["sessionId": "s", "text": "a gift", "k": 3, "stream": false])
        let third = try #require(channel.response(to: 6, timeout: 60).response?["result"])
        let secondPrompt = (second["answer"]?["reusedTokens"]?.intValue ?? 0) + (second["answer"]?["promptTokens"]?.intValue ?? 0)
        let thirdReused = try #require(third["answer"]?["reusedTokens"]?.intValue)
        #expect(thirdReused > secondPrompt - 4 && thirdReused <= secondPrompt, "\(thirdReused) of \(secondPrompt)")
    }

    @Test func afterARestartTheLMStillReadsEarlierTurns() throws {
        try Self.requireAssets()
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let state = NSTemporaryDirectory() + "llmrec-state-\(UUID().uuidString)"
        let arguments = ["--encoder", SemanticSearchTests.minilm, "--lm", Self.smollm2, "--state", state]
        func message(_ channel: FramedChannel, _ id: Int, session: String, _ text: String) -> JSONValue? {
            channel.request(id, "session/message", ["sessionId": .string(session), "text": .string(text), "stream": false])
            return channel.response(to: id, timeout: 60).response?["result"]?["answer"]
        }
        do {
            let daemon = try DaemonHarness(dataset: dataset, extraArguments: arguments)
            daemon.channel.initialize()
            daemon.channel.request(2, "session/open", ["sessionId": "s", "history": [1]])
            _ = daemon.channel.response(to: 2)
            #expect(message(daemon.channel, 3, session: "s", "a gentle cleanser")?["text"]?.stringValue?.isEmpty == false)
            daemon.process.terminate()
            daemon.process.waitUntilExit()
        }
        let restarted = try DaemonHarness(dataset: dataset, extraArguments: arguments)
        let channel = restarted.channel
        channel.initialize()
        channel.request(2, "session/open", ["sessionId": "fresh", "history": [1]])
        _ = channel.response(to: 2)
        let alone = try #require(message(channel, 3, session: "fresh", "something that smells nice"))
        let continued = try #require(message(channel, 4, session: "s", "something that smells nice"))
        // No cache after the restart, so the earlier turn is run again from the journal's record.
        #expect(continued["reusedTokens"] == 0)
        #expect((continued["promptTokens"]?.intValue ?? 0) > (alone["promptTokens"]?.intValue ?? 0) + 10)
    }

    @Test func aCancelSentWithTheRequestStopsItAndNothingMoreArrives() throws {
        try Self.requireAssets()
        let daemon = try DaemonHarness(extraArguments: ["--encoder", SemanticSearchTests.minilm, "--lm", Self.smollm2])
        let channel = daemon.channel
        channel.initialize()
        channel.request(2, "session/open", ["sessionId": "s"])
        _ = channel.response(to: 2)
        // Both frames in one write: the daemon reads them together, so the cancel is seen before
        // the lane can report anything.
        let message: JSONValue = ["jsonrpc": "2.0", "id": 3, "method": "session/message", "params": ["sessionId": "s", "text": "perfume"]]
        let cancel: JSONValue = ["jsonrpc": "2.0", "method": "$/cancelRequest", "params": ["id": 3]]
        var bytes: [UInt8] = []
        for frame in [message, cancel] {
            let body = Array(JSONWriter.compact(frame).utf8)
            bytes += Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
        }
        #expect(channel.writeRaw(bytes))
        let (response, others) = channel.response(to: 3, timeout: 60)
        #expect(response?["error"]?["code"] == -32800)
        #expect(others.isEmpty)
        channel.request(4, "server/status")
        let (status, late) = channel.response(to: 4, timeout: 60)
        #expect(status?["result"]?["requests"]?["cancelled"] == 1)
        #expect(late.isEmpty, "notifications after the cancel: \(late)")
    }

    /// Frames written together, so that the daemon reads them in one go.
    static func writeTogether(_ frames: [JSONValue], to channel: FramedChannel) -> Bool {
        var bytes: [UInt8] = []
        for frame in frames {
            let body = Array(JSONWriter.compact(frame).utf8)
            bytes += Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
        }
        return channel.writeRaw(bytes)
    }

    static func request(_ id: Int, _ method: String, _ params: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": .integer(Int64(id)), "method": .string(method), "params": params]
    }

    @Test func aRequestRefusedAsOverloadedChangesNothing() throws {
        try #require(FileManager.default.fileExists(atPath: SemanticSearchTests.minilm + "/model.safetensors"), "run scripts/fetch-assets.sh minilm")
        let daemon = try DaemonHarness(extraArguments: ["--encoder", SemanticSearchTests.minilm, "--max-queued-per-lane", "1"])
        let channel = daemon.channel
        channel.initialize()
        channel.request(2, "session/open", ["sessionId": "s", "history": [1]])
        _ = channel.response(to: 2)
        // The first message fills the model lane until the loop sees its completion, which cannot
        // happen while it handles the frames of this one read.
        #expect(Self.writeTogether([
            Self.request(3, "session/message", ["sessionId": "s", "text": "no skin care"]),
            Self.request(4, "catalog/add", ["items": [["title": "Lavender Soap", "originalId": "lav"]]]),
            Self.request(5, "session/message", ["sessionId": "s", "text": "no lotion"]),
        ], to: channel))
        // The refusals are written at once, before the first message's reply.
        let (first, refusals) = channel.response(to: 3, timeout: 60)
        #expect(first?["result"]?["excludedByStatement"] == 1)
        #expect(refusals.map { $0["id"] } == [4, 5])
        #expect(refusals.allSatisfy { $0["error"]?["code"] == -32003 })
        channel.request(6, "model/status")
        #expect(channel.response(to: 6, timeout: 60).response?["result"]?["addedItems"] == 0)
        channel.request(7, "session/message", ["sessionId": "s", "text": "hello", "answer": false])
        #expect(channel.response(to: 7, timeout: 60).response?["result"]?["excludedByStatement"] == 1)
        channel.request(8, "catalog/add", ["items": [["title": "Lavender Soap", "originalId": "lav"]]])
        #expect(channel.response(to: 8, timeout: 60).response?["result"]?["catalogSize"] == 6)
    }

    @Test func aCancelledLoadIsDiscardedAndNoLongerReported() throws {
        try Self.requireAssets()
        let daemon = try DaemonHarness(extraArguments: ["--lm", Self.smollm2])
        let channel = daemon.channel
        channel.initialize()
        #expect(Self.writeTogether([
            Self.request(2, "model/load", ["languageModel": .string(Self.smollm2)]),
            ["jsonrpc": "2.0", "method": "$/cancelRequest", "params": ["id": 2]],
        ], to: channel))
        #expect(channel.response(to: 2, timeout: 60).response?["error"]?["code"] == -32800)
        var status: JSONValue?
        for attempt in 0..<300 {
            channel.request(10 + attempt, "model/status")
            status = channel.response(to: 10 + attempt, timeout: 60).response?["result"]
            if status?["loading"] == .null { break }
            usleep(100_000)
        }
        #expect(status?["loading"] == .null)
        #expect(status?["generation"] == 0)
    }

    @Test func addedItemsAndStatedExclusionsSurviveARestart() throws {
        try #require(FileManager.default.fileExists(atPath: SemanticSearchTests.minilm + "/model.safetensors"), "run scripts/fetch-assets.sh minilm")
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let state = NSTemporaryDirectory() + "llmrec-state-\(UUID().uuidString)"
        let arguments = ["--encoder", SemanticSearchTests.minilm, "--state", state]
        do {
            let daemon = try DaemonHarness(dataset: dataset, extraArguments: arguments)
            let channel = daemon.channel
            channel.initialize()
            channel.request(2, "catalog/add", ["items": [["title": "Lavender Night Cream", "description": "A rich cream for dry skin.", "metadata": ["categories": ["Beauty", "Skin Care"]]]]])
            let added = channel.response(to: 2, timeout: 60).response?["result"]
            #expect(added?["items"]?.arrayValue?.first?["itemId"] == 6)
            #expect(added?["catalogSize"] == 6)
            channel.request(3, "session/open", ["sessionId": "s", "history": [1]])
            _ = channel.response(to: 3)
            channel.request(4, "session/message", ["sessionId": "s", "text": "no skin care please"])
            let reply = channel.response(to: 4, timeout: 60).response?["result"]
            #expect(reply?["understood"]?["excludedFacets"] == ["Skin Care"])
            #expect(reply?["answer"] == .null)
            #expect(reply?["excludedByStatement"] == 2)
            daemon.process.terminate()
            daemon.process.waitUntilExit()
        }
        // Twice: the first restart replays the appended records and rewrites the journal as a
        // snapshot (with each session's whole conversation); the second replays that snapshot.
        for restart in 1...2 {
            let restarted = try DaemonHarness(dataset: dataset, extraArguments: arguments)
            let channel = restarted.channel
            channel.initialize()
            channel.request(2, "catalog/get", ["itemIds": [6]])
            #expect(channel.response(to: 2).response?["result"]?["items"]?.arrayValue?.first?["title"] == "Lavender Night Cream")
            channel.request(5, "catalog/search", ["query": "lavender cream for the night", "limit": 2])
            let hits = channel.response(to: 5, timeout: 60).response?["result"]?["items"]?.arrayValue ?? []
            #expect(hits.first?["item"]?["itemId"] == 6, "\(hits)")
            channel.request(3, "session/recommend", ["sessionId": "s", "k": 10])
            let items = channel.response(to: 3, timeout: 60).response?["result"]?["items"]?.arrayValue ?? []
            let ids = items.compactMap { $0["itemId"]?.intValue }
            #expect(!ids.isEmpty && !ids.contains(2) && !ids.contains(6) && !ids.contains(1), "restart \(restart): \(ids)")
            #expect(items.allSatisfy { $0["scores"] != nil })
            restarted.process.terminate()
            restarted.process.waitUntilExit()
        }
    }
}
