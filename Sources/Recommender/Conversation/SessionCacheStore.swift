import Models
import Synchronization

/// What a session keeps between turns for the LM (a conversation's or a ranking prompt's keys and
/// values), measured in bytes.
protocol SessionCacheable: Sendable {
    var byteCount: Int { get }
}

extension PromptCache: SessionCacheable {}

/// Per-session LM caches, the least recently used evicted beyond `sessions`. A cache is taken out
/// while a turn uses it and put back after, so two requests of one session never share one (the
/// second simply starts without it). Thread-safe.
final class SessionCacheStore<Value: SessionCacheable>: Sendable {
    let sessions: Int
    private let state = Mutex<(entries: [String: (value: Value, lastUse: UInt64)], clock: UInt64)>(([:], 0))

    init(sessions: Int) { self.sessions = sessions }

    func take(_ session: String) -> Value? {
        state.withLock { $0.entries.removeValue(forKey: session)?.value }
    }

    func put(_ session: String, _ value: Value) {
        guard sessions > 0 else { return }
        state.withLock { state in
            state.clock += 1
            state.entries[session] = (value, state.clock)
            while state.entries.count > sessions, let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                state.entries[oldest] = nil
            }
        }
    }

    func drop(_ session: String) { _ = state.withLock { $0.entries.removeValue(forKey: session) } }

    /// Sessions holding a cache, and the bytes those caches take.
    var usage: (sessions: Int, bytes: Int) {
        state.withLock { state in (state.entries.count, state.entries.values.reduce(0) { $0 + $1.value.byteCount }) }
    }
}
