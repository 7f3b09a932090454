import Foundation
import JSON
import Testing

/// What an unlucky or hostile client can do to the daemon: a full disk, SIGKILL under load, model
/// files that are not models, files planted in the state directory, ids at the edges of JSON.
/// `LLMREC_RELIABILITY_LONG=1` runs the load cases at the probe's full size (64 clients × 2,000).
@Suite(.serialized) struct ReliabilityTests {
    private static let long = ProcessInfo.processInfo.environment["LLMREC_RELIABILITY_LONG"] == "1"

    private func errorCode(_ message: JSONValue?) -> Int64? { message?["error"]?["code"]?.intValue }

    private func observe(_ channel: FramedChannel, id: Int, session: String, item: Int) {
        channel.request(id, "session/observe", ["sessionId": .string(session), "events": [["itemId": .integer(item), "kind": "viewed"]]])
    }

    private func history(of session: String, dataset: String, state: String) throws -> [Int64]? {
        let daemon = try DaemonHarness(dataset: dataset, extraArguments: ["--state", state])
        daemon.channel.initialize()
        daemon.channel.request(2, "session/get", ["sessionId": .string(session)])
        return Self.eventItems(daemon.channel.response(to: 2).response)
    }

    /// The item ids of a `session/get` answer's events, in order.
    private static func eventItems(_ answer: JSONValue?) -> [Int64]? {
        answer?["result"]?["events"]?.arrayValue?.compactMap { $0["itemId"]?.intValue }
    }

    // MARK: A full disk

    @Test func aFullDiskNeverLosesNorGluesAnAcknowledgedEvent() throws {
        guard let disk = SmallDisk(bytes: 256 << 10) else { return }  // Needs root to mount a tmpfs.
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let state = disk.path + "/state"
        let items = try catalogSize(dataset)
        var acknowledged: [Int64] = []
        var refused = 0
        do {
            let daemon = try DaemonHarness(dataset: dataset, extraArguments: ["--state", state])
            let channel = daemon.channel
            channel.initialize()
            channel.request(2, "session/open", ["sessionId": "s"])
            #expect(channel.response(to: 2).response?["result"] != nil)
            disk.fill()
            var id = 10
            // Until the journal's last page is full and a few appends past that have failed.
            while refused < 5 && id < 5_000 {
                let item = id % items + 1
                observe(channel, id: id, session: "s", item: item)
                let answer = channel.response(to: id).response
                if answer?["result"] != nil {
                    acknowledged.append(Int64(item))
                } else {
                    #expect(errorCode(answer) == -32603, "a change that cannot be stored is refused as an internal error")
                    refused += 1
                }
                id += 1
            }
            #expect(refused == 5)
            disk.free()
            for _ in 0..<20 {
                let item = id % items + 1
                observe(channel, id: id, session: "s", item: item)
                #expect(channel.response(to: id).response?["result"] != nil, "appends work again once space is freed")
                acknowledged.append(Int64(item))
                id += 1
            }
            kill(daemon.process.processIdentifier, SIGKILL)
            _ = daemon.waitForExit()
        }
        #expect(try history(of: "s", dataset: dataset, state: state) == acknowledged, "exactly the acknowledged events, in order")

        // A restart on a still-full disk fails cleanly and leaves no partial compaction behind.
        disk.fill()
        let refusedStart = try runLLMRec(["serve", "--stdio", "--data", dataset, "--state", state])
        #expect(refusedStart.status == 1)
        #expect(refusedStart.standardError.contains("No space left on device"))
        #expect(!FileManager.default.fileExists(atPath: state + "/sessions.journal.tmp"))
        disk.free()
        #expect(try history(of: "s", dataset: dataset, state: state) == acknowledged)
    }

