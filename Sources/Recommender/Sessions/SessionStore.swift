/// Errors of session bookkeeping.
public enum SessionError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(id: String)
    case alreadyExists(id: String)

    public var description: String {
        switch self {
        case .notFound(let id): return "session '\(id)' not found (closed, expired, evicted or never opened)"
        case .alreadyExists(let id): return "session '\(id)' already exists"
        }
    }
}

/// The live sessions, with an idle time-to-live and a cap that evicts the least recently used.
///
/// Pure bookkeeping: no I/O, no clock (callers pass times), so persistence can replay the same
/// operations. Not thread-safe; the daemon keeps it on its loop thread.
public struct SessionStore: Sendable {
    public let maxSessions: Int
    /// Idle seconds after which a session expires.
    public let timeToLive: Double
    private var sessions: [String: Session] = [:]
    /// Monotonic use counter per session: the smallest is the least recently used.
    private var lastUse: [String: UInt64] = [:]
    private var useClock: UInt64 = 0

    public init(maxSessions: Int = 10_000, timeToLive: Double = 86_400) {
        self.maxSessions = maxSessions
        self.timeToLive = timeToLive
    }

    public var count: Int { sessions.count }
    public var all: [Session] { Array(sessions.values) }

    /// Opens a session; returns the ids evicted to make room (least recently used first).
    public mutating func open(id: String, history: [Int32], at time: Double) throws(SessionError) -> [String] {
        guard sessions[id] == nil else { throw .alreadyExists(id: id) }
        var session = Session(id: id, createdAt: time)
        session.apply(history.map { SessionEvent(itemId: $0, kind: .viewed) }, at: time)
        sessions[id] = session
        touch(id)
        var evicted: [String] = []
        while sessions.count > maxSessions, let victim = lastUse.min(by: { $0.value < $1.value })?.key {
            remove(victim)
            evicted.append(victim)
        }
        return evicted
    }

    public mutating func observe(id: String, events: [SessionEvent], at time: Double) throws(SessionError) -> Session {
        guard var session = sessions[id] else { throw .notFound(id: id) }
        session.apply(events, at: time)
        sessions[id] = session
        touch(id)
        return session
    }

    /// The session, marked as used.
    public mutating func get(id: String) throws(SessionError) -> Session {
        guard let session = sessions[id] else { throw .notFound(id: id) }
        touch(id)
        return session
    }

    public mutating func close(id: String) throws(SessionError) {
        guard sessions[id] != nil else { throw .notFound(id: id) }
        remove(id)
    }

    /// Removes sessions idle for longer than the time-to-live at `time`; returns their ids.
    public mutating func expire(at time: Double) -> [String] {
        let expired = sessions.values.filter { time - $0.updatedAt > timeToLive }.map(\.id)
        for id in expired { remove(id) }
        return expired
    }

    /// Puts back a session as it was (journal replay); no eviction.
    public mutating func restore(_ session: Session) {
        sessions[session.id] = session
        touch(session.id)
    }

    private mutating func touch(_ id: String) {
        useClock += 1
        lastUse[id] = useClock
    }

    private mutating func remove(_ id: String) {
        sessions[id] = nil
        lastUse[id] = nil
    }
}
