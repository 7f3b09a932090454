import Foundation
import JSON
import JSONRPC
import LLMRecProtocol

/// Errors of the blocking client.
public enum RPCClientError: Error, Sendable, CustomStringConvertible {
    case cannotConnect(String)
    case closed
    case protocolError(String)
    /// The daemon answered with an error.
    case response(ResponseError)

    public var description: String {
        switch self {
        case .cannotConnect(let reason): return "cannot reach the daemon: \(reason)"
        case .closed: return "the daemon closed the connection"
        case .protocolError(let reason): return "unexpected message from the daemon: \(reason)"
        case .response(let error): return "daemon error \(error.code): \(error.message)"
        }
    }
}

/// A blocking JSON-RPC client for one daemon: over a Unix socket, or over the stdio of a daemon it
/// starts (`llmrec serve --stdio ...`). One request at a time; notifications that arrive while a
/// request is outstanding go to that request's callback. For command-line tools (`llmrec chat`);
/// not thread-safe.
public final class RPCClient {
    private let input: Int32
    private let output: Int32
    private let process: Process?
    private var framer = MessageFramer()
    private var queued: [JSONValue] = []
    private var nextID = 0

    /// Connects to a daemon listening on `socketPath`.
    public init(socketPath: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RPCClientError.cannotConnect(String(cString: strerror(errno))) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw RPCClientError.cannotConnect("socket path longer than \(MemoryLayout.size(ofValue: address.sun_path) - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw RPCClientError.cannotConnect("\(socketPath): \(reason)")
        }
        input = fd
        output = fd
        process = nil
    }

    /// Starts `executable arguments` (a daemon in stdio mode) and talks to it over its pipes; its
    /// standard error goes to ours.
    public init(spawning executable: String, arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let toDaemon = Pipe()
        let fromDaemon = Pipe()
        process.standardInput = toDaemon
        process.standardOutput = fromDaemon
        do { try process.run() } catch { throw RPCClientError.cannotConnect("cannot start \(executable): \(error)") }
        self.process = process
        input = fromDaemon.fileHandleForReading.fileDescriptor
        output = toDaemon.fileHandleForWriting.fileDescriptor
    }

    deinit {
        if process == nil { Glibc.close(input) }
    }

    /// Sends `initialize` and `initialized`; returns the daemon's result.
    public func initialize(clientName: String) throws -> Initialize.Response {
        let result = try send(Initialize.Request(clientName: clientName))
        try notify(Lifecycle.initialized, [:])
        return result
    }

    /// Sends `request` and waits for its typed response (see `request(_:_:onNotification:shouldCancel:)`).
    /// - Throws: `RPCClientError.response` for an error response, `.protocolError` for a result
    ///   that is not `R.Response`.
    public func send<R: RequestType>(
        _ request: R, onNotification: (String, JSONValue) -> Void = { _, _ in }, shouldCancel: () -> Bool = { false }
    ) throws -> R.Response {
        let result = try self.request(R.method, request.params, onNotification: onNotification, shouldCancel: shouldCancel)
        do { return try R.Response(json: result) } catch {
            throw RPCClientError.protocolError("the result of \(R.method) does not read: \(error)")
        }
    }

    /// Sends a request and waits for its response; `onNotification` receives the notifications that
    /// arrive meanwhile. `shouldCancel` is asked whenever a read is interrupted by a signal or a
    /// notification arrives: when it says yes, `$/cancelRequest` is sent once.
    /// - Throws: `RPCClientError.response` for an error response.
    public func request(
        _ method: String, _ params: JSONValue? = nil, onNotification: (String, JSONValue) -> Void = { _, _ in },
        shouldCancel: () -> Bool = { false }
    ) throws -> JSONValue {
        nextID += 1
        let id = RequestID.int(Int64(nextID))
        var message: JSONObject = ["jsonrpc": "2.0", "id": id.json, "method": .string(method)]
        if let params { message["params"] = params }
        try write(.object(message))
        var cancelSent = false
        while true {
            let incoming = try readMessage {
                if !cancelSent && shouldCancel() {
                    cancelSent = true
                    try? self.notify(Lifecycle.cancelRequest, ["id": id.json])
                }
            }
            if let method = incoming["method"]?.stringValue, incoming["id"] == nil {
                onNotification(method, incoming["params"] ?? .null)
                if !cancelSent && shouldCancel() {
                    cancelSent = true
                    try notify(Lifecycle.cancelRequest, ["id": id.json])
                }
                continue
            }
            guard incoming["id"].flatMap(RequestID.init(json:)) == id else { continue }
            if let error = incoming["error"] {
                throw RPCClientError.response(ResponseError(
                    code: Int(error["code"]?.intValue ?? 0), message: error["message"]?.stringValue ?? "", data: error["data"]))
            }
            return incoming["result"] ?? .null
        }
    }

    public func notify(_ method: String, _ params: JSONValue? = nil) throws {
        var message: JSONObject = ["jsonrpc": "2.0", "method": .string(method)]
        if let params { message["params"] = params }
        try write(.object(message))
    }

    /// `shutdown` then `exit`; waits for a spawned daemon to end and returns its status.
    @discardableResult
    public func close() -> Int32? {
        _ = try? send(Lifecycle.Shutdown())
        try? notify(Lifecycle.exit)
        guard let process else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    private func write(_ message: JSONValue) throws {
        let body = Array(JSONWriter.compact(message).utf8)
        let bytes = MessageFramer.header(forBodyOf: body.count) + body
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(output, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw RPCClientError.closed
            }
            offset += written
        }
    }

    /// The next message; `interrupted` runs when a signal interrupts the wait.
    private func readMessage(interrupted: () throws -> Void) throws -> JSONValue {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while queued.isEmpty {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR {
                    try interrupted()
                    continue
                }
                throw RPCClientError.closed
            }
            if count == 0 { throw RPCClientError.closed }
            let events = buffer.withUnsafeBytes { framer.feed(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            for event in events {
                switch event {
                case .message(let body):
                    guard let value = try? JSONValue.parse(body) else { throw RPCClientError.protocolError("a body that is not JSON") }
                    queued.append(value)
                default:
                    throw RPCClientError.protocolError("broken framing: \(event)")
                }
            }
        }
        return queued.removeFirst()
    }
}
