import CUV
import Foundation

/// The longest socket path `sun_path` holds with its terminating NUL.
public let maxSocketPathBytes = 107

/// Accepts connections on a Unix domain socket created with mode 0600, or on a listening socket
/// inherited from a service manager (systemd socket activation).
///
/// A daemon that binds holds an exclusive lock on `PATH.lock` for as long as it listens, so two
/// daemons started at once on one path cannot both bind (the second is refused). An existing socket
/// file that nobody listens on (a crashed daemon's) is then replaced; a live one, or any other kind
/// of file at the path, is refused. Paths over 107 bytes are refused instead of being truncated
/// silently by the kernel interface. Loop thread only.
public final class SocketListener {
    /// The socket's path; nil for an inherited socket, whose file belongs to the service manager.
    public let path: String?
    private let server: UnsafeMutablePointer<uv_pipe_t>
    private let loop: EventLoop
    private let onConnection: (AcceptedStream) -> Void
    private var closed = false
    /// The descriptor holding `PATH.lock`; -1 for an inherited socket.
    private var lock: Int32 = -1

    /// Binds and listens on `path`.
    /// - onConnection: receives each accepted client; wrap it with `Connection.accepted`.
    public init(
        loop: EventLoop, path: String, onConnection: @escaping (AcceptedStream) -> Void
    ) throws(TransportError) {
        self.path = path
        self.loop = loop
        self.onConnection = onConnection
        let length = path.utf8.count
        guard length <= maxSocketPathBytes else {
            throw .socketPathTooLong(path: path, bytes: length, limit: maxSocketPathBytes)
        }
        lock = try Self.lockSocketPath(path)
        do {
            try Self.clearStaleSocket(at: path)
        } catch {
            Glibc.close(lock)
            throw error
        }
        server = .allocate(capacity: 1)
        try TransportError.check(uv_pipe_init(loop.raw, server, 0), "uv_pipe_init")
        let previousMask = umask(0o177)
        let bound = uv_pipe_bind(server, path)
        umask(previousMask)
        guard bound == 0 else {
            closeHandle(server)
            Glibc.close(lock)
            throw .libuv(operation: "bind \(path)", message: uvMessage(bound))
        }
        chmod(path, 0o600)
        try listen()
    }

    /// Listens on `descriptor`, a bound, listening Unix socket this process inherited (systemd's
    /// `LISTEN_FDS`, starting at descriptor 3). Closing stops accepting but leaves the socket file.
    public init(
        loop: EventLoop, inheritedDescriptor descriptor: Int32, onConnection: @escaping (AcceptedStream) -> Void
    ) throws(TransportError) {
        path = nil
        self.loop = loop
        self.onConnection = onConnection
        server = .allocate(capacity: 1)
        try TransportError.check(uv_pipe_init(loop.raw, server, 0), "uv_pipe_init")
        let opened = uv_pipe_open(server, descriptor)
        guard opened == 0 else {
            closeHandle(server)
            throw .libuv(operation: "open inherited socket \(descriptor)", message: uvMessage(opened))
        }
        try listen()
    }

    private func listen() throws(TransportError) {
        server.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let listening = uv_listen(asStream(server), 128) { stream, status in
            guard let stream, status == 0, let data = stream.pointee.data else { return }
            Unmanaged<SocketListener>.fromOpaque(data).takeUnretainedValue().accept()
        }
        guard listening == 0 else {
            close()
            throw .libuv(operation: "listen \(path ?? "inherited socket")", message: uvMessage(listening))
        }
    }

    private func accept() {
        let client = UnsafeMutablePointer<uv_pipe_t>.allocate(capacity: 1)
        guard uv_pipe_init(loop.raw, client, 0) == 0 else {
            client.deallocate()
            return
        }
        guard uv_accept(asStream(server), asStream(client)) == 0 else {
            closeHandle(client)
            return
        }
        onConnection(AcceptedStream(raw: asStream(client)))
    }

    /// Stops listening, removes the socket file (unless inherited) and releases its lock.
    public func close() {
        guard !closed else { return }
        closed = true
        server.pointee.data = nil
        closeHandle(server)
        if let path { unlink(path) }
        if lock >= 0 { Glibc.close(lock) }
        lock = -1
    }

    /// Takes the exclusive lock on `path.lock` (created 0600, never through a link), or refuses.
    private static func lockSocketPath(_ path: String) throws(TransportError) -> Int32 {
        let fd = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw .socketPathInUse(path: path, reason: "cannot open its lock file: \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(fd)
            throw .socketPathInUse(path: path, reason: "another daemon holds this socket")
        }
        return fd
    }