    @Test func aFullDiskTakesBackAnAdditionAndGivesItsIdsAgain() throws {
        try #require(FileManager.default.fileExists(atPath: SemanticSearchTests.minilm + "/model.safetensors"), "run scripts/fetch-assets.sh minilm")
        guard let disk = SmallDisk(bytes: 256 << 10) else { return }  // Needs root to mount a tmpfs.
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let items = try catalogSize(dataset)
        let arguments = ["--encoder", SemanticSearchTests.minilm, "--state", disk.path + "/state"]
        func add(_ channel: FramedChannel, id: Int, title: String) -> JSONValue? {
            channel.request(id, "catalog/add", ["items": [["title": .string(title), "description": "A film added at run time."]]])
            return channel.response(to: id, timeout: 60).response
        }
        var kept: [String] = []
        do {
            let daemon = try DaemonHarness(dataset: dataset, extraArguments: arguments)
            let channel = daemon.channel
            channel.initialize()
            #expect(add(channel, id: 2, title: "Kept Before")?["result"] != nil)
            kept.append("Kept Before")
            disk.fill()
            var refused = false
            for index in 0..<200 where !refused {
                let title = "While Full \(index)"
                let answer = add(channel, id: 10 + index, title: title)
                if answer?["result"] != nil {
                    kept.append(title)
                } else {
                    #expect(errorCode(answer) == -32603)
                    refused = true
                }
            }
            #expect(refused)
            disk.free()
            let after = add(channel, id: 300, title: "Kept After")
            #expect(after?["result"]?["items"]?.arrayValue?.first?["itemId"]?.intValue == Int64(items + kept.count + 1), "the refused item's id is given again")
            kept.append("Kept After")
            kill(daemon.process.processIdentifier, SIGKILL)
            _ = daemon.waitForExit()
        }
        let daemon = try DaemonHarness(dataset: dataset, extraArguments: arguments)
        daemon.channel.initialize()
        daemon.channel.request(2, "catalog/get", ["itemIds": .array((1...kept.count).map { .integer(items + $0) })])
        let titles = daemon.channel.response(to: 2).response?["result"]?["items"]?.arrayValue?.compactMap { $0["title"]?.stringValue }
        #expect(titles == kept, "exactly the acknowledged additions, with their ids")
        daemon.channel.request(3, "catalog/get", ["itemIds": [.integer(items + kept.count + 1)]])
        #expect(errorCode(daemon.channel.response(to: 3).response) == -32011)
    }

    // MARK: SIGKILL under load (group commit)

    @Test func concurrentUpdatesAcknowledgedBeforeSIGKILLAllSurvive() throws {
        let clientCount = Self.long ? 64 : 8
        let perClient = Self.long ? 2_000 : 150
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let items = try catalogSize(dataset)
        let state = NSTemporaryDirectory() + "llmrec-state-\(UUID().uuidString)"
        var sent: [[Int64]] = []
        var acknowledgedCounts: [Int] = []
        do {
            let daemon = try DaemonHarness(socket: true, dataset: dataset, extraArguments: ["--state", state])
            let channels = try (0..<clientCount).map { _ in try daemon.connect() }
            for (index, channel) in channels.enumerated() {
                channel.initialize()
                channel.request(2, "session/open", ["sessionId": .string("c\(index)")])
                #expect(channel.response(to: 2).response?["result"] != nil)
            }
            // Every client pipelines all its updates, then reads half of the answers; the daemon is
            // killed while the rest are in flight.
            for (index, channel) in channels.enumerated() {
                var order: [Int64] = []
                for step in 0..<perClient {
                    let item = (index * 7 + step) % items + 1
                    order.append(Int64(item))
                    observe(channel, id: 100 + step, session: "c\(index)", item: item)
                }
                sent.append(order)
            }
            for channel in channels {
                var count = 0
                for step in 0..<(perClient / 2) where channel.response(to: 100 + step).response?["result"] != nil { count += 1 }
                acknowledgedCounts.append(count)
            }
            kill(daemon.process.processIdentifier, SIGKILL)
            _ = daemon.waitForExit()
        }
        #expect(acknowledgedCounts == Array(repeating: perClient / 2, count: clientCount))
        let daemon = try DaemonHarness(dataset: dataset, extraArguments: ["--state", state])
        daemon.channel.initialize()
        for index in 0..<clientCount {
            daemon.channel.request(10 + index, "session/get", ["sessionId": .string("c\(index)")])
            let restored = Self.eventItems(daemon.channel.response(to: 10 + index).response) ?? []
            #expect(restored.count >= acknowledgedCounts[index], "every acknowledged event of client \(index) survives")
            #expect(restored == Array(sent[index].prefix(restored.count)), "in the order they were sent, nothing else")
        }
    }

    // MARK: Memory after bursts

