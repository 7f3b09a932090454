import Foundation

/// Why a Redis command got no usable answer.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server could not be reached, or the connection broke or timed out: the command's
    /// effect is unknown only for the command in flight when it broke (see `RedisConnection`).
    case unreachable(String)
    /// The server's bytes are not RESP2; the connection is dropped.
    case protocolViolation(String)
    /// The server answered with an error reply.
    case server(String)

    public var description: String {
        switch self {
        case .unreachable(let reason): return "Redis is unreachable (\(reason))"
        case .protocolViolation(let reason): return "Redis sent a malformed reply (\(reason))"
        case .server(let message): return "Redis refused the command: \(message)"
        }
    }
}

/// One blocking connection to a Redis server, opened on first use and again after it breaks.
///
/// Every call waits at most `timeout` seconds for the connection, for sending, and for each reply;
/// past that (or on any I/O error) the connection is closed and the call throws `.unreachable`, so
/// a later call starts a fresh connection. A command that was sent when the connection broke may or
/// may not have been applied by the server; callers that must know write idempotent commands or
/// read back.
///
/// Not thread-safe: one owner thread at a time.
public final class RedisConnection {
    public let endpoint: RedisEndpoint
    public let timeout: Double
    private var descriptor: Int32 = -1
    private var parser = RedisReplyParser()
    /// SHA1 digests of the scripts loaded on this connection's server (`SCRIPT LOAD`), by source.
    private var scriptDigests: [String: String] = [:]

    public init(endpoint: RedisEndpoint, timeout: Double = 2) {
        self.endpoint = endpoint
        self.timeout = timeout
    }

    deinit { disconnect() }

    public var isConnected: Bool { descriptor >= 0 }

    /// Closes the connection; the next command opens a new one.
    public func disconnect() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        parser = RedisReplyParser()
        scriptDigests = [:]
    }

    /// The arguments of `EVALSHA` for a Lua script (loading it first when this connection has not
    /// yet), so that Redis neither receives nor hashes the script's text on every call. A reply
    /// that starts with `NOSCRIPT` (the server's scripts were flushed) is answered by calling
    /// `forgetScripts()` and trying again.
    public func scriptCall(_ source: String, keys: [String], arguments: [String]) throws(RedisError) -> [[UInt8]] {
        let digest: String
        if let known = scriptDigests[source] {
            digest = known
        } else {
            guard let loaded = try command(["SCRIPT", "LOAD", source]).text else { throw .protocolViolation("SCRIPT LOAD gave no digest") }
            scriptDigests[source] = loaded
            digest = loaded
        }
        return (["EVALSHA", digest, String(keys.count)] + keys + arguments).map { Array($0.utf8) }
    }

    /// Runs a Lua script (`EVALSHA`, loading it when needed); an error reply throws `.server`.
    public func evaluate(_ source: String, keys: [String], arguments: [String]) throws(RedisError) -> RedisReply {
        let reply = try pipeline([try scriptCall(source, keys: keys, arguments: arguments)])[0]
        if case .error(let message) = reply {
            guard message.hasPrefix("NOSCRIPT") else { throw .server(message) }
            forgetScripts()
            return try command(try scriptCall(source, keys: keys, arguments: arguments))
        }
        return reply
    }

    /// Forgets which scripts the server holds (after a `NOSCRIPT` reply).
    public func forgetScripts() { scriptDigests = [:] }

    /// Sends one command and returns its reply; an error reply throws `.server`.
    @discardableResult
    public func command(_ arguments: [String]) throws(RedisError) -> RedisReply {
        try command(arguments.map { Array($0.utf8) })
    }

    @discardableResult
    public func command(_ arguments: [[UInt8]]) throws(RedisError) -> RedisReply {
        let reply = try pipeline([arguments])[0]
        if case .error(let message) = reply { throw .server(message) }
        return reply
    }

    /// Sends the commands in one write and reads their replies in order. Error replies are returned
    /// as `.error`, not thrown.
    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        try connectIfNeeded()
        var output: [UInt8] = []
        for arguments in commands { RedisCommandEncoder.encode(arguments, into: &output) }
        do {
            try send(output)
            var replies: [RedisReply] = []
            replies.reserveCapacity(commands.count)
            while replies.count < commands.count { replies.append(try receiveReply()) }
            return replies
        } catch {
            disconnect()
            throw error
        }
    }

    // MARK: Connection

    private func connectIfNeeded() throws(RedisError) {
        guard descriptor < 0 else { return }
        descriptor = try Self.open(endpoint.address, timeout: timeout)
        var setup: [[[UInt8]]] = []
        if let password = endpoint.password { setup.append([Array("AUTH".utf8), Array(password.utf8)]) }
        if endpoint.database != 0 { setup.append([Array("SELECT".utf8), Array(String(endpoint.database).utf8)]) }
        guard !setup.isEmpty else { return }
        let replies = try pipeline(setup)
        if let failure = replies.first(where: { if case .error = $0 { true } else { false } }), case .error(let message) = failure {
            disconnect()
            throw .server(message)
        }
    }

    /// A connected, blocking socket with send and receive timeouts.
    private static func open(_ address: RedisEndpoint.Address, timeout: Double) throws(RedisError) -> Int32 {
        switch address {
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw .unreachable("socket: \(String(cString: strerror(errno)))") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
            }
            do throws(RedisError) {
                try withUnsafePointer(to: &address) { pointer throws(RedisError) in
                    try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(RedisError) in
                        try connect(fd, raw, socklen_t(MemoryLayout<sockaddr_un>.size), timeout: timeout)
                    }
                }
            } catch {
                close(fd)
                throw error
            }
            return fd
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_family = AF_UNSPEC
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &list)
            guard status == 0, let first = list else {
                throw .unreachable("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
            }
            defer { freeaddrinfo(list) }
            var lastError = RedisError.unreachable("no address for \(host)")
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let current = entry {
                entry = current.pointee.ai_next
                let fd = socket(current.pointee.ai_family, current.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), current.pointee.ai_protocol)
                guard fd >= 0 else { continue }
                do throws(RedisError) {
                    try connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen, timeout: timeout)
                    var one: Int32 = 1
                    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    return fd
                } catch {
                    close(fd)
                    lastError = error
                }
            }
            throw lastError
        }
    }

    /// Connects within `timeout` seconds, then sets the send and receive timeouts.
    private static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t, timeout: Double) throws(RedisError) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        if Glibc.connect(fd, address, length) != 0 {
            guard errno == EINPROGRESS || errno == EAGAIN else { throw .unreachable(String(cString: strerror(errno))) }
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, Int32(timeout * 1000))
            guard ready > 0 else { throw .unreachable(ready == 0 ? "connect timed out after \(timeout) s" : String(cString: strerror(errno))) }
            var failure: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &size)
            guard failure == 0 else { throw .unreachable(String(cString: strerror(failure))) }
        }
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var interval = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
    }

    // MARK: I/O

    private func send(_ bytes: [UInt8]) throws(RedisError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw .unreachable(Self.ioFailure("send")) }
            offset += written
        }
    }

    private func receiveReply() throws(RedisError) -> RedisReply {
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            if let reply = try parser.parse() { return reply }
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw .unreachable(count == 0 ? "the server closed the connection" : Self.ioFailure("receive")) }
            chunk.withUnsafeBytes { parser.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    private static func ioFailure(_ operation: String) -> String {
        errno == EAGAIN || errno == EWOULDBLOCK ? "\(operation) timed out" : "\(operation): \(String(cString: strerror(errno)))"
    }
}
