import Datasets
import Models
import Recommender

/// Chooses a blend's weights on the validation split: every signal scores the validation cases
/// once (z-scored per case), then every combination of weights from a grid is ranked by Hit@1,
/// NDCG@10 breaking ties. Each single signal is in the grid, so the chosen blend never ranks below
/// the best single signal on validation.
public struct BlendTuner {
    /// One weighting and how it ranked the validation cases.
    public struct Choice: Sendable {
        public var weights: [BlendSignal: Float]
        public var metrics: RankingMetrics
    }

    /// Per signal, per case, the z-scored scores of the case's candidates (target first).
    public let scores: [BlendSignal: [[Float]]]
    public let cases: Int

    /// Scores the validation cases of `evaluator` (its split should be `.valid`) under
    /// `evaluationProtocol` with every signal; `progress(signal, done, total)` between batches.
    public init(
        signals: [BlendSignal: any SequentialRecommender], evaluator: Evaluator, evaluationProtocol: EvaluationProtocol,
        progress: (BlendSignal, Int, Int) -> Void = { _, _, _ in }
    ) {
        let testCases = evaluator.users(for: evaluationProtocol).map { evaluator.makeCase(user: $0, evaluationProtocol: evaluationProtocol) }
        var scores: [BlendSignal: [[Float]]] = [:]
        for (signal, recommender) in signals {
            var perCase: [[Float]] = []
            let batch = max(1, recommender.preferredBatchSize)
            for start in stride(from: 0, to: testCases.count, by: batch) {
                let part = testCases[start..<min(start + batch, testCases.count)]
                perCase += recommender.scores(batch: part.map { ($0.history, $0.candidates) }).map(ZScoreBlend.standardised)
                progress(signal, perCase.count, testCases.count)
            }
            scores[signal] = perCase
        }
        self.scores = scores
        cases = testCases.count
    }

    /// How `weights` rank the validation cases.
    public func metrics(_ weights: [BlendSignal: Float]) -> RankingMetrics {
        var metrics = RankingMetrics()
        for index in 0..<cases {
            var blended: [Float] = []
            for (signal, weight) in weights where weight != 0 {
                guard let values = scores[signal]?[index] else { continue }
                if blended.isEmpty { blended = [Float](repeating: 0, count: values.count) }
                for position in values.indices { blended[position] += weight * values[position] }
            }
            if blended.isEmpty { blended = [Float](repeating: 0, count: scores.values.first?[index].count ?? 1) }
            metrics.add(rank: RankingMetrics.rank(of: 0, in: blended))
        }
        return metrics
    }

    /// The best weighting of `signals` over `grid` (a weight per signal from it, not all zero).
    public func best(of signals: [BlendSignal], grid: [Float]) -> Choice? {
        var best: Choice?
        var weights = [Float](repeating: 0, count: signals.count)
        func visit(_ position: Int) {
            if position == signals.count {
                guard weights.contains(where: { $0 != 0 }) else { return }
                let named = Dictionary(uniqueKeysWithValues: zip(signals, weights))
                let metrics = metrics(named)
                if let current = best {
                    let (hit, ndcg) = (metrics.hit(at: 1), metrics.ndcg(at: 10))
                    let (bestHit, bestNDCG) = (current.metrics.hit(at: 1), current.metrics.ndcg(at: 10))
                    guard hit > bestHit || (hit == bestHit && ndcg > bestNDCG) else { return }
                }
                best = Choice(weights: named, metrics: metrics)
                return
            }
            for value in grid {
                weights[position] = value
                visit(position + 1)
            }
        }
        visit(0)
        return best
    }
}