    @Test func memoryGoesBackAfterABurstOfConnectionsAndALargeBatch() throws {
        let connections = Self.long ? 10_000 : 1_500
        let daemon = try DaemonHarness(socket: true)
        let monitor = try daemon.connect()
        monitor.initialize()
        var next = 10
        func resident() -> Int64 {
            next += 1
            monitor.request(next, "server/status")
            return monitor.response(to: next).response?["result"]?["residentMemoryBytes"]?.intValue ?? 0
        }
        let base = resident()
        var burst: [FramedChannel] = []
        for _ in 0..<connections {
            let channel = try daemon.connect()
            channel.initialize()
            burst.append(channel)
        }
        let peak = resident()
        for channel in burst { channel.closeConnection() }
        burst = []
        usleep(1_600_000)
        let afterClose = resident()
        #expect(peak - base > 4 << 20, "the burst costs memory (\(peak - base) bytes)")
        #expect(afterClose - base < (peak - base) / 5, "at least four fifths of it goes back: \(base) -> \(peak) -> \(afterClose)")

        // A batch of 100 requests of 40,000 characters each (4 MB): its buffers go back too.
        let batch: JSONValue = .array((0..<100).map { index in
            ["jsonrpc": "2.0", "id": .integer(1_000 + index), "method": "catalog/search", "params": ["query": .string(String(repeating: "x", count: 40_000))]]
        })
        let beforeBatch = resident()
        monitor.send(batch)
        #expect(monitor.receive(timeout: 30)?.arrayValue?.count == 100)
        usleep(1_600_000)
        let afterBatch = resident()
        #expect(afterBatch - beforeBatch < 1 << 20, "a 4 MB batch leaves less than 1 MiB behind: \(beforeBatch) -> \(afterBatch)")
    }

    // MARK: Model files that are not models

    @Test func modelFilesThatAreNotModelsAreRefusedAndTheDaemonServesOn() throws {
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let work = NSTemporaryDirectory() + "llmrec-models-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let checkpoint = work + "/trained.safetensors"
        let trained = try runLLMRec([
            "train", "sasrec", "--data", dataset, "--out", checkpoint, "--epochs", "1", "--hidden-units", "8", "--blocks", "1", "--quiet",
        ])
        try #require(trained.status == 0, "\(trained.standardError)")
        let fifo = work + "/fifo"
        try #require(mkfifo(fifo, 0o600) == 0)
        let directory = work + "/a-directory"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let noHeads = work + "/no-heads.safetensors"
        try rewriteConfiguration(of: checkpoint, to: noHeads) { $0["heads"] = 0 }
        let manyBlocks = work + "/many-blocks.safetensors"
        try rewriteConfiguration(of: checkpoint, to: manyBlocks) { $0["blocks"] = 2_000_000 }
        // Eight bytes that read as a header length, then nothing a reader could use.
        let garbage = work + "/garbage.safetensors"
        try Data([0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48] + Array(repeating: 0x20, count: 64)).write(to: URL(fileURLWithPath: garbage))
        let badFiles = [directory, "/proc/self/mem", fifo, noHeads, manyBlocks, garbage]

        // At start-up: an error and status 1, never a signal, a hang or unbounded memory.
        for path in badFiles {
            let run = try runLLMRec(["serve", "--stdio", "--data", dataset, "--recommender", "sasrec:" + path], timeout: 20)
            #expect(run.status == 1, "serve --recommender sasrec:\(path) exits with an error")
            #expect(run.standardError.contains("llmrec"), "and says why")
        }

        // Through model/load: -32013 without the file's bytes or whether a path exists.
        let fingerprint = try datasetFingerprint(dataset)
        let items = try catalogSize(dataset)
        let daemon = try DaemonHarness(dataset: dataset)
        let channel = daemon.channel
        channel.initialize()
        var messages: [String] = []
        for (index, path) in (badFiles + [work + "/does-not-exist"]).enumerated() {
            let bundle = work + "/bundle-\(index)"
            try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
            let manifest: JSONValue = [
                "format": "llmrec-allmrec", "version": 1, "dataset": ["fingerprint": .string(fingerprint), "items": .integer(items)],
                "sasrec": .string(path),
            ]
            try Data(JSONWriter.compact(manifest).utf8).write(to: URL(fileURLWithPath: bundle + "/manifest.json"))
            channel.request(10 + index, "model/load", ["bundle": .string(bundle)])
            let answer = channel.response(to: 10 + index, timeout: 20).response
            #expect(errorCode(answer) == -32013, "model/load of a bundle whose SASRec is \(path)")
            let message = answer?["error"]?["message"]?.stringValue ?? ""
            #expect(!message.contains(work), "no path in the answer")
            #expect(!message.contains(String(UInt64(littleEndian: 0x4847_4645_4443_4241))), "no bytes of the file")
            messages.append(message)
        }
        #expect(Set(messages).count == 1, "a missing file and a bad one get the same answer")
        channel.request(30, "model/load", ["bundle": .string(work + "/nothing-here")])
        #expect(channel.response(to: 30).response?["error"]?["message"]?.stringValue == messages.first)
        // An encoder whose configuration is a directory.
        let encoder = work + "/encoder"
        try FileManager.default.createDirectory(atPath: encoder + "/sentence_bert_config.json", withIntermediateDirectories: true)
        channel.request(31, "model/load", ["encoder": .string(encoder)])
        #expect(errorCode(channel.response(to: 31).response) == -32013)
        channel.request(32, "server/status")
        #expect(channel.response(to: 32).response?["result"] != nil, "the daemon serves on")
        channel.request(33, "model/status")
        #expect(channel.response(to: 33).response?["result"]?["loading"] == .null, "the loading lane is free again")
    }

