/// What a shopper did with an item.
public enum InteractionKind: String, Sendable, CaseIterable {
    /// Looked at it: part of the history the recommender reads.
    case viewed
    /// Bought it: part of the history.
    case bought
    /// Said no: never recommended again in this session; not part of the history.
    case rejected
}

/// One event of a session.
public struct SessionEvent: Sendable, Equatable {
    public var itemId: Int32
    public var kind: InteractionKind

    public init(itemId: Int32, kind: InteractionKind) {
        self.itemId = itemId
        self.kind = kind
    }
}

/// A shopper's session: the events so far, and the state derived from them.
public struct Session: Sendable, Equatable {
    public let id: String
    public private(set) var events: [SessionEvent] = []
    /// Viewed and bought items, oldest first: the recommender's input sequence.
    public private(set) var history: [Int32] = []
    public private(set) var rejected: Set<Int32> = []
    /// What the user said in `session/message` turns.
    public internal(set) var conversation = ConversationMemory()
    /// Seconds since the Unix epoch.
    public let createdAt: Double
    public internal(set) var updatedAt: Double

    public init(id: String, createdAt: Double) {
        self.id = id
        self.createdAt = createdAt
        updatedAt = createdAt
    }

    mutating func apply(_ newEvents: [SessionEvent], at time: Double) {
        for event in newEvents {
            events.append(event)
            switch event.kind {
            case .viewed, .bought: history.append(event.itemId)
            case .rejected: rejected.insert(event.itemId)
            }
        }
        updatedAt = max(updatedAt, time)
    }
}
