import Foundation
import Numerics
import Testing

@Suite struct AdamTests {
    /// Reference: torch.optim.Adam([p], lr=0.1, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.01) on
    /// p = [1, -2], three steps with gradients [0.5, -1], [0.1, 0.2], [-0.3, 0.4], computed by hand
    /// from PyTorch's update rule (bias-corrected moments, eps after the corrected root).
    @Test func followsPyTorchsUpdateRule() {
        var parameter: [Float] = [1, -2]
        var adam = Adam(sizes: [2], learningRate: 0.1, beta1: 0.9, beta2: 0.98, epsilon: 1e-8, weightDecay: 0.01)
        var m = [Double](repeating: 0, count: 2)
        var v = [Double](repeating: 0, count: 2)
        var reference: [Double] = [1, -2]
        for (step, gradient) in [[0.5, -1.0], [0.1, 0.2], [-0.3, 0.4]].enumerated() {
            adam.beginStep()
            adam.update(0, parameter: &parameter, gradient: gradient.map(Float.init), count: 2)
            let t = Double(step + 1)
            for index in 0..<2 {
                let g = gradient[index] + 0.01 * reference[index]
                m[index] = 0.9 * m[index] + 0.1 * g
                v[index] = 0.98 * v[index] + 0.02 * g * g
                let denominator = (v[index] / (1 - pow(0.98, t))).squareRoot() + 1e-8
                reference[index] -= 0.1 * (m[index] / (1 - pow(0.9, t))) / denominator
            }
            for index in 0..<2 { #expect(abs(Double(parameter[index]) - reference[index]) < 1e-6) }
        }
        #expect(adam.step == 3)
    }
}
