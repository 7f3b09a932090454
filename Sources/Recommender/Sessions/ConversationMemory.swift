/// What a session's conversation has said so far: the recent turns, and every exclusion ever
/// stated (an exclusion holds until the session ends; a preference fades as newer ones arrive).
public struct ConversationMemory: Sendable, Equatable {
    /// One message of the user and what was understood from it.
    public struct Turn: Sendable, Equatable {
        public var text: String
        public var understood: Understanding

        public init(text: String, understood: Understanding) {
            self.text = text
            self.understood = understood
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
    public init(turns: [Turn], exclusions: [String], excludedFacets: [String]) {
        self.turns = Array(turns.suffix(Self.keptTurns))
        self.exclusions = exclusions
        self.excludedFacets = excludedFacets
    }

    public var isEmpty: Bool { turns.isEmpty && exclusions.isEmpty && excludedFacets.isEmpty }

    public mutating func record(_ turn: Turn) {
        turns.append(turn)
        if turns.count > Self.keptTurns { turns.removeFirst(turns.count - Self.keptTurns) }
        for phrase in turn.understood.exclusions where !exclusions.contains(phrase) { exclusions.append(phrase) }
        for facet in turn.understood.excludedFacets where !excludedFacets.contains(facet) { excludedFacets.append(facet) }
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
