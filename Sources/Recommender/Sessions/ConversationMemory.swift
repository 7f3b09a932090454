import Foundation

/// What a session's conversation has said so far: the recent turns, and every exclusion ever
/// stated (an exclusion holds until the session ends; a preference fades as newer ones arrive).
public struct ConversationMemory: Sendable, Equatable {
    /// One message of the user and what was understood from it.
    public struct Turn: Sendable, Equatable {
        public var text: String
        public var understood: Understanding
        /// The answer the LM gave (nil without an LM, or before it finished).
        public var answer: String?
        /// 0 for the session's first turn, 1 for the next, ... (set by `record`).
        public internal(set) var number = 0

        public init(text: String, understood: Understanding, answer: String? = nil, number: Int = 0) {
            self.text = text
            self.understood = understood
            self.answer = answer
            self.number = number
        }
    }

    /// Most recent turns kept; older ones only leave their exclusions behind.
    public static let keptTurns = 8

    /// The last `keptTurns` turns, oldest first.
    public private(set) var turns: [Turn] = []
    /// Every exclusion phrase stated in the session, in order, without repeats.
    public private(set) var exclusions: [String] = []
    /// Every excluded facet stated in the session (normalised), in order, without repeats.
    public private(set) var excludedFacets: [String] = []

    public init() {}

    /// A memory as persisted (journal replay).
    public init(turns: [Turn], exclusions: [String], excludedFacets: [String], turnCount: Int? = nil) {
        self.turns = Array(turns.suffix(Self.keptTurns))
        self.turnCount = max(turnCount ?? 0, (turns.last?.number ?? -1) + 1)
        self.exclusions = exclusions
        self.excludedFacets = excludedFacets
    }

    /// Turns whose words go into a listening retrieval prompt: the latest ones, which the LM reads
    /// as what the user says now.
    public static let listenedTurns = 2

    /// Characters of one user message that an LM prompt reads (a long message is cut: the LM needs
    /// its gist, a prompt must fit the LM's context, and a message may be megabytes long).
    public static let readCharacters = 1000

    /// `text` as an LM prompt reads it: trimmed, then cut to `readCharacters`.
    public static func readable(_ text: String) -> String {
        String(text.trimmingCharacters(in: .whitespacesAndNewlines).prefix(readCharacters))
    }

    /// The user's recent words as one text (the last `listenedTurns` messages, oldest first, each as
    /// `readable` gives it), nil before the first message.
    public var recentWords: String? {
        let texts = turns.suffix(Self.listenedTurns).map { Self.readable($0.text) }.filter { !$0.isEmpty }
        return texts.isEmpty ? nil : texts.joined(separator: ". ")
    }

    public var isEmpty: Bool { turns.isEmpty && exclusions.isEmpty && excludedFacets.isEmpty }

    /// Turns recorded in the session so far (kept or not).
    public private(set) var turnCount = 0

    /// Records a turn; returns its number.
    @discardableResult
    public mutating func record(_ turn: Turn) -> Int {
        var turn = turn
        turn.number = turnCount
        turnCount += 1
        turns.append(turn)
        if turns.count > Self.keptTurns { turns.removeFirst(turns.count - Self.keptTurns) }
        for phrase in turn.understood.exclusions where !exclusions.contains(phrase) { exclusions.append(phrase) }
        for facet in turn.understood.excludedFacets where !excludedFacets.contains(facet) { excludedFacets.append(facet) }
        return turn.number
    }

    /// Records the answer to turn `number` (ignored when that turn is no longer kept).
    public mutating func recordAnswer(_ text: String, turn number: Int) {
        guard let index = turns.firstIndex(where: { $0.number == number }) else { return }
        turns[index].answer = text
    }

    /// Earlier turns that have an answer, oldest first, for rebuilding the LM's conversation.
    public var answeredTurns: [(userText: String, answer: String)] {
        turns.compactMap { turn in turn.answer.map { (turn.text, $0) } }
    }

    /// Preferences with their weights: 1 for the latest turn, halving with each older turn.
    public var weightedPreferences: [(phrase: String, facets: [String], weight: Float)] {
        var result: [(String, [String], Float)] = []
        var weight: Float = 1
        for turn in turns.reversed() {
            for phrase in turn.understood.preferences {
                result.append((phrase, turn.understood.wantedFacets.filter { !excludedFacets.contains($0) }, weight))
            }
            weight /= 2
        }
        return result
    }

    /// Wanted facets with their weights (latest turn 1, halving), excluded facets left out.
    public var weightedFacets: [String: Float] {
        var result: [String: Float] = [:]
        var weight: Float = 1
        for turn in turns.reversed() {
            for facet in turn.understood.wantedFacets where !excludedFacets.contains(facet) {
                result[facet] = max(result[facet] ?? 0, weight)
            }
            weight /= 2
        }
        return result
    }
}

/// One user message taken into a session's conversation (`SessionStore.converse(id:message:vocabulary:at:)`):
/// the turn as recorded (what was said and understood; what journals keep), and its number in
/// the session, under which its answer is remembered.
public struct ConversationTurn: Sendable {
    public let sessionId: String
    public let record: ConversationMemory.Turn
    public let number: Int

    /// The turn as `session` numbers it, where it is the latest turn (a shared store may have put
    /// other daemons' turns before it).
    public func numbered(in session: Session) -> ConversationTurn {
        ConversationTurn(sessionId: sessionId, record: record, number: session.conversation.turnCount - 1)
    }
}
