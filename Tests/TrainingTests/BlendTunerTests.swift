import Datasets
import Foundation
import Models
import Recommender
import Testing
import Training

/// Blend weights chosen on validation (`llmrec tune`), on the real MovieLens-100K with two cheap
/// signals standing in for the bundle's.
@Suite struct BlendTunerTests {
    @Test func tunedBlendRanksAsTheEvaluatorDoesAndNeverBelowItsBestSignal() throws {
        let dataset = try EvaluatorTests.movieLens()
        let signals: [BlendSignal: any SequentialRecommender] = [
            .cooccurrence: CoOccurrenceRecommender(trainingSequences: dataset.train, itemCount: dataset.itemCount),
            .sasrec: PopularityRecommender(trainingSequences: dataset.train, itemCount: dataset.itemCount),
        ]
        let evaluator = Evaluator(dataset: dataset, split: .valid, seed: 7, showProgress: false)
        let tuner = BlendTuner(signals: signals, evaluator: evaluator, evaluationProtocol: .allLLMRec)
        #expect(tuner.cases == 943)
        let best = try #require(tuner.best(of: [.sasrec, .cooccurrence], grid: [0, 0.25, 0.5, 1]))
        for signal in [BlendSignal.sasrec, .cooccurrence] {
            #expect(best.metrics.hit(at: 1) >= tuner.metrics([signal: 1]).hit(at: 1))
        }
        // The tuner's bookkeeping is the evaluator's: the same weights as a model give the same numbers.
        let blend = ZScoreBlend(
            name: "blend", components: signals.map { ZScoreBlend.Component(recommender: $0.value, weight: best.weights[$0.key] ?? 0) })
        let report = evaluator.evaluate(blend, evaluationProtocol: .allLLMRec)
        #expect(report.overall.cases == best.metrics.cases)
        #expect(report.overall.hit(at: 1) == best.metrics.hit(at: 1))
        #expect(report.overall.ndcg(at: 10) == best.metrics.ndcg(at: 10))
        // Co-occurrence alone is far above popularity on this split, and the blend uses it.
        #expect(tuner.metrics([.cooccurrence: 1]).hit(at: 1) > tuner.metrics([.sasrec: 1]).hit(at: 1) + 0.1)
        #expect((best.weights[.cooccurrence] ?? 0) > 0)
    }

    /// On the validation split's cold20 cases (`prepare --cold-validation-items`), where `tune`
    /// chooses the weighting for items without interactions, the tuner scores what the evaluator does.
    @Test func tunesOnTheValidationSplitsColdCases() throws {
        let dataset = try ColdStartProtocolTests.prepared(fraction: 0.2, validationFraction: 0.1, seed: 3)
        let evaluator = Evaluator(dataset: dataset, split: .valid, seed: 7, showProgress: false)
        let upwards = ByIdentifier(name: "up", ascending: true)
        let signals: [BlendSignal: any SequentialRecommender] = [.text: upwards, .retrieval: ByIdentifier(name: "down", ascending: false)]
        let tuner = BlendTuner(signals: signals, evaluator: evaluator, evaluationProtocol: .coldStart)
        #expect(tuner.cases == evaluator.users(for: .coldStart).count && tuner.cases > 300)
        let report = evaluator.evaluate(upwards, evaluationProtocol: .coldStart)
        #expect(report.overall.cases == tuner.cases)
        #expect(report.overall.hit(at: 1) == tuner.metrics([.text: 1]).hit(at: 1))
        #expect(report.overall.ndcg(at: 10) == tuner.metrics([.text: 1]).ndcg(at: 10))
    }

    /// A signal that ranks candidates by their id, upwards or downwards.
    struct ByIdentifier: SequentialRecommender {
        let name: String
        let ascending: Bool
        func scores(history: [Int32], candidates: [Int32]) -> [Float] { candidates.map { Float(ascending ? $0 : -$0) } }
    }

    /// A case whose candidates all lack training interactions is ranked by the components for such
    /// items; a case with any interacted candidate by the main ones, in the same batch.
    @Test func listsOfItemsWithoutInteractionsUseTheirOwnComponents() {
        let blend = ZScoreBlend(
            name: "blend", components: [ZScoreBlend.Component(recommender: ByIdentifier(name: "collaborative", ascending: true), weight: 1)],
            componentsForItemsWithoutInteractions: [ZScoreBlend.Component(recommender: ByIdentifier(name: "text", ascending: false), weight: 2)],
            interactedItems: [1, 2, 3])
        let scores = blend.scores(batch: [([1], [1, 2, 3]), ([1], [7, 8, 9]), ([1], [1, 8])])
        #expect(scores[0] == ZScoreBlend.standardised([1, 2, 3]))
        #expect(scores[1] == ZScoreBlend.standardised([-7, -8, -9]).map { 2 * $0 })
        #expect(scores[2] == ZScoreBlend.standardised([1, 8]))
        #expect(blend.scores(history: [1], candidates: [7, 8, 9]) == scores[1])
        let plain = ZScoreBlend(name: "plain", components: blend.components)
        #expect(plain.scores(batch: [([1], [7, 8, 9])])[0] == ZScoreBlend.standardised([7, 8, 9]))
    }

    @Test func standardisingIgnoresScaleAndShift() {
        let scores: [Float] = [1, 2, 3, 6]
        let z = ZScoreBlend.standardised(scores)
        let shifted = ZScoreBlend.standardised(scores.map { 10 * $0 - 4 })
        for (a, b) in zip(z, shifted) { #expect(abs(a - b) < 1e-5) }
        #expect(abs(z.reduce(0, +)) < 1e-5)
        #expect(ZScoreBlend.standardised([2, 2, 2]) == [0, 0, 0])
    }
}
