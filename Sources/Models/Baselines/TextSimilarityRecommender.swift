/// The text path without words: the mean of the history's most recent item text embeddings
/// against each candidate's embedding (cosine). It scores items without interactions as well as
/// any other, which is what it brings to a blend.
public struct TextSimilarityRecommender: SequentialRecommender {
    public let name = "text"
    public var scoresItemsWithoutInteractions: Bool { true }
    public let dimension: Int
    public let historyLength: Int
    /// L2-normalised rows, [(items + 1) · dimension] (row 0 zero).
    private let embeddings: [Float]

    /// `embeddings`: the catalog's text embeddings ([(items + 1) · dimension], row 0 unused), as
    /// `CatalogEmbeddings.embeddings` returns them.
    public init(embeddings: [Float], dimension: Int, historyLength: Int = 10) {
        self.dimension = dimension
        self.historyLength = historyLength
        var normalised = embeddings
        for row in 0..<(embeddings.count / dimension) {
            var squares: Float = 0
            for k in 0..<dimension { squares += embeddings[row * dimension + k] * embeddings[row * dimension + k] }
            let norm = squares.squareRoot()
            if norm > 0 { for k in 0..<dimension { normalised[row * dimension + k] /= norm } }
        }
        self.embeddings = normalised
    }

    public func scores(history: [Int32], candidates: [Int32]) -> [Float] {
        var user = [Float](repeating: 0, count: dimension)
        for item in history.suffix(historyLength) {
            for k in 0..<dimension { user[k] += embeddings[Int(item) * dimension + k] }
        }
        return candidates.map { item in
            var dot: Float = 0
            for k in 0..<dimension { dot += user[k] * embeddings[Int(item) * dimension + k] }
            return dot
        }
    }
}
