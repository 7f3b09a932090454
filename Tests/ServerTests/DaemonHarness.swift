import Foundation
import JSON
import Testing

/// Runs the real `llmrec` daemon for a test and talks framed JSON-RPC to it.
final class DaemonHarness {
    let process = Process()
    let dataset: String
    let socketPath: String?
    private var stdio: FramedChannel?
    private let stderrPipe = Pipe()

    static var executable: String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("llmrec").path),
            directory.pathComponents.count > 1
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("llmrec").path
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Prepares the Amazon 2023 fixture (Tests/DatasetsTests/Fixtures) into a fresh directory.
    static func prepareFixtureDataset() throws -> String {
        let fixtures = repositoryRoot.appendingPathComponent("Tests/DatasetsTests/Fixtures").path
        let out = NSTemporaryDirectory() + "llmrec-server-\(UUID().uuidString)"
        let prepare = Process()
        prepare.executableURL = URL(fileURLWithPath: executable)
        prepare.arguments = [
            "prepare", "--format", "amazon2023", "--reviews", fixtures + "/amazon2023_reviews.jsonl",
            "--meta", fixtures + "/amazon2023_meta.jsonl", "--out", out, "--quiet",
        ]
        prepare.standardError = FileHandle.nullDevice
        try prepare.run()
        prepare.waitUntilExit()
        try #require(prepare.terminationStatus == 0, "llmrec prepare failed")
        return out
    }

    /// Starts `llmrec serve` on stdio, or on a socket when `socket` is true.
    init(socket: Bool = false, dataset: String? = nil, extraArguments: [String] = []) throws {
        self.dataset = try dataset ?? Self.prepareFixtureDataset()
        socketPath = socket ? "/tmp/llmrec-test-\(UUID().uuidString.prefix(12)).sock" : nil
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["serve"] + (socketPath.map { ["--socket", $0] } ?? ["--stdio"])
            + ["--data", self.dataset] + extraArguments
        process.standardError = stderrPipe
        if socketPath == nil {
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            stdio = FramedChannel(
                readFD: output.fileHandleForReading.fileDescriptor, writeFD: input.fileHandleForWriting.fileDescriptor,
                keepAlive: [input, output])
        } else {
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let deadline = Date().addingTimeInterval(20)
            while !FileManager.default.fileExists(atPath: socketPath!), Date() < deadline, process.isRunning {
                usleep(20_000)
            }
            try #require(FileManager.default.fileExists(atPath: socketPath!), "daemon did not create its socket")
        }
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// The stdio channel (stdio mode only).
    var channel: FramedChannel { stdio! }

    /// A new connection to the socket (socket mode only).
    func connect() throws -> FramedChannel {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in socketPath!.utf8.enumerated() { raw[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(result == 0, "connect failed: errno \(errno)")
        return FramedChannel(readFD: fd, writeFD: fd, keepAlive: [])
    }

    /// Waits for the daemon to exit; returns its status, or nil after `timeout` seconds.
    func waitForExit(timeout: TimeInterval = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    var standardError: String {
        String(decoding: stderrPipe.fileHandleForReading.availableData, as: UTF8.self)
    }
}

/// Framed JSON-RPC over a pair of file descriptors, with read timeouts.
final class FramedChannel {
    let readFD: Int32
    let writeFD: Int32
    private var buffer: [UInt8] = []
    private let keepAlive: [Any]
    private var closed = false

    init(readFD: Int32, writeFD: Int32, keepAlive: [Any]) {
        self.readFD = readFD
        self.writeFD = writeFD
        self.keepAlive = keepAlive
    }

    deinit { if readFD == writeFD { closeConnection() } }

    func closeConnection() {
        guard !closed else { return }
        closed = true
        close(readFD)
    }

    /// Writes raw bytes (for malformed frames).
    @discardableResult
    func writeRaw(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(writeFD, $0.baseAddress! + offset, $0.count - offset) }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    func send(_ message: JSONValue) {
        let body = Array(JSONWriter.compact(message).utf8)
        writeRaw(Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body)
    }

    func request(_ id: Int, _ method: String, _ params: JSONValue? = nil) {
        var message: JSONObject = ["jsonrpc": "2.0", "id": .integer(id), "method": .string(method)]
        if let params { message["params"] = params }
        send(.object(message))
    }

    func notify(_ method: String, _ params: JSONValue? = nil) {
        var message: JSONObject = ["jsonrpc": "2.0", "method": .string(method)]
        if let params { message["params"] = params }
        send(.object(message))
    }

    /// The next message, or nil on end of stream or after `timeout` seconds.
    func receive(timeout: TimeInterval = 10) -> JSONValue? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let message = takeMessage() { return message }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return nil }
            var descriptor = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, Int32(remaining * 1000)) > 0 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
            guard count > 0 else { return nil }
            buffer += chunk[0..<count]
        }
    }

    /// Receives until a response with `id` arrives; other messages are returned alongside.
    func response(to id: Int, timeout: TimeInterval = 10) -> (response: JSONValue?, others: [JSONValue]) {
        var others: [JSONValue] = []
        while let message = receive(timeout: timeout) {
            if message["id"] == .integer(id) { return (message, others) }
            others.append(message)
        }
        return (nil, others)
    }

    func initialize() {
        request(1, "initialize", ["clientInfo": ["name": "swift-tests"]])
        _ = response(to: 1)
    }

    private func takeMessage() -> JSONValue? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let headerEnd = buffer.firstRange(of: separator) else { return nil }
        let header = String(decoding: buffer[..<headerEnd.lowerBound], as: UTF8.self)
        guard let lengthText = header.split(separator: ":").last, let length = Int(lengthText.trimmingCharacters(in: .whitespaces))
        else { return nil }
        let bodyStart = headerEnd.upperBound
        guard buffer.count - bodyStart >= length else { return nil }
        let body = Array(buffer[bodyStart..<(bodyStart + length)])
        buffer.removeFirst(bodyStart + length)
        return try? JSONValue.parse(body)
    }
}
