import Foundation
import JSON
import Testing

/// The daemon's promises of Protocol/spec.md that transcripts cannot show: broken framing, limits,
/// overload, cancellation, signals, persistence across SIGKILL, many clients.
@Suite struct DaemonBehaviourTests {
    private func errorCode(_ message: JSONValue?) -> Int64? { message?["error"]?["code"]?.intValue }

    @Test func brokenHeadersGetAParseErrorAndCloseTheConnection() throws {
        let daemon = try DaemonHarness()
        daemon.channel.initialize()
        daemon.channel.writeRaw(Array("Content-Length: twelve\r\n\r\n{}".utf8))
        let reply = daemon.channel.receive()
        #expect(errorCode(reply) == -32700)
        #expect(reply?["id"] == .null)
        #expect(daemon.waitForExit() != nil, "stdio mode ends with its only connection")
    }

    @Test func oversizedAndInvalidBodiesKeepTheConnection() throws {
        let daemon = try DaemonHarness(extraArguments: ["--max-message-bytes", "1024"])
        let channel = daemon.channel
        channel.initialize()
        let padding = String(repeating: " ", count: 2000)
        channel.writeRaw(Array("Content-Length: 2002\r\n\r\n{\(padding)}".utf8))
        #expect(errorCode(channel.receive()) == -32600)
        channel.writeRaw(Array("Content-Length: 9\r\n\r\n{\"a\": tru".utf8))
        #expect(errorCode(channel.receive()) == -32700)
        channel.writeRaw(Array("Content-Length: 4\r\n\r\n".utf8) + [0x22, 0xC3, 0x28, 0x22])
        #expect(errorCode(channel.receive()) == -32700)
        channel.request(2, "server/status")
        #expect(channel.response(to: 2).response?["result"]?["connections"] == 1)
    }

