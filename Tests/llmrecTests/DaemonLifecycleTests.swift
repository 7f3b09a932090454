import Foundation
import JSON
import Testing

/// Private runtime, configuration and state directories for a shared daemon of a test's own (the
/// `XDG_*` variables every client and the daemon read), and the daemon's removal afterwards.
final class SharedDaemon {
    let root: String
    var environment: [String: String]

    init(settings: JSONObject? = nil) throws {
        root = NSTemporaryDirectory() + "llmrec-shared-\(UUID().uuidString.prefix(8))"
        environment = ["XDG_RUNTIME_DIR": root + "/run", "XDG_CONFIG_HOME": root + "/config", "XDG_STATE_HOME": root + "/state"]
        try FileManager.default.createDirectory(atPath: root + "/run", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(atPath: root + "/config/llmrec", withIntermediateDirectories: true)
        if let settings { try write(settings) }
    }

    deinit { _ = try? CommandLineTests.run(["stop"], environment: environment) }

    var socketPath: String { root + "/run/llmrec/llmrec.sock" }
    var configPath: String { root + "/config/llmrec/config.json" }

    func write(_ settings: JSONObject) throws {
        try Data(JSONWriter.compact(.object(settings)).utf8).write(to: URL(fileURLWithPath: configPath))
    }

    /// `llmrec start`, several at once: each one's (status, stdout, stderr).
    func start(concurrently count: Int) throws -> [CommandLineTests.Result] {
        let results = StartResults(count: count)
        let environment = self.environment
        DispatchQueue.concurrentPerform(iterations: count) { index in
            results.set(index, try? CommandLineTests.run(["start"], environment: environment))
        }
        return results.all
    }
}

private final class StartResults: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [CommandLineTests.Result?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: CommandLineTests.Result?) {
        lock.lock()
        values[index] = value
        lock.unlock()
    }
    var all: [CommandLineTests.Result] { values.compactMap { $0 } }
}

/// One framed JSON-RPC exchange at a time over a Unix socket.
final class SocketConnection {
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw CocoaError(.fileNoSuchFile)
        }
    }

    deinit { close(fd) }

    /// Sends a request and returns its response (nil on end of stream).
    func request(_ id: Int, _ method: String, _ params: JSONValue = [:]) -> JSONValue? {
        let body = Array(JSONWriter.compact(["jsonrpc": "2.0", "id": .integer(id), "method": .string(method), "params": params]).utf8)
        let frame = Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
        _ = frame.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        while true {
            if let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)),
                let length = Int(String(decoding: buffer[..<end.lowerBound], as: UTF8.self).split(separator: ":").last?
                    .trimmingCharacters(in: .whitespaces) ?? ""),
                buffer.count - end.upperBound >= length
            {
                let message = try? JSONValue.parse(Array(buffer[end.upperBound..<(end.upperBound + length)]))
                buffer.removeFirst(end.upperBound + length)
                if message?["id"] == .integer(id) { return message }
                continue
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { return nil }
            buffer += chunk[0..<count]
        }
    }
}

/// The user's shared daemon: found or started by every client, one per user, configured by its
/// file, socket-activated, stopped when idle.
@Suite(.serialized) struct DaemonLifecycleTests {
    private func processExists(_ pid: Int64) -> Bool { kill(pid_t(pid), 0) == 0 }

    private func daemonID(_ result: CommandLineTests.Result) -> Int64? {
        result.stderr.split(separator: "\n").compactMap { line -> Int64? in
            guard line.hasPrefix("llmrec: daemon "), line.hasSuffix(" is running") else { return nil }
            return Int64(line.dropFirst("llmrec: daemon ".count).dropLast(" is running".count))
        }.first
    }