    // MARK: Files planted in the state directory

    @Test func theDaemonNeverWritesThroughAPlantedLinkAndKeepsItsFilesPrivate() throws {
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let root = NSTemporaryDirectory() + "llmrec-planted-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let victim = root + "/victim.txt"
        try Data("not the daemon's\n".utf8).write(to: URL(fileURLWithPath: victim))

        let state = root + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: state + "/sessions.journal.tmp", withDestinationPath: victim)
        do {
            let daemon = try DaemonHarness(dataset: dataset, extraArguments: ["--state", state])
            daemon.channel.initialize()
            daemon.channel.request(2, "session/open", ["sessionId": "s", "history": [1]])
            #expect(daemon.channel.response(to: 2).response?["result"] != nil)
        }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "not the daemon's\n")

        let linked = root + "/linked-state"
        try FileManager.default.createDirectory(atPath: linked, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: linked + "/sessions.journal", withDestinationPath: victim)
        let refused = try runLLMRec(["serve", "--stdio", "--data", dataset, "--state", linked])
        #expect(refused.status == 1, "a journal that is a link is refused")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "not the daemon's\n")

        let fresh = root + "/fresh/state"
        let started = try runLLMRec(["serve", "--stdio", "--data", dataset, "--state", fresh], umask: 0)
        #expect(started.status == 0)
        #expect(try mode(of: root + "/fresh") == 0o700)
        #expect(try mode(of: fresh) == 0o700)
        #expect(try mode(of: fresh + "/sessions.journal") == 0o600)
        #expect(try mode(of: fresh + "/catalog.journal") == 0o600)
    }

    // MARK: Ids and numbers at the edges of JSON

    @Test func idsAndNumbersAtTheEdgesGetTheCodesTheSpecNames() throws {
        let daemon = try DaemonHarness()
        let channel = daemon.channel
        channel.initialize()
        channel.request(2, "session/open", ["sessionId": "s"])
        _ = channel.response(to: 2)
        let cases: [(String, Int64)] = [
            ("9223372036854775808", -32602), ("18446744073709551616", -32602), ("2147483648", -32011), ("9223372036854775807", -32011),
            ("1.0", -32602), ("1e2", -32602), ("0", -32602), ("-1", -32602),
        ]
        for (index, (literal, code)) in cases.enumerated() {
            let body = #"{"jsonrpc":"2.0","id":\#(10 + index),"method":"session/observe","params":{"sessionId":"s","events":[{"itemId":\#(literal),"kind":"viewed"}]}}"#
            channel.writeRaw(Array("Content-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))
            #expect(errorCode(channel.response(to: 10 + index).response) == code, "item id \(literal)")
            let get = #"{"jsonrpc":"2.0","id":\#(50 + index),"method":"catalog/get","params":{"itemIds":[\#(literal)]}}"#
            channel.writeRaw(Array("Content-Length: \(get.utf8.count)\r\n\r\n\(get)".utf8))
            #expect(errorCode(channel.response(to: 50 + index).response) == code, "catalog/get of \(literal)")
        }
        channel.request(30, "session/recommend", ["sessionId": "s", "weights": ["collaborative": 0, "text": 0, "facet": 0, "languageModel": 0]])
        let weights = channel.response(to: 30).response
        #expect(errorCode(weights) == -32602)
        #expect(weights?["error"]?["data"]?["field"] == "weights")
        let body = #"{"jsonrpc":"2.0","id":31,"method":"server/status"}"#
        channel.writeRaw(Array("Content-Length: +\(body.utf8.count)\r\n\r\n\(body)".utf8))
        let framing = channel.receive()
        #expect(errorCode(framing) == -32700, "a signed Content-Length is not a length")
    }

    // MARK: Helpers

    private func catalogSize(_ dataset: String) throws -> Int {
        let manifest = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dataset + "/dataset.json"))))
        return Int(try #require(manifest["counts"]?["items"]?.intValue ?? manifest["items"]?.intValue))
    }

    private func datasetFingerprint(_ dataset: String) throws -> String {
        let manifest = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dataset + "/dataset.json"))))
        return try #require(manifest["fingerprint"]?.stringValue)
    }

    private func mode(of path: String) throws -> Int {
        var info = stat()
        try #require(stat(path, &info) == 0)
        return Int(info.st_mode & 0o777)
    }

    /// Copies a SASRec checkpoint with its stored configuration changed by `change`.
    private func rewriteConfiguration(of source: String, to destination: String, _ change: (inout JSONObject) -> Void) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: source)))
        let length = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard case .object(var header) = try JSONValue.parse(Array(bytes[8..<(8 + length)])),
            case .object(var metadata)? = header["__metadata__"],
            case .object(var configuration) = try JSONValue.parse(try #require(metadata["sasrec.config"]?.stringValue))
        else { throw CocoaError(.fileReadCorruptFile) }
        change(&configuration)
        metadata["sasrec.config"] = .string(JSONWriter.compact(.object(configuration)))
        header["__metadata__"] = .object(metadata)
        var text = Array(JSONWriter.compact(.object(header)).utf8)
        while (8 + text.count) % 8 != 0 { text.append(0x20) }
        let newLength = (0..<8).map { UInt8((text.count >> (8 * $0)) & 0xFF) }
        try Data(newLength + text + bytes[(8 + length)...]).write(to: URL(fileURLWithPath: destination))
    }
}

