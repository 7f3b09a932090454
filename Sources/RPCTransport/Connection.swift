import CUV
import Foundation
import JSONRPC

/// What a connection tells its owner. Called on the loop thread.
public protocol ConnectionDelegate: AnyObject {
    /// A complete message body arrived.
    func connection(_ connection: Connection, didReceive body: [UInt8])
    /// A message larger than the limit was announced and skipped.
    func connection(_ connection: Connection, didSkipOversizedMessageOf length: Int)
    /// The framing broke; the connection closes after pending replies are written.
    func connection(_ connection: Connection, didFailFraming reason: String)
    /// The peer's input ended (end of file, or the peer disconnected). Reading has stopped; the
    /// owner decides when to close (after finishing in-flight work, or at once).
    func connectionInputDidEnd(_ connection: Connection)
    /// The connection is closed (by `close()`, or because writing failed). Called once.
    func connectionDidClose(_ connection: Connection)
}

/// One client: a framed byte stream in, framed messages out.
///
/// Input comes from a libuv stream (socket, pipe, tty) or is pushed by `receive(_:)` (stdin that
/// libuv cannot poll: regular files, /dev/null). Output goes to a libuv stream, or to a blocking file
/// descriptor for outputs libuv cannot poll. Writes are queued; when more than
/// `maxPendingWriteBytes` wait for a slow reader, reading from this connection pauses until the
/// backlog halves, so a client that does not read cannot grow the daemon's memory without bound.
/// Loop thread only.
public final class Connection {
    public let id: Int
    public weak var delegate: (any ConnectionDelegate)?
    public let maxPendingWriteBytes: Int
    /// Bytes handed to libuv and not yet written.
    public private(set) var pendingWriteBytes = 0
    public private(set) var isClosed = false

    private var framer: MessageFramer
    private let input: UnsafeMutablePointer<uv_stream_t>?
    private let output: Output
    private var readBuffer: UnsafeMutableRawBufferPointer
    /// Reading paused for backpressure (resumes when the write backlog halves).
    private var readingPaused = false
    /// Reading stopped for good (framing lost, input ended, closed).
    private var readingStopped = false
    private var closeAfterFlush = false
    private var closeNotified = false

    enum Output {
        case stream(UnsafeMutablePointer<uv_stream_t>)
        case blockingFile(Int32)
    }

    init(
        id: Int, input: UnsafeMutablePointer<uv_stream_t>?, output: Output, maxMessageBytes: Int, maxPendingWriteBytes: Int
    ) {
        self.id = id
        self.input = input
        self.output = output
        self.maxPendingWriteBytes = maxPendingWriteBytes
        framer = MessageFramer(maxMessageBytes: maxMessageBytes)
        readBuffer = .allocate(byteCount: 64 << 10, alignment: 16)
    }

    deinit { readBuffer.deallocate() }

    func startReading() throws(TransportError) {
        guard let input else { return }
        input.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        try TransportError.check(uv_read_start(input, connectionAlloc, connectionRead), "uv_read_start")
    }

    /// Feeds bytes read from the peer (loop thread).
    public func receive(_ bytes: UnsafeRawBufferPointer) {
        guard !isClosed, !readingStopped else { return }
        for event in framer.feed(bytes) {
            // A message may stop reception (exit, shutdown of the daemon): later ones in the same read are dropped.
            if readingStopped { return }
            switch event {
            case .message(let body): delegate?.connection(self, didReceive: body)
            case .oversized(let length): delegate?.connection(self, didSkipOversizedMessageOf: length)
            case .framingError(let reason):
                stopReading()
                delegate?.connection(self, didFailFraming: reason)
            }
            if isClosed { return }
        }
    }

    /// The peer's input ended (EOF or read error).
    func inputEnded() {
        stopReading()
        delegate?.connectionInputDidEnd(self)
    }

    /// Stops reading new messages for good (shutdown); queued replies are still written.
    public func stopReceiving() {
        stopReading()
    }

