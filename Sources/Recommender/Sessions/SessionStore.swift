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
    /// When each session was last opened, observed or read (seconds): idleness is measured from it.
    private var lastActive: [String: Double] = [:]

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
        touch(id, at: time)
        return evictBeyondCapacity()
    }

    /// Evicts the least recently used sessions while there are more than `maxSessions`; returns
    /// their ids, least recently used first.
    public mutating func evictBeyondCapacity() -> [String] {
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
        touch(id, at: time)
        return session
    }

    /// Records a conversation turn in the session (the turn's `number` is set there).
    public mutating func converse(id: String, turn: ConversationMemory.Turn, at time: Double) throws(SessionError) -> Session {
        guard var session = sessions[id] else { throw .notFound(id: id) }
        session.conversation.record(turn)
        session.updatedAt = max(session.updatedAt, time)
        sessions[id] = session
        touch(id, at: time)
        return session
    }

    /// Takes the user's message `text` into session `id`'s conversation: interprets it against
    /// `vocabulary`, records the turn and returns the session with it and the turn (whose answer
    /// `recordAnswer(_:to:)` remembers).
    public mutating func converse(
        id: String, message text: String, vocabulary: FacetVocabulary, at time: Double
    ) throws(SessionError) -> (session: Session, turn: ConversationTurn) {
        let record = ConversationMemory.Turn(text: text, understood: MessageInterpreter(vocabulary: vocabulary).interpret(text))
        let session = try converse(id: id, turn: record, at: time)
        return (session, ConversationTurn(sessionId: id, record: record, number: session.conversation.turnCount - 1))
    }

    /// Remembers the LM's answer to `turn`; a session that ended meanwhile is ignored.
    public mutating func recordAnswer(_ text: String, to turn: ConversationTurn) {
        recordAnswer(id: turn.sessionId, turn: turn.number, text: text)
    }

    /// Records the answer to turn `number` of a session; unknown ids are ignored (the session ended).
    public mutating func recordAnswer(id: String, turn number: Int, text: String) {
        sessions[id]?.conversation.recordAnswer(text, turn: number)
    }

    /// Replaces a session's conversation memory (journal replay); unknown ids are ignored.
    public mutating func restoreConversation(id: String, _ memory: ConversationMemory) {
        sessions[id]?.conversation = memory
    }

    /// The session, marked as used at `time`.
    public mutating func get(id: String, at time: Double) throws(SessionError) -> Session {
        guard let session = sessions[id] else { throw .notFound(id: id) }
        touch(id, at: time)
        return session
    }

    /// Removes the session if it has been idle for longer than the time-to-live at `time`; true when
    /// it did. Callers check before using a session, so expiry does not wait for the next sweep.
    public mutating func expireIfIdle(id: String, at time: Double) -> Bool {
        guard let active = lastActive[id], time - active > timeToLive else { return false }
        remove(id)
        return true
    }

    public mutating func close(id: String) throws(SessionError) {
        guard sessions[id] != nil else { throw .notFound(id: id) }
        remove(id)
    }

    /// Removes sessions idle for longer than the time-to-live at `time`; returns their ids.
    public mutating func expire(at time: Double) -> [String] {
        let expired = lastActive.filter { time - $0.value > timeToLive }.map(\.key)
        for id in expired { remove(id) }
        return expired
    }

    /// Puts back a session as it was (journal replay, undoing a change that could not be persisted);
    /// its activity time becomes its last update. No eviction.
    public mutating func restore(_ session: Session) {
        sessions[session.id] = session
        touch(session.id, at: session.updatedAt)
    }

    private mutating func touch(_ id: String, at time: Double) {
        useClock += 1
        lastUse[id] = useClock
        lastActive[id] = max(lastActive[id] ?? time, time)
    }

    private mutating func remove(_ id: String) {
        sessions[id] = nil
        lastUse[id] = nil
        lastActive[id] = nil
    }
}
