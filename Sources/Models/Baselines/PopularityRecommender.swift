/// Recommends what most users interacted with: the score of an item is its number of training
/// interactions, whatever the history.
public struct PopularityRecommender: SequentialRecommender {
    public let name = "popularity"
    /// `counts[item]`, index 0 unused.
    private let counts: [Float]

    /// - trainingSequences: each user's training items (index 0 may be an empty placeholder).
    /// - itemCount: number of items; ids run 1...itemCount.
    public init(trainingSequences: [[Int32]], itemCount: Int) {
        var counts = [Float](repeating: 0, count: itemCount + 1)
        for sequence in trainingSequences { for item in sequence { counts[Int(item)] += 1 } }
        self.counts = counts
    }

    public func scores(history: [Int32], candidates: [Int32]) -> [Float] {
        candidates.map { Int($0) < counts.count && $0 > 0 ? counts[Int($0)] : 0 }
    }
}