    private static func clearStaleSocket(at path: String) throws(TransportError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw .socketPathInUse(path: path, reason: "exists and is not a socket; refusing to replace it")
        }
        if isListening(path) {
            throw .socketPathInUse(path: path, reason: "another process is listening on this socket")
        }
        unlink(path)
    }

    /// Whether a process accepts connections on the socket at `path` (a blocking connect attempt).
    private static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() where index < raw.count - 1 { raw[index] = byte }
        }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }
}

/// The daemon's stdin/stdout as one connection.
///
/// libuv can poll pipes and terminals but aborts on regular files and /dev/null; those are read by a
/// dedicated thread that hands chunks to the loop through a mailbox, and written with blocking
/// writes. Loop thread only, except the reader thread's `post`.
public enum StdioTransport {
    public static func open(
        loop: EventLoop, id: Int, maxMessageBytes: Int, maxPendingWriteBytes: Int
    ) throws(TransportError) -> (connection: Connection, inputMailbox: LoopMailbox<StdinChunk>?) {
        let output: Connection.Output
        switch uv_guess_handle(1) {
        case UV_NAMED_PIPE:
            let pipe = UnsafeMutablePointer<uv_pipe_t>.allocate(capacity: 1)
            try TransportError.check(uv_pipe_init(loop.raw, pipe, 0), "uv_pipe_init(stdout)")
            try TransportError.check(uv_pipe_open(pipe, 1), "uv_pipe_open(stdout)")
            output = .stream(asStream(pipe))
        case UV_TTY:
            let tty = UnsafeMutablePointer<uv_tty_t>.allocate(capacity: 1)
            try TransportError.check(uv_tty_init(loop.raw, tty, 1, 0), "uv_tty_init(stdout)")
            output = .stream(asStream(tty))
        default:
            output = .blockingFile(1)
        }

        var input: UnsafeMutablePointer<uv_stream_t>?
        switch uv_guess_handle(0) {
        case UV_NAMED_PIPE:
            let pipe = UnsafeMutablePointer<uv_pipe_t>.allocate(capacity: 1)
            try TransportError.check(uv_pipe_init(loop.raw, pipe, 0), "uv_pipe_init(stdin)")
            try TransportError.check(uv_pipe_open(pipe, 0), "uv_pipe_open(stdin)")
            input = asStream(pipe)
        case UV_TTY:
            let tty = UnsafeMutablePointer<uv_tty_t>.allocate(capacity: 1)
            try TransportError.check(uv_tty_init(loop.raw, tty, 0, 1), "uv_tty_init(stdin)")
            input = asStream(tty)
        default:
            input = nil
        }
        let connection = Connection(
            id: id, input: input, output: output, maxMessageBytes: maxMessageBytes,
            maxPendingWriteBytes: maxPendingWriteBytes)
        if input != nil {
            try connection.startReading()
            return (connection, nil)
        }
        let mailbox = try LoopMailbox<StdinChunk>(loop: loop) { [weak connection] chunk in
            guard let connection else { return }
            switch chunk {
            case .bytes(let bytes): bytes.withUnsafeBytes { connection.receive($0) }
            case .end: connection.inputEnded()
            }
        }
        Thread.detachNewThread { readStdinForever(into: mailbox) }
        return (connection, mailbox)
    }
}

/// What the stdin reader thread hands to the loop.
public enum StdinChunk: Sendable {
    case bytes([UInt8])
    case end
}

private func readStdinForever(into mailbox: LoopMailbox<StdinChunk>) {
    var buffer = [UInt8](repeating: 0, count: 64 << 10)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if count > 0 {
            mailbox.post(.bytes(Array(buffer[0..<count])))
        } else if count < 0 && errno == EINTR {
            continue
        } else {
            mailbox.post(.end)
            return
        }
    }
}

/// A client stream a `SocketListener` accepted, not yet wrapped in a `Connection`.
public struct AcceptedStream {
    let raw: UnsafeMutablePointer<uv_stream_t>
}

extension Connection {
    /// Wraps an accepted client stream (socket mode): the stream is both input and output.
    public static func accepted(
        _ stream: AcceptedStream, id: Int, maxMessageBytes: Int, maxPendingWriteBytes: Int
    ) throws(TransportError) -> Connection {
        let connection = Connection(
            id: id, input: stream.raw, output: .stream(stream.raw), maxMessageBytes: maxMessageBytes,
            maxPendingWriteBytes: maxPendingWriteBytes)
        try connection.startReading()
        return connection
    }
}