    /// Frames `body` and queues it for writing. Dropped silently when the connection is closed.
    public func send(_ body: [UInt8]) {
        guard !isClosed else { return }
        var message = MessageFramer.header(forBodyOf: body.count)
        message.append(contentsOf: body)
        switch output {
        case .blockingFile(let fd):
            message.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        break
                    }
                    offset += written
                }
            }
        case .stream(let stream):
            let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
            let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: message.count, alignment: 1)
            message.withUnsafeBytes { storage.copyMemory(from: $0) }
            let context = WriteContext(connection: self, storage: storage)
            request.pointee.data = Unmanaged.passRetained(context).toOpaque()
            var buffer = uv_buf_init(storage.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(storage.count))
            pendingWriteBytes += storage.count
            let status = uv_write(request, stream, &buffer, 1, connectionWrote)
            if status != 0 {
                Unmanaged<WriteContext>.fromOpaque(request.pointee.data).release()
                storage.deallocate()
                request.deallocate()
                pendingWriteBytes -= message.count
                close()
                return
            }
            if pendingWriteBytes > maxPendingWriteBytes { pauseReading() }
        }
    }

    func writeFinished(bytes: Int, status: Int32) {
        pendingWriteBytes -= bytes
        if status != 0 {
            close()
            return
        }
        if readingPaused && pendingWriteBytes <= maxPendingWriteBytes / 2 { resumeReading() }
        if closeAfterFlush && pendingWriteBytes == 0 { close() }
    }

    /// Closes once every queued reply is written.
    public func closeWhenFlushed() {
        closeAfterFlush = true
        if pendingWriteBytes == 0 { close() }
    }

    /// Closes now; queued writes are abandoned.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        stopReading()
        if let input {
            input.pointee.data = nil
            closeHandle(input)
        }
        if case .stream(let stream) = output, stream != input {
            closeHandle(stream)
        }
        notifyClosed()
    }

    private func notifyClosed() {
        guard !closeNotified else { return }
        closeNotified = true
        delegate?.connectionDidClose(self)
    }

    private func pauseReading() {
        guard let input, !readingPaused, !readingStopped else { return }
        readingPaused = true
        uv_read_stop(input)
    }

    private func resumeReading() {
        guard let input, readingPaused, !readingStopped else { return }
        readingPaused = false
        uv_read_start(input, connectionAlloc, connectionRead)
    }

    private func stopReading() {
        guard !readingStopped else { return }
        readingStopped = true
        if let input, !readingPaused, uv_is_closing(asHandle(input)) == 0 { uv_read_stop(input) }
    }

    fileprivate var readBufferPointer: UnsafeMutableRawBufferPointer { readBuffer }
}

/// Keeps a write's bytes and its connection alive until libuv reports the write done.
final class WriteContext {
    let connection: Connection
    let storage: UnsafeMutableRawBufferPointer
    init(connection: Connection, storage: UnsafeMutableRawBufferPointer) {
        self.connection = connection
        self.storage = storage
    }
}

private func connectionAlloc(
    handle: UnsafeMutablePointer<uv_handle_t>?, suggested: Int, buffer: UnsafeMutablePointer<uv_buf_t>?
) {
    guard let handle, let buffer, let data = handle.pointee.data else {
        buffer?.pointee = uv_buf_init(nil, 0)
        return
    }
    let storage = Unmanaged<Connection>.fromOpaque(data).takeUnretainedValue().readBufferPointer
    buffer.pointee = uv_buf_init(storage.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(storage.count))
}

private func connectionRead(stream: UnsafeMutablePointer<uv_stream_t>?, count: Int, buffer: UnsafePointer<uv_buf_t>?) {
    guard let stream, let data = stream.pointee.data else { return }
    let connection = Unmanaged<Connection>.fromOpaque(data).takeUnretainedValue()
    if count > 0, let base = buffer?.pointee.base {
        connection.receive(UnsafeRawBufferPointer(start: base, count: count))
    } else if count < 0 {
        connection.inputEnded()
    }
}

private func connectionWrote(request: UnsafeMutablePointer<uv_write_t>?, status: Int32) {
    guard let request else { return }
    let context = Unmanaged<WriteContext>.fromOpaque(request.pointee.data).takeRetainedValue()
    let bytes = context.storage.count
    context.storage.deallocate()
    request.deallocate()
    context.connection.writeFinished(bytes: bytes, status: status)
}
