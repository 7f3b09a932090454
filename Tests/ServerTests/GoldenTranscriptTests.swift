import Foundation
import JSON
import Testing

/// Replays Protocol/transcripts/*.jsonl against the real daemon over stdio. The transcripts were
/// recorded with `python3 scripts/record-transcripts.py .build/debug/llmrec` and reviewed by hand;
/// "<any>" matches any value.
@Suite struct GoldenTranscriptTests {
    static var transcripts: [String] {
        let directory = DaemonHarness.repositoryRoot.appendingPathComponent("Protocol/transcripts").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".jsonl") }.sorted().map { directory + "/" + $0 }
    }

    @Test func everyTranscriptIsThere() {
        #expect(Self.transcripts.map { URL(fileURLWithPath: $0).lastPathComponent }
            == ["catalog.jsonl", "conversation.jsonl", "errors.jsonl", "lifecycle.jsonl", "sessions.jsonl"])
    }

    @Test(arguments: transcripts)
    func replays(path: String) throws {
        let daemon = try DaemonHarness()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        for (number, line) in lines.enumerated() {
            let entry = try JSONValue.parse(String(line))
            if let message = entry["send"] {
                daemon.channel.send(message)
            } else if let expected = entry["expect"] {
                let received = daemon.channel.receive(timeout: 10)
                #expect(received != nil, "\(path):\(number + 1): no message arrived")
                guard let received else { return }
                #expect(
                    Self.matches(received, expected),
                    "\(path):\(number + 1):\n expected \(JSONWriter.compact(expected))\n received \(JSONWriter.compact(received))")
            }
        }
        #expect(daemon.waitForExit() == 0)
        #expect(daemon.channel.receive(timeout: 1) == nil, "nothing beyond the transcript")
    }

    /// Structural equality where the expected string "<any>" matches anything.
    static func matches(_ actual: JSONValue, _ expected: JSONValue) -> Bool {
        if expected == .string("<any>") { return true }
        switch (actual, expected) {
        case (.object(let a), .object(let e)):
            return a.keys == e.keys && a.members.allSatisfy { member in e[member.key].map { matches(member.value, $0) } ?? false }
        case (.array(let a), .array(let e)):
            return a.count == e.count && zip(a, e).allSatisfy { matches($0, $1) }
        case (.int, .double), (.double, .int), (.double, .double):
            return actual.doubleValue == expected.doubleValue
        default:
            return actual == expected
        }
    }

    @Test func openRPCDocumentAndTranscriptsAgree() throws {
        let checker = Process()
        checker.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        checker.arguments = ["python3", DaemonHarness.repositoryRoot.appendingPathComponent("Protocol/check_openrpc.py").path]
        let output = Pipe()
        checker.standardOutput = output
        checker.standardError = output
        try checker.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        checker.waitUntilExit()
        #expect(checker.terminationStatus == 0, "\(text)")
        #expect(text.contains("5 transcript(s)"))
    }

    /// The daemon's method registry (what `initialize` announces, and what it dispatches) and the
    /// OpenRPC document name the same requests.
    @Test func theMethodsAnnouncedAreTheMethodsDocumented() throws {
        let document = try JSONValue.parse(
            String(contentsOf: DaemonHarness.repositoryRoot.appendingPathComponent("Protocol/openrpc.json"), encoding: .utf8))
        let documented = Set(document["methods"]?.arrayValue?.filter { $0["x-notification"] != .bool(true) }.compactMap { $0["name"]?.stringValue } ?? [])
        let daemon = try DaemonHarness()
        daemon.channel.request(1, "initialize", ["clientInfo": ["name": "swift-tests"]])
        let announced = daemon.channel.response(to: 1).response?["result"]?["capabilities"]?["methods"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(announced.count == Set(announced).count, "each method once")
        #expect(Set(announced) == documented, "announced but not documented: \(Set(announced).subtracting(documented)); documented but not announced: \(documented.subtracting(announced))")
        for (index, method) in announced.enumerated() where method != "initialize" && method != "shutdown" {
            daemon.channel.request(10 + index, method, ["definitely": "not a parameter"])
            let code = daemon.channel.response(to: 10 + index, timeout: 30).response?["error"]?["code"]?.intValue
            #expect(code != -32601, "\(method) is announced and dispatched")
        }
    }
}
