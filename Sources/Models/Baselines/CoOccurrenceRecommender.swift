/// Item-to-item co-occurrence on the session history: items that followed the user's recent items
/// in other users' sequences score high.
///
/// Fitting counts, for every training sequence and every pair of positions i < j with
/// j - i <= `window`, a transition from item s[i] to item s[j] weighted 1 / (j - i). Scoring sums,
/// over the `historyLength` most recent history items h (the most recent with weight 1, the one
/// before with 1/2, ...), the transition weight from h to the candidate, normalised by the
/// outgoing weight of h so that very popular history items do not drown the rest. A popularity
/// term below 1e-6 is added to every score, so that candidates no history item leads to are ranked
/// by popularity among themselves (and, in practice, below every co-occurring candidate).
public struct CoOccurrenceRecommender: SequentialRecommender {
    public let name = "cooccurrence"
    public let window: Int
    public let historyLength: Int
    /// `transitions[a]`: (b, weight) pairs with a -> b, sorted by b. Index 0 unused.
    private let transitions: [[(item: Int32, weight: Float)]]
    private let outgoing: [Float]
    /// Popularity scaled into [0, 1e-6): the fallback tie-break.
    private let popularityTieBreak: [Float]

    public init(trainingSequences: [[Int32]], itemCount: Int, window: Int = 3, historyLength: Int = 10) {
        self.window = window
        self.historyLength = historyLength
        var rows = [[Int32: Float]](repeating: [:], count: itemCount + 1)
        var counts = [Float](repeating: 0, count: itemCount + 1)
        for sequence in trainingSequences {
            for (i, from) in sequence.enumerated() {
                counts[Int(from)] += 1
                for j in (i + 1)..<min(sequence.count, i + window + 1) where sequence[j] != from {
                    rows[Int(from)][sequence[j], default: 0] += 1 / Float(j - i)
                }
            }
        }
        transitions = rows.map { row in row.map { (item: $0.key, weight: $0.value) }.sorted { $0.item < $1.item } }
        outgoing = rows.map { $0.values.reduce(0, +) }
        let maxCount = max(counts.max() ?? 1, 1)
        popularityTieBreak = counts.map { 1e-6 * $0 / (maxCount + 1) }
    }

    public func scores(history: [Int32], candidates: [Int32]) -> [Float] {
        var dense = [Float](repeating: 0, count: transitions.count)
        for (age, item) in history.reversed().prefix(historyLength).enumerated() {
            let from = Int(item)
            guard from > 0, from < transitions.count, outgoing[from] > 0 else { continue }
            let scale = 1 / (Float(age + 1) * outgoing[from])
            for (to, weight) in transitions[from] { dense[Int(to)] += weight * scale }
        }
        return candidates.map { candidate in
            let index = Int(candidate)
            guard index > 0, index < dense.count else { return 0 }
            return dense[index] + popularityTieBreak[index]
        }
    }
}
