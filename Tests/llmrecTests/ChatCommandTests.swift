import Foundation
import JSON
import Testing

/// `llmrec chat` in its one-shot JSON mode, starting its own daemon over stdio on the Amazon 2023
/// fixture (no encoder, no LM: the collaborative model and stated facets rank).
@Suite struct ChatCommandTests {
    static func prepared() throws -> String {
        let out = NSTemporaryDirectory() + "llmrec-chat-\(UUID().uuidString)"
        let fixtures = CommandLineTests.fixturesDirectory()
        let result = try CommandLineTests.run([
            "prepare", "--format", "amazon2023", "--reviews", fixtures + "/amazon2023_reviews.jsonl",
            "--meta", fixtures + "/amazon2023_meta.jsonl", "--out", out, "--quiet",
        ])
        try #require(result.status == 0, "\(result.stderr)")
        return out
    }

    @Test func messagesAndCommandsRunInOrderAgainstTheSession() throws {
        let data = try Self.prepared()
        let result = try CommandLineTests.run([
            "chat", "--data", data, "--history", "1", "-k", "3", "--json",
            "--message", "skin care for dry skin", "--message", ":reject 1", "--message", "no skin care",
            "--message", ":add Lavender Soap | A gentle soap", "--message", ":history",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { try? JSONValue.parse(String($0)) }
        try #require(lines.count == 5, "\(result.stdout)")
        let first = try #require(lines[0])
        #expect(first["understood"]?["wantedFacets"] == ["Skin Care"])
        #expect(first["answer"] == .null)
        let rejected = try #require(first["items"]?.arrayValue?.first?["itemId"]?.intValue)
        #expect(lines[1]?["note"]?.stringValue?.hasPrefix("rejected ") == true)
        let second = try #require(lines[2])
        #expect(second["understood"]?["excludedFacets"] == ["Skin Care"])
        let ids = second["items"]?.arrayValue?.compactMap { $0["itemId"]?.intValue } ?? []
        #expect(!ids.contains(rejected) && !ids.contains(2) && !ids.contains(1))
        // Without an encoder an item cannot be added: the daemon's error is reported, the chat goes on.
        #expect(lines[3]?["note"]?.stringValue?.contains("-32012") == true)
        let events = lines[4]?["events"]?.arrayValue ?? []
        #expect(events.map { $0["kind"] } == ["viewed", "rejected"])
    }

    @Test func refusesBothSocketAndDataAndExplainsAMissingConfiguration() throws {
        let both = try CommandLineTests.run(["chat", "--socket", "/tmp/x.sock", "--data", "/tmp", "--message", "hello"])
        #expect(both.status != 0 && both.stderr.contains("at most one of --socket PATH and --data DIR"))
        // Neither: the shared daemon, which cannot start without a dataset in its configuration.
        let home = try SharedDaemon()
        let neither = try CommandLineTests.run(["chat", "--message", "hello"], environment: home.environment)
        #expect(neither.status != 0 && neither.stderr.contains("no dataset"), "\(neither.stderr)")
        let missing = try CommandLineTests.run(["chat", "--socket", "/nonexistent/llmrec.sock", "--message", "hello"])
        #expect(missing.status != 0 && missing.stderr.contains("cannot reach the daemon"))
    }
}
