import Foundation
import JSON
import Numerics
import Testing

/// Throws a fixed number of mutated streams at the daemon (LLMREC_FUZZ_STREAMS, default 1500), each
/// on its own socket connection, then checks the daemon still serves. Bounded by count, not by time,
/// and seeded (LLMREC_FUZZ_SEED): the same streams on any machine, reproducible from the seed and
/// count printed on failure.
@Suite struct FuzzTests {
    @Test func mutatedFramesNeverKillTheDaemon() throws {
        let count = Int(ProcessInfo.processInfo.environment["LLMREC_FUZZ_STREAMS"] ?? "") ?? 1500
        let seed = UInt64(ProcessInfo.processInfo.environment["LLMREC_FUZZ_SEED"] ?? "") ?? 20261129
        var random = SplitMix64(seed: seed)
        let daemon = try DaemonHarness(socket: true)
        let corpus = try Self.corpus()
        var streams = 0
        while streams < count {
            let client = try daemon.connect()
            var stream: [UInt8] = []
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                stream += Self.mutate(corpus.randomElement(using: &random)!, using: &random)
            }
            client.writeRaw(stream)
            // Read whatever comes back for a moment, sometimes hang up without reading.
            if Bool.random(using: &random) { while client.receive(timeout: 0.02) != nil {} }
            client.closeConnection()
            streams += 1
            try #require(daemon.process.isRunning, "daemon died after \(streams) streams (seed \(seed))")
        }
        let probe = try daemon.connect()
        probe.initialize()
        probe.request(2, "server/status")
        #expect(probe.response(to: 2).response?["result"]?["uptimeSeconds"] != nil, "seed \(seed), \(streams) streams")
    }

    /// Valid frames of every method, from the golden transcripts.
    static func corpus() throws -> [[UInt8]] {
        var frames: [[UInt8]] = []
        for path in GoldenTranscriptTests.transcripts {
            for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
                guard let message = try JSONValue.parse(String(line))["send"] else { continue }
                let body = Array(JSONWriter.compact(message).utf8)
                frames.append(Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body)
            }
        }
        return frames
    }

    static func mutate(_ frame: [UInt8], using random: inout SplitMix64) -> [UInt8] {
        var bytes = frame
        switch Int.random(in: 0..<7, using: &random) {
        case 0:  // flip random bytes
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
            }
        case 1:  // truncate
            bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &random)))
        case 2:  // lie about the length
            let body = bytes.split(separator: UInt8(ascii: "\n"), maxSplits: 2).last.map(Array.init) ?? []
            bytes = Array("Content-Length: \(Int.random(in: 0...body.count * 2, using: &random))\r\n\r\n".utf8) + body
        case 3:  // insert junk
            let junk = (0..<Int.random(in: 1...32, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            bytes.insert(contentsOf: junk, at: Int.random(in: 0...bytes.count, using: &random))
        case 4:  // duplicate a slice
            let start = Int.random(in: 0..<bytes.count, using: &random)
            bytes += bytes[start...]
        case 5:  // replace a JSON value with something of another type
            let text = String(decoding: bytes, as: UTF8.self)
            let replacements = ["null", "[]", "{}", "\"x\"", "-1", "1e400", "true", "\"\\ud800\""]
            bytes = Array(text.replacingOccurrences(
                of: ["1", "2", "\"s\"", "true", "[1,2]"].randomElement(using: &random)!,
                with: replacements.randomElement(using: &random)!).utf8)
            let body = bytes.split(separator: UInt8(ascii: "\n"), maxSplits: 2).last.map(Array.init) ?? []
            bytes = Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
        default:  // unchanged: valid traffic between broken frames
            break
        }
        return bytes
    }
}
