import CUV
import Foundation

/// Errors starting transports.
public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    case socketPathTooLong(path: String, bytes: Int, limit: Int)
    case socketPathInUse(path: String, reason: String)
    case libuv(operation: String, message: String)
    case stdioUnsupported(reason: String)

    public var description: String {
        switch self {
        case .socketPathTooLong(let path, let bytes, let limit):
            return "socket path is \(bytes) bytes, the limit is \(limit): \(path)"
        case .socketPathInUse(let path, let reason): return "\(path): \(reason)"
        case .libuv(let operation, let message): return "\(operation) failed: \(message)"
        case .stdioUnsupported(let reason): return "stdio transport: \(reason)"
        }
    }

    static func check(_ status: Int32, _ operation: String) throws(TransportError) {
        guard status == 0 else { throw .libuv(operation: operation, message: uvMessage(status)) }
    }
}

func uvMessage(_ status: Int32) -> String { String(cString: uv_strerror(status)) }

/// A libuv event loop. Everything in this module except `LoopMailbox.post` must be called on the
/// thread that runs the loop.
public final class EventLoop {
    let raw: UnsafeMutablePointer<uv_loop_t>

    public init() throws(TransportError) {
        raw = .allocate(capacity: 1)
        try TransportError.check(uv_loop_init(raw), "uv_loop_init")
    }

    /// Runs until no active handle remains or `stop()` is called.
    public func run() {
        uv_run(raw, UV_RUN_DEFAULT)
    }

    /// Makes `run()` return after the current iteration.
    public func stop() {
        uv_stop(raw)
    }

    /// Closes the loop after `run()` returned; runs pending close callbacks first.
    public func close() {
        uv_run(raw, UV_RUN_NOWAIT)
        if uv_loop_close(raw) == 0 { raw.deallocate() }
    }

    /// Milliseconds on libuv's monotonic clock (cached per loop iteration).
    public var nowMilliseconds: UInt64 { uv_now(raw) }
}

/// Closes a libuv handle and frees its memory (allocated as `T`) once libuv is done with it.
func closeHandle<T>(_ handle: UnsafeMutablePointer<T>) {
    let raw = UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)
    guard uv_is_closing(raw) == 0 else { return }
    uv_close(raw) { closed in
        closed?.deallocate()
    }
}

@inline(__always) func asStream<T>(_ pointer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<uv_stream_t> {
    UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: uv_stream_t.self)
}

@inline(__always) func asHandle<T>(_ pointer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<uv_handle_t> {
    UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: uv_handle_t.self)
}