/// A tmpfs of a few hundred KiB mounted for one test (root only), filled and freed on demand.
final class SmallDisk {
    let path: String
    private var fillers = 0

    init?(bytes: Int) {
        guard getuid() == 0 else { return nil }
        path = NSTemporaryDirectory() + "llmrec-disk-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard (try? runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", path]))?.status == 0 else { return nil }
    }

    deinit { _ = try? runCommand("/bin/umount", ["-l", path]) }

    /// Writes a file until the disk refuses another byte.
    func fill() {
        fillers += 1
        let fd = open(path + "/filler-\(fillers)", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x66, count: 512)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        var byte: UInt8 = 0x66
        while write(fd, &byte, 1) == 1 {}
    }

    /// Removes what `fill` wrote.
    func free() {
        for index in 1...max(fillers, 1) { unlink(path + "/filler-\(index)") }
    }
}

/// Runs `llmrec` to completion (or kills it after `timeout` seconds, status -1).
func runLLMRec(_ arguments: [String], timeout: TimeInterval = 30, umask mask: mode_t? = nil) throws
    -> (status: Int32, standardError: String)
{
    if let mask {
        let quoted = ([DaemonHarness.executable] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return try runCommand("/bin/sh", ["-c", "umask \(String(mask, radix: 8)); exec " + quoted.joined(separator: " ")], timeout: timeout)
    }
    return try runCommand(DaemonHarness.executable, arguments, timeout: timeout)
}

/// Runs a program with no input to completion (or kills it after `timeout` seconds, status -1).
func runCommand(_ executable: String, _ arguments: [String], timeout: TimeInterval = 30) throws -> (status: Int32, standardError: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    let errors = Pipe()
    process.standardError = errors
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning {
        process.interrupt()
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return (-1, "")
    }
    let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return (process.terminationReason == .exit ? process.terminationStatus : -1, text)
}
