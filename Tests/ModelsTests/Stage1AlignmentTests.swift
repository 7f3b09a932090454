import Foundation
import Models
import Numerics
import Testing

/// Stage-1 losses and gradients (ghdtjr/A-LLMRec `models/a_llmrec_model.py` `pre_train_phase1`) against finite differences, on small
/// dimensions (CF 6, text 10; the latent is always 128).
@Suite struct Stage1AlignmentTests {
    static func setUp() -> (TwoLayerMLP, TwoLayerMLP, Stage1Batch) {
        var generator = SplitMix64(seed: 21)
        let item = TwoLayerMLP(dim: 6, generator: &generator)
        let text = TwoLayerMLP(dim: 10, generator: &generator)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(Initialization.normal(&generator)) } }
        let batch = Stage1Batch(
            rows: 3, users: random(18), positiveItems: random(18), negativeItems: random(18), positiveTexts: random(30),
            negativeTexts: random(30))
        return (item, text, batch)
    }

    static func expectGradient(
        _ analytic: Float, _ loss: (Float) -> Float, at value: Float, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let step: Float = 1e-2
        let numeric = (loss(value + step) - loss(value - step)) / (2 * step)
        #expect(abs(numeric - analytic) <= 2e-3 * max(1, abs(numeric)) + 2e-4, "\(what): analytic \(analytic), numeric \(numeric)",
                sourceLocation: sourceLocation)
    }

    @Test func parameterGradientsMatchFiniteDifferences() {
        let (item, text, batch) = Self.setUp()
        let result = Stage1Objective.evaluate(item: item, text: text, batch: batch)
        #expect(result.total == result.recommendation + result.matching + 0.5 * result.itemReconstruction + 0.2 * result.textReconstruction)
        let itemCases: [(WritableKeyPath<TwoLayerMLP, [Float]>, [Float], Int, String)] = [
            (\.fc1Weight, result.itemGradients.fc1Weight, 37, "item fc1.weight"),
            (\.fc2Weight, result.itemGradients.fc2Weight, 41, "item fc2.weight"),
            (\.fc2Bias, result.itemGradients.fc2Bias, 1, "item fc2.bias"),
        ]
        for (path, gradient, stride, name) in itemCases {
            Self.expectGradients(gradient, of: item, path, every: stride, name) { changed in
                Stage1Objective.evaluate(item: changed, text: text, batch: batch).total
            }
        }
        let textCases: [(WritableKeyPath<TwoLayerMLP, [Float]>, [Float], Int, String)] = [
            (\.fc1Weight, result.textGradients.fc1Weight, 53, "text fc1.weight"),
            (\.fc1Bias, result.textGradients.fc1Bias, 9, "text fc1.bias"),
        ]
        for (path, gradient, stride, name) in textCases {
            Self.expectGradients(gradient, of: text, path, every: stride, name) { changed in
                Stage1Objective.evaluate(item: item, text: changed, batch: batch).total
            }
        }
    }

    /// Checks every `stride`-th element of the parameter at `path` of `mlp`.
    static func expectGradients(
        _ gradient: [Float], of mlp: TwoLayerMLP, _ path: WritableKeyPath<TwoLayerMLP, [Float]>, every stride: Int, _ name: String,
        loss: (TwoLayerMLP) -> Float
    ) {
        for index in Swift.stride(from: 0, to: gradient.count, by: stride) {
            expectGradient(gradient[index], { value in
                var changed = mlp
                changed[keyPath: path][index] = value
                return loss(changed)
            }, at: mlp[keyPath: path][index], "\(name)[\(index)]")
        }
    }

    /// With the text-reconstruction weight at 0 the text embeddings only enter as inputs (the
    /// reconstruction target is detached in the original), so finite differences apply directly.
    @Test func gradientIntoTheTextEncoderMatchesFiniteDifferences() {
        let (item, text, batch) = Self.setUp()
        var weights = Stage1Objective.Weights()
        weights.text = 0
        let result = Stage1Objective.evaluate(item: item, text: text, batch: batch, weights: weights)
        for index in 0..<batch.positiveTexts.count {
            Self.expectGradient(result.dPositiveTexts[index], { value in
                var changed = batch
                changed.positiveTexts[index] = value
                return Stage1Objective.evaluate(item: item, text: text, batch: changed, weights: weights).total
            }, at: batch.positiveTexts[index], "positive text[\(index)]")
            Self.expectGradient(result.dNegativeTexts[index], { value in
                var changed = batch
                changed.negativeTexts[index] = value
                return Stage1Objective.evaluate(item: item, text: text, batch: changed, weights: weights).total
            }, at: batch.negativeTexts[index], "negative text[\(index)]")
        }
    }

    @Test func lossTermsFollowTheirDefinitions() {
        let (item, text, batch) = Self.setUp()
        let result = Stage1Objective.evaluate(item: item, text: text, batch: batch)
        // L_item from the reconstructions directly.
        let positive = item.forward(batch.positiveItems, rows: 3).reconstruction
        let negative = item.forward(batch.negativeItems, rows: 3).reconstruction
        let mse = { (a: [Float], b: [Float]) in zip(a, b).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Float(a.count) }
        #expect(abs(result.itemReconstruction - (mse(positive, batch.positiveItems) + mse(negative, batch.negativeItems))) < 1e-5)
        // L_rec with the mean score: s = Σ x·Ê / 6.
        let score = { (row: Int, reconstruction: [Float]) in
            (0..<6).reduce(Float(0)) { $0 + batch.users[row * 6 + $1] * reconstruction[row * 6 + $1] } / 6
        }
        let bce = { (x: Float, y: Float) in max(x, 0) - x * y + log1p(exp(-abs(x))) }
        let expected = (0..<3).reduce(Float(0)) { $0 + bce(score($1, positive), 1) } / 3
            + (0..<3).reduce(Float(0)) { $0 + bce(score($1, negative), 0) } / 3
        #expect(abs(result.recommendation - expected) < 1e-5)
    }
}
