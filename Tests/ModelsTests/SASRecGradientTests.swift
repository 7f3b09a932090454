import Models
import Numerics
import Testing

/// The whole SASRec forward/backward against finite differences, on a tiny network with dropout
/// off (the parity test against PyTorch is SASRecParityTests).
@Suite struct SASRecGradientTests {
    static let configuration = SASRecConfiguration(itemCount: 9, hiddenUnits: 4, blocks: 2, heads: 2, maxLength: 5, dropout: 0)

    /// Loss and analytic gradient for a fixed batch.
    static func lossAndGradient(_ weights: [Float], layout: ParameterLayout) -> (Float, [Float]) {
        let workspace = SASRecWorkspace(configuration: configuration, batch: 2)
        let sequences: [Int32] = [0, 0, 3, 1, 4, 2, 5, 6, 7, 8]
        let positives: [Int32] = [0, 0, 1, 4, 9, 5, 6, 7, 8, 1]
        let negatives: [Int32] = [0, 0, 2, 2, 2, 3, 3, 3, 3, 3]
        for index in 0..<10 { workspace.sequence[index] = sequences[index] }
        var gradients = [Float](repeating: 0, count: layout.totalCount)
        var dFeatures = [Float](repeating: 0, count: 10 * configuration.hiddenUnits)
        var generator = SplitMix64(seed: 0)
        let loss = weights.withUnsafeBufferPointer { w in
            SASRecNetwork.forward(weights: w.baseAddress!, layout: layout, workspace: workspace, training: true, generator: &generator)
            let result = SASRecLoss.forwardBackward(
                weights: w.baseAddress!, gradients: &gradients, layout: layout, workspace: workspace, positives: positives,
                negatives: negatives, dLogFeatures: &dFeatures)
            SASRecNetwork.backward(dLogFeatures: &dFeatures, weights: w.baseAddress!, gradients: &gradients, layout: layout, workspace: workspace)
            return result.loss
        }
        return (loss, gradients)
    }

    @Test func everyParameterGradientMatchesFiniteDifferences() {
        var generator = SplitMix64(seed: 3)
        let parameters = SASRecParameters(initializing: Self.configuration, generator: &generator)
        let layout = ParameterLayout(names: parameters.names, shapes: SASRecParameters.shapes(Self.configuration))
        var weights = layout.pack(parameters.tensors)
        // Non-trivial LayerNorm parameters, so their gradients are exercised away from γ=1, β=0.
        for index in weights.indices { weights[index] += Float(Initialization.normal(&generator)) * 0.1 }
        let (_, analytic) = Self.lossAndGradient(weights, layout: layout)
        let step: Float = 1e-2
        var failures: [String] = []
        for name in layout.names {
            let slot = layout.slots[name]!
            for element in stride(from: 0, to: slot.count, by: max(1, slot.count / 12)) {
                let index = slot.offset + element
                var plus = weights
                plus[index] += step
                var minus = weights
                minus[index] -= step
                let numeric = (Self.lossAndGradient(plus, layout: layout).0 - Self.lossAndGradient(minus, layout: layout).0) / (2 * step)
                let error = abs(numeric - analytic[index])
                if error > 2e-3 * max(1, abs(numeric)) && error > 5e-4 {
                    failures.append("\(name)[\(element)]: analytic \(analytic[index]), numeric \(numeric)")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(8).joined(separator: "\n"))")
    }
}