    @Test func tenClientsStartingAtOnceLeaveExactlyOneDaemon() throws {
        let data = try ChatCommandTests.prepared()
        let shared = try SharedDaemon(settings: ["data": .string(data)])
        let results = try shared.start(concurrently: 10)
        try #require(results.count == 10)
        for result in results {
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == shared.socketPath + "\n")
        }
        let ids = Set(results.compactMap(daemonID))
        #expect(ids.count == 1, "one daemon for all ten: \(ids)")
        let log = try String(contentsOfFile: shared.root + "/run/llmrec/llmrec.log", encoding: .utf8)
        #expect(log.components(separatedBy: "listening on").count - 1 == 1, "one daemon started: \(log)")
        // A client of its own and a chat reach the same daemon, which counts them.
        let connection = try SocketConnection(path: shared.socketPath)
        _ = connection.request(1, "initialize")
        let before = connection.request(2, "server/status")?["result"]
        let chat = try CommandLineTests.run(["chat", "--json", "--no-answer", "--message", "skin care"], environment: shared.environment)
        #expect(chat.status == 0, "\(chat.stderr)")
        let after = connection.request(3, "server/status")?["result"]
        #expect(after?["processId"] == before?["processId"])
        #expect((after?["connectionsAccepted"]?.intValue ?? 0) == (before?["connectionsAccepted"]?.intValue ?? 0) + 1)
        let status = try CommandLineTests.run(["status"], environment: shared.environment)
        #expect(status.status == 0 && status.stdout.contains("llmrec daemon \(ids.first ?? 0) on \(shared.socketPath)"))
        let stop = try CommandLineTests.run(["stop"], environment: shared.environment)
        #expect(stop.status == 0)
        #expect(!processExists(ids.first ?? 0))
        #expect(try CommandLineTests.run(["status"], environment: shared.environment).status == 3)
    }

    @Test func anIdleDaemonExitsAndItsSessionsSurvive() throws {
        let data = try ChatCommandTests.prepared()
        let shared = try SharedDaemon(settings: ["data": .string(data), "idleExit": 1])
        let first = try #require(try shared.start(concurrently: 1).first)
        let pid = try #require(daemonID(first))
        do {
            let connection = try SocketConnection(path: shared.socketPath)
            _ = connection.request(1, "initialize")
            #expect(connection.request(2, "session/open", ["sessionId": "kept", "history": [1, 2]])?["result"] != nil)
        }
        let deadline = Date().addingTimeInterval(15)
        while processExists(pid) && Date() < deadline { usleep(100_000) }
        #expect(!processExists(pid), "the daemon exits after a second without a connection")
        let second = try #require(try shared.start(concurrently: 1).first)
        #expect(daemonID(second) != pid)
        let connection = try SocketConnection(path: shared.socketPath)
        _ = connection.request(1, "initialize")
        let session = connection.request(2, "session/get", ["sessionId": "kept"])?["result"]
        #expect(session?["history"] == [1, 2], "the session outlived the daemon (journal in XDG_STATE_HOME)")
    }

    @Test func aConfigurationFileSetsEveryKeyAndABadOneIsNamed() throws {
        let data = try ChatCommandTests.prepared()
        let shared = try SharedDaemon()
        let settings: JSONObject = [
            "data": .string(data), "state": .string(shared.root + "/journal"), "socket": .string(shared.root + "/run/custom.sock"),
            "recommender": "popularity", "bundle": nil, "encoder": nil, "encoderPrecision": "f32", "lm": nil, "lmThreads": 2,
            "embeddingThreads": 2, "itemNoun": "product", "chatCacheSessions": 3, "chatCacheTokens": 512, "maxQueuedPerLane": 7,
            "maxMessageBytes": 65536, "maxSessions": 99, "sessionTtl": 600, "idleExit": 300, "logLevel": "debug",
        ]
        // Null values are not allowed: every key present takes a value of its type.
        var present = settings
        for key in ["bundle", "encoder", "lm"] { present[key] = nil }
        try shared.write(present)
        let started = try #require(try shared.start(concurrently: 1).first)
        #expect(started.status == 0, "\(started.stderr)")
        #expect(started.stdout == shared.root + "/run/custom.sock\n", "the socket comes from the file")
        let connection = try SocketConnection(path: shared.root + "/run/custom.sock")
        let limits = connection.request(1, "initialize")?["result"]?["limits"]
        #expect(limits?["maxQueuedPerLane"] == 7 && limits?["maxMessageBytes"] == 65536 && limits?["maxSessions"] == 99)
        #expect(limits?["sessionTtlSeconds"]?.doubleValue == 600)
        #expect(connection.request(2, "model/status")?["result"]?["recommender"]?["name"] == "popularity")
        #expect(FileManager.default.fileExists(atPath: shared.root + "/journal/sessions.journal"), "the journal goes to \"state\"")
        let log = try String(contentsOfFile: shared.root + "/run/llmrec.log", encoding: .utf8)
        #expect(log.contains(" info llmrec serve"), "log lines carry a level: \(log)")
        _ = try CommandLineTests.run(["stop"], environment: shared.environment)
        // A daemon on an explicit socket does not read the user's file (whose idleExit would need a
        // journal this one is not given): it starts.
        let explicit = Process()
        explicit.executableURL = URL(fileURLWithPath: CommandLineTests.executable)
        explicit.arguments = ["serve", "--socket", shared.root + "/run/explicit.sock", "--data", data]
        explicit.environment = ProcessInfo.processInfo.environment.merging(shared.environment) { $1 }
        explicit.standardError = FileHandle.nullDevice
        try explicit.run()
        let deadline = Date().addingTimeInterval(20)
        while explicit.isRunning && !FileManager.default.fileExists(atPath: shared.root + "/run/explicit.sock") && Date() < deadline {
            usleep(20_000)
        }
        #expect(FileManager.default.fileExists(atPath: shared.root + "/run/explicit.sock"), "serve --socket ignores the user's file")
        explicit.terminate()
        explicit.waitUntilExit()

        for (key, value, message) in [
            ("lmThreads", JSONValue.string("two"), "key 'lmThreads' must be an integer of at least 1"),
            ("colour", JSONValue.string("red"), "unknown key 'colour'"), ("logLevel", "loud", "key 'logLevel' must be one of"),
            ("encoderPrecision", "f16", "key 'encoderPrecision' must be \"bf16\" or \"f32\""),
            ("store", "http://:secret@cache", "key 'store' must be redis://HOST[:PORT][/DB] or unix:///PATH[?db=N]: not a Redis URL"),
        ] {
            var bad = present
            bad[key] = value
            try shared.write(bad)
            let refused = try CommandLineTests.run(["serve"], environment: shared.environment)
            #expect(refused.status == 1)
            #expect(refused.stderr.contains(shared.configPath) && refused.stderr.contains(message), "\(refused.stderr)")
            #expect(!refused.stderr.contains("secret"), "a password in the file is never printed")
        }
    }

    @Test func socketActivationServesTheInheritedSocket() throws {
        let activate = "/usr/bin/systemd-socket-activate"
        guard FileManager.default.isExecutableFile(atPath: activate) else { return }  // Debian's systemd package.
        let data = try ChatCommandTests.prepared()
        let shared = try SharedDaemon(settings: ["data": .string(data)])
        let socket = shared.root + "/run/activated.sock"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: activate)
        // systemd-socket-activate passes on only the environment named with -E.
        process.arguments = ["-l", socket] + shared.environment.sorted { $0.key < $1.key }.flatMap { ["-E", "\($0.key)=\($0.value)"] }
            + [CommandLineTests.executable, "serve", "--idle-exit", "30"]
        process.environment = ProcessInfo.processInfo.environment.merging(shared.environment) { $1 }
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socket) && Date() < deadline { usleep(20_000) }
        // The first connection makes systemd-socket-activate exec the daemon with LISTEN_FDS.
        let connection = try SocketConnection(path: socket)
        #expect(connection.request(1, "initialize")?["result"]?["serverInfo"]?["name"] == "llmrec")
        let status = connection.request(2, "server/status")?["result"]
        #expect(status?["processId"]?.intValue == Int64(process.processIdentifier), "the daemon is the activated process")
        #expect(connection.request(3, "session/open", ["sessionId": "a"])?["result"] != nil)
        #expect(FileManager.default.fileExists(atPath: shared.root + "/state/llmrec/sessions.journal"), "it journals by default")
    }

    @Test func completionScriptsNameTheCommands() throws {
        for shell in ["bash", "zsh", "fish"] {
            let script = try CommandLineTests.run(["--generate-completion-script", shell])
            #expect(script.status == 0)
            for command in ["serve", "start", "status", "stop", "chat", "idle-exit", "log-level"] {
                #expect(script.stdout.contains(command), "\(shell) completion lacks \(command)")
            }
        }
    }
}
