import Foundation

/// Adam with PyTorch's semantics (`torch.optim.Adam`): bias-corrected moments, eps added to the
/// corrected second-moment root, optional L2 penalty added to the gradient (`weight_decay`).
///
/// Owns the moment buffers of each parameter (by index in the order `step` is given them).
public struct Adam: Sendable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// Steps taken so far.
    public private(set) var step = 0
    public private(set) var firstMoments: [[Float]]
    public private(set) var secondMoments: [[Float]]

    /// - sizes: element counts of the parameters, in the order `update` receives them.
    public init(
        sizes: [Int], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: Float = 0
    ) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        firstMoments = sizes.map { [Float](repeating: 0, count: $0) }
        secondMoments = sizes.map { [Float](repeating: 0, count: $0) }
    }

    /// Restores a saved optimiser state.
    public mutating func restore(step: Int, firstMoments: [[Float]], secondMoments: [[Float]]) {
        precondition(firstMoments.map(\.count) == self.firstMoments.map(\.count), "moment shapes differ")
        precondition(secondMoments.map(\.count) == self.secondMoments.map(\.count), "moment shapes differ")
        self.step = step
        self.firstMoments = firstMoments
        self.secondMoments = secondMoments
    }

    /// Begins a step: call once, then `update` every parameter.
    public mutating func beginStep() { step += 1 }

    /// Updates parameter `index` in place from its gradient.
    public mutating func update(_ index: Int, parameter: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, count: Int) {
        let correction1 = 1 - pow(beta1, Float(step))
        let correction2Root = (1 - pow(beta2, Float(step))).squareRoot()
        let stepSize = learningRate / correction1
        let (b1, b2, eps, decay) = (beta1, beta2, epsilon, weightDecay)
        firstMoments[index].withUnsafeMutableBufferPointer { m in
            secondMoments[index].withUnsafeMutableBufferPointer { v in
                for element in 0..<count {
                    let g = gradient[element] + decay * parameter[element]
                    m[element] = b1 * m[element] + (1 - b1) * g
                    v[element] = b2 * v[element] + (1 - b2) * g * g
                    parameter[element] -= stepSize * m[element] / (v[element].squareRoot() / correction2Root + eps)
                }
            }
        }
    }
}

private func pow(_ base: Float, _ exponent: Float) -> Float {
    Float(Foundation.pow(Double(base), Double(exponent)))
}
