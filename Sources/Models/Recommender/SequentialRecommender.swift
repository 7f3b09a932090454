/// The one protocol through which the evaluator (and later the daemon's engine) asks a model for
/// scores: "given this history, how good is each of these candidates as the next item?".
///
/// Implementations must be pure functions of their inputs (no hidden per-call state), so that
/// every model sees the same cases in the same protocol and results are reproducible. Thread: any;
/// implementations are immutable after construction.
public protocol SequentialRecommender: Sendable {
    /// A short name for reports ("popularity", "sasrec").
    var name: String { get }

    /// Scores `candidates` (dense item ids, 1-based) for a user whose interactions so far are
    /// `history` (dense item ids, oldest first). Returns one score per candidate, in candidate order;
    /// higher means more likely next. Scores need only be comparable within one call.
    func scores(history: [Int32], candidates: [Int32]) -> [Float]

    /// Scores several (history, candidates) cases at once; the same results as calling
    /// `scores(history:candidates:)` for each. Models that run faster in batches override it.
    func scores(batch: [(history: [Int32], candidates: [Int32])]) -> [[Float]]

    /// How many cases callers should hand `scores(batch:)` at once (progress is reported between
    /// batches): large for cheap models, 1 for models that run an LM per case.
    var preferredBatchSize: Int { get }

    /// Whether the model can score an item with no training interaction on its own merits (from
    /// its text, say). False for models that know items only by their interactions: they rank such
    /// items at random or last, and reports of the cold-start protocol say so.
    var scoresItemsWithoutInteractions: Bool { get }
}

extension SequentialRecommender {
    public var preferredBatchSize: Int { 256 }
    public var scoresItemsWithoutInteractions: Bool { false }

    public func scores(batch: [(history: [Int32], candidates: [Int32])]) -> [[Float]] {
        batch.map { scores(history: $0.history, candidates: $0.candidates) }
    }
}
