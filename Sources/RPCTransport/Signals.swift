import CUV
import Foundation

/// Calls a handler on the loop thread when one of the given signals arrives. Also sets SIGPIPE to
/// be ignored, so that writing to a departed client is an error, not the daemon's death, and
/// unblocks the watched signals: a parent that spawned us from a thread with signals blocked (as
/// libdispatch's worker threads have) would otherwise hand down a mask that makes us deaf to them.
public final class SignalWatcher {
    private var handles: [UnsafeMutablePointer<uv_signal_t>] = []
    fileprivate let handler: (Int32) -> Void

    public init(loop: EventLoop, signals: [Int32], handler: @escaping (Int32) -> Void) throws(TransportError) {
        self.handler = handler
        signal(SIGPIPE, SIG_IGN)
        var mask = sigset_t()
        sigemptyset(&mask)
        for number in signals { sigaddset(&mask, number) }
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        for number in signals {
            let handle = UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1)
            try TransportError.check(uv_signal_init(loop.raw, handle), "uv_signal_init")
            handle.pointee.data = Unmanaged.passUnretained(self).toOpaque()
            try TransportError.check(uv_signal_start(handle, { handle, number in
                guard let data = handle?.pointee.data else { return }
                Unmanaged<SignalWatcher>.fromOpaque(data).takeUnretainedValue().handler(number)
            }, number), "uv_signal_start")
            handles.append(handle)
        }
    }

    public func close() {
        for handle in handles {
            handle.pointee.data = nil
            closeHandle(handle)
        }
        handles.removeAll()
    }
}

/// Calls a handler on the loop thread every `intervalMilliseconds`.
public final class RepeatingTimer {
    private let handle: UnsafeMutablePointer<uv_timer_t>
    fileprivate let handler: () -> Void
    private var closed = false

    public init(loop: EventLoop, intervalMilliseconds: UInt64, handler: @escaping () -> Void) throws(TransportError) {
        self.handler = handler
        handle = .allocate(capacity: 1)
        try TransportError.check(uv_timer_init(loop.raw, handle), "uv_timer_init")
        handle.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        uv_unref(asHandle(handle))
        try TransportError.check(uv_timer_start(handle, { timer in
            guard let data = timer?.pointee.data else { return }
            Unmanaged<RepeatingTimer>.fromOpaque(data).takeUnretainedValue().handler()
        }, intervalMilliseconds, intervalMilliseconds), "uv_timer_start")
    }

    public func close() {
        guard !closed else { return }
        closed = true
        handle.pointee.data = nil
        closeHandle(handle)
    }
}