    @Test func fullLanesAnswerOverloadedAtOnce() throws {
        let daemon = try DaemonHarness(extraArguments: ["--max-queued-per-lane", "1"])
        let channel = daemon.channel
        channel.initialize()
        channel.request(2, "session/open", ["sessionId": "s", "history": [1]])
        _ = channel.response(to: 2)
        // All five arrive in one read, so they are dispatched before any completes.
        var batch: [UInt8] = []
        for id in 10..<15 {
            let body = Array(#"{"jsonrpc":"2.0","id":\#(id),"method":"session/recommend","params":{"sessionId":"s"}}"#.utf8)
            batch += Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
        }
        channel.writeRaw(batch)
        var codes: [Int: Int64?] = [:]
        while codes.count < 5, let message = channel.receive() {
            if let id = message["id"]?.intValue { codes[Int(id)] = errorCode(message) }
        }
        #expect(codes.count == 5)
        #expect(codes[10] == .some(nil), "the first fits")
        #expect((11..<15).allSatisfy { codes[$0] == .some(-32003) })
    }

    @Test func cancelledRequestsAreAnsweredWithRequestCancelled() throws {
        let daemon = try DaemonHarness()
        let channel = daemon.channel
        channel.initialize()
        channel.request(2, "session/open", ["sessionId": "s", "history": [1]])
        _ = channel.response(to: 2)
        let recommend = Array(#"{"jsonrpc":"2.0","id":"r","method":"session/recommend","params":{"sessionId":"s","workDoneToken":1}}"#.utf8)
        let cancel = Array(#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"r"}}"#.utf8)
        channel.writeRaw(
            Array("Content-Length: \(recommend.count)\r\n\r\n".utf8) + recommend + Array("Content-Length: \(cancel.count)\r\n\r\n".utf8) + cancel)
        var messages: [JSONValue] = []
        while let message = channel.receive(timeout: 2) { messages.append(message) }
        let responses = messages.filter { $0["id"] == "r" }
        #expect(responses.count == 1, "exactly one answer, the late result is dropped")
        #expect(errorCode(responses.first) == -32800)
        let progress = messages.filter { $0["method"] == "$/progress" }.map { $0["params"]?["value"]?["kind"] }
        #expect(progress == ["begin", "end"])
        channel.request(3, "server/status")
        #expect(channel.response(to: 3).response?["result"]?["requests"]?["cancelled"] == 1)
    }

    @Test func endOfStdinAnswersWhatWasReadThenExitsZero() throws {
        let daemon = try DaemonHarness()
        daemon.channel.initialize()
        daemon.channel.request(2, "session/open", ["sessionId": "s", "history": [1, 2]])
        daemon.channel.request(3, "session/recommend", ["sessionId": "s"])
        close(daemon.channel.writeFD)
        #expect(daemon.channel.response(to: 3).response?["result"] != nil)
        #expect(daemon.waitForExit() == 0)
    }

    @Test func stdinThatIsNotAPipeWorks() throws {
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let body = #"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#
        let input = NSTemporaryDirectory() + "llmrec-requests-\(UUID().uuidString)"
        try ("Content-Length: \(body.utf8.count)\r\n\r\n" + body).write(toFile: input, atomically: true, encoding: .utf8)
        for stdin in [input, "/dev/null"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: DaemonHarness.executable)
            process.arguments = ["serve", "--stdio", "--data", dataset]
            process.standardInput = FileHandle(forReadingAtPath: stdin)
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "stdin from \(stdin)")
            #expect(text.contains(#""serverInfo""#) == (stdin == input))
        }
    }

    @Test func sigtermFinishesInFlightWorkAndExitsZero() throws {
        let daemon = try DaemonHarness(socket: true)
        let client = try daemon.connect()
        client.initialize()
        client.request(2, "session/open", ["sessionId": "s", "history": [1]])
        _ = client.response(to: 2)
        client.request(3, "session/recommend", ["sessionId": "s"])
        kill(daemon.process.processIdentifier, SIGTERM)
        #expect(client.response(to: 3).response?["result"] != nil)
        #expect(daemon.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath!), "the socket file is removed")
    }

    @Test func acknowledgedSessionUpdatesSurviveSIGKILL() throws {
        let state = NSTemporaryDirectory() + "llmrec-state-\(UUID().uuidString)"
        let dataset = try DaemonHarness.prepareFixtureDataset()
        var expected: JSONValue?
        do {
            let daemon = try DaemonHarness(dataset: dataset, extraArguments: ["--state", state])
            let channel = daemon.channel
            channel.initialize()
            channel.request(2, "session/open", ["sessionId": "keep", "history": [1, 2]])
            channel.request(3, "session/observe", ["sessionId": "keep", "events": [["itemId": 4, "kind": "bought"], ["itemId": 3, "kind": "rejected"]]])
            channel.request(4, "session/open", ["sessionId": "gone"])
            channel.request(5, "session/close", ["sessionId": "gone"])
            // Acknowledged: each answer comes once its journal record is durable.
            for id in 2...5 { #expect(channel.response(to: id).response?["result"] != nil) }
            channel.request(6, "session/get", ["sessionId": "keep"])
            expected = channel.response(to: 6).response?["result"]
            kill(daemon.process.processIdentifier, SIGKILL)
            _ = daemon.waitForExit()
        }
        // A torn line, as a crash in the middle of a write would leave.
        let journal = try FileHandle(forWritingTo: URL(fileURLWithPath: state + "/sessions.journal"))
        journal.seekToEndOfFile()
        journal.write(Data(#"{"op":"observe","id":"keep","ev"#.utf8))
        try journal.close()

        let restarted = try DaemonHarness(dataset: dataset, extraArguments: ["--state", state])
        restarted.channel.initialize()
        restarted.channel.request(2, "session/get", ["sessionId": "keep"])
        let restored = restarted.channel.response(to: 2).response?["result"]
        #expect(restored != nil)
        #expect(restored == expected)
        restarted.channel.request(3, "session/get", ["sessionId": "gone"])
        #expect(errorCode(restarted.channel.response(to: 3).response) == -32010)
    }

    @Test func manySocketClientsAndADisconnectMidRequest() throws {
        let daemon = try DaemonHarness(socket: true)
        let clients = try (0..<8).map { _ in try daemon.connect() }
        for (index, client) in clients.enumerated() {
            client.initialize()
            client.request(2, "session/open", ["sessionId": .string("c\(index)"), "history": [.integer(index % 5 + 1)]])
        }
        for client in clients { #expect(client.response(to: 2).response?["result"] != nil) }
        clients[0].request(3, "session/recommend", ["sessionId": "c0"])
        clients[0].closeConnection()
        for (index, client) in clients.enumerated().dropFirst() {
            client.request(3, "session/recommend", ["sessionId": .string("c\(index)"), "k": 2])
        }
        for client in clients.dropFirst() { #expect(client.response(to: 3).response?["result"]?["items"] != nil) }
        clients[1].request(4, "server/status")
        let status = clients[1].response(to: 4).response?["result"]
        #expect(status?["sessions"] == 8, "sessions outlive the connection that opened them")
        #expect(daemon.process.isRunning)
    }

    @Test func aClientThatNeverReadsDoesNotGrowTheDaemon() throws {
        let daemon = try DaemonHarness(socket: true)
        let greedy = try daemon.connect()
        greedy.initialize()
        let ids = JSONValue.array((1...5).map { .integer($0) })
        let body = Array(JSONWriter.compact(["jsonrpc": "2.0", "id": 9, "method": "catalog/get", "params": ["itemIds": ids]]).utf8)
        let frame = Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
        // Send without ever reading: once the daemon stops reading, our writes stop completing.
        _ = fcntl(greedy.writeFD, F_SETFL, fcntl(greedy.writeFD, F_GETFL) | O_NONBLOCK)
        var sent = 0
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            let written = frame.withUnsafeBytes { write(greedy.writeFD, $0.baseAddress, $0.count) }
            if written <= 0 { usleep(1000) } else { sent += written }
        }
        let observer = try daemon.connect()
        observer.initialize()
        observer.request(2, "server/status")
        let memory = observer.response(to: 2).response?["result"]?["residentMemoryBytes"]?.intValue ?? .max
        #expect(sent > 0)
        #expect(memory < 200 << 20, "resident memory \(memory) bytes after \(sent) bytes of unread requests")
    }
}
