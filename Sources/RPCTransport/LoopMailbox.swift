import CUV
import Synchronization

/// Hands values from any thread to the loop thread: `post` appends to a locked queue and wakes the
/// loop with `uv_async_send`; the loop thread drains the whole queue per wake-up and calls the
/// handler for each value in order.
///
/// `post` is the only member that may be called off the loop thread. Keep the mailbox open until
/// every thread that may post has finished (libuv forbids `uv_async_send` on a closed handle).
public final class LoopMailbox<Message: Sendable>: @unchecked Sendable {
    // @unchecked: `state` is a Mutex; off the loop thread `handle` is only passed to uv_async_send
    // (thread-safe by libuv's contract), under the lock, so `close()` (which takes the lock) cannot
    // close it in between; `waker` and `handler` are loop-thread only.
    private let handle: UnsafeMutablePointer<uv_async_t>
    private let state = Mutex<(queue: [Message], closed: Bool)>(([], false))
    private let handler: (Message) -> Void
    private var waker: LoopWaker?

    public init(loop: EventLoop, handler: @escaping (Message) -> Void) throws(TransportError) {
        self.handler = handler
        handle = .allocate(capacity: 1)
        try TransportError.check(uv_async_init(loop.raw, handle) { async in
            guard let data = async?.pointee.data else { return }
            Unmanaged<LoopWaker>.fromOpaque(data).takeUnretainedValue().wake()
        }, "uv_async_init")
        let waker = LoopWaker { [unowned self] in self.drain() }
        self.waker = waker
        handle.pointee.data = Unmanaged.passUnretained(waker).toOpaque()
    }

    /// Any thread. Dropped when the mailbox is closed.
    public func post(_ message: Message) {
        state.withLock { state in
            guard !state.closed else { return }
            state.queue.append(message)
            uv_async_send(handle)
        }
    }

    private func drain() {
        let messages = state.withLock { state in
            let taken = state.queue
            state.queue.removeAll()
            return taken
        }
        for message in messages { handler(message) }
    }

    /// Loop thread. Stops delivery; values posted afterwards are dropped.
    public func close() {
        let wasOpen = state.withLock { state in
            defer { state.closed = true }
            return !state.closed
        }
        guard wasOpen else { return }
        handle.pointee.data = nil
        waker = nil
        closeHandle(handle)
    }
}

/// The non-generic object a C callback can reach through `data`.
final class LoopWaker {
    let wake: () -> Void
    init(_ wake: @escaping () -> Void) { self.wake = wake }
}
