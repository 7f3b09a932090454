import Numerics

/// Several recommenders blended: each one's scores are standardised over the case's candidates
/// (z-scores; a signal that scores every candidate alike adds nothing) and summed with weights.
/// What the daemon's ranking does with its signals, as an evaluated model. A case whose candidates
/// all lack training interactions (strict cold start) is scored by
/// `componentsForItemsWithoutInteractions` instead, when given: the collaborative signals only see
/// untrained rows there.
public struct ZScoreBlend: SequentialRecommender {
    public struct Component: Sendable {
        public var recommender: any SequentialRecommender
        public var weight: Float

        public init(recommender: any SequentialRecommender, weight: Float) {
            self.recommender = recommender
            self.weight = weight
        }
    }

    public let name: String
    public let components: [Component]
    /// What scores a case whose candidates all lack training interactions (empty: `components`).
    public let componentsForItemsWithoutInteractions: [Component]
    /// Items with at least one training interaction, by dense id.
    private let interacted: Set<Int32>

    /// Components of weight 0 are left out (never run). `interactedItems` (the items with training
    /// interactions) tells which cases `componentsForItemsWithoutInteractions` scores.
    public init(
        name: String, components: [Component], componentsForItemsWithoutInteractions: [Component] = [], interactedItems: Set<Int32> = []
    ) {
        self.name = name
        self.components = components.filter { $0.weight != 0 }
        self.componentsForItemsWithoutInteractions = componentsForItemsWithoutInteractions.filter { $0.weight != 0 }
        self.interacted = interactedItems
    }

    public var preferredBatchSize: Int {
        (components + componentsForItemsWithoutInteractions).map(\.recommender.preferredBatchSize).min() ?? 256
    }
    public var scoresItemsWithoutInteractions: Bool {
        (components + componentsForItemsWithoutInteractions).contains { $0.recommender.scoresItemsWithoutInteractions }
    }

    public func scores(history: [Int32], candidates: [Int32]) -> [Float] {
        scores(batch: [(history, candidates)])[0]
    }

    public func scores(batch: [(history: [Int32], candidates: [Int32])]) -> [[Float]] {
        var blended = batch.map { [Float](repeating: 0, count: $0.candidates.count) }
        func onlyItemsWithoutInteractions(_ index: Int) -> Bool {
            !componentsForItemsWithoutInteractions.isEmpty && batch[index].candidates.allSatisfy { !interacted.contains($0) }
        }
        let cold = batch.indices.filter(onlyItemsWithoutInteractions)
        let warm = batch.indices.filter { !onlyItemsWithoutInteractions($0) }
        for (indices, components) in [(warm, components), (cold, componentsForItemsWithoutInteractions)] where !indices.isEmpty {
            let cases = indices.map { batch[$0] }
            for component in components {
                for (offset, scores) in component.recommender.scores(batch: cases).enumerated() {
                    for (position, value) in Self.standardised(scores).enumerated() {
                        blended[indices[offset]][position] += component.weight * value
                    }
                }
            }
        }
        return blended
    }

    /// (x − mean) / standard deviation over one case's candidates; zeros when they are all alike
    /// or not finite.
    public static func standardised(_ scores: [Float]) -> [Float] {
        let (mean, deviation) = VectorMath.moments(scores)
        return scores.map { deviation > 1e-12 && $0.isFinite ? ($0 - mean) / deviation : 0 }
    }
}

/// The signals a bundle's blend combines.
public enum BlendSignal: String, Sendable, CaseIterable {
    /// SASRec (the bundle's checkpoint).
    case sasrec
    /// Item-to-item co-occurrence on the training split.
    case cooccurrence
    /// The history's item texts against the candidate's (the bundle's sentence encoder).
    case text
    /// Retrieval through the LM (the bundle's LLM-SRec weights).
    case retrieval
    /// SASRec with the rows of items without training interactions predicted from their text
    /// (`SASRecWithTextRows`, the bundle's sentence encoder).
    case sasrecText = "sasrec-text"

    /// Whether the signal scores an item without training interactions by its text (text,
    /// retrieval, SASRec's predicted rows); the collaborative ones see only an untrained row or nothing.
    public var scoresItemsWithoutInteractions: Bool { self == .text || self == .retrieval || self == .sasrecText }

    /// Whether the signal is the LM's (retrieval).
    public var readsWithLanguageModel: Bool { self == .retrieval }
}
