/// How token states become one sentence vector (sentence-transformers' Pooling and Normalize
/// modules, `1_Pooling/config.json`).
public struct SentencePooling: Sendable, Equatable {
    public enum Mode: String, Sendable {
        /// Mean over real tokens (`pooling_mode_mean_tokens`).
        case mean
        /// The first token, [CLS] (`pooling_mode_cls_token`).
        case cls
        /// Elementwise maximum over real tokens (`pooling_mode_max_tokens`).
        case max
    }

    public var mode: Mode
    /// L2-normalise the result (a `Normalize` module follows the pooling).
    public var normalize: Bool

    public init(mode: Mode = .mean, normalize: Bool = false) {
        self.mode = mode
        self.normalize = normalize
    }

    /// One vector per row of `hidden` ([batch · length, dim]), using each row's first `lengths[b]` tokens.
    public func pool(hidden: [Float], lengths: [Int32], batch: Int, length: Int, dim: Int) -> [[Float]] {
        (0..<batch).map { b in
            let count = max(1, min(length, Int(lengths[b])))
            let base = b * length * dim
            var vector = [Float](repeating: mode == .max ? -.infinity : 0, count: dim)
            switch mode {
            case .cls:
                for column in 0..<dim { vector[column] = hidden[base + column] }
            case .mean:
                for token in 0..<count { for column in 0..<dim { vector[column] += hidden[base + token * dim + column] } }
                for column in 0..<dim { vector[column] /= Float(count) }
            case .max:
                for token in 0..<count {
                    for column in 0..<dim { vector[column] = Swift.max(vector[column], hidden[base + token * dim + column]) }
                }
            }
            if normalize {
                let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
                // sentence-transformers' Normalize divides by max(norm, 1e-12).
                let scale = 1 / Swift.max(norm, 1e-12)
                for column in 0..<dim { vector[column] *= scale }
            }
            return vector
        }
    }
}

extension SentencePooling {
    /// The gradient through `pool`: d hidden [batch · length, dim] from d pooled [batch · dim]
    /// (mean: each real position gets its row's gradient over the row's length; cls: the first
    /// token; max: the position holding each maximum; then the normalisation's Jacobian when
    /// `normalize`). Padding positions get 0.
    public func backward(dPooled: [Float], hidden: [Float], lengths: [Int32], batch: Int, length: Int, dim: Int) -> [Float] {
        var dHidden = [Float](repeating: 0, count: batch * length * dim)
        let pooled = normalize ? pool(hidden: hidden, lengths: lengths, batch: batch, length: length, dim: dim) : []
        let raw = normalize ? SentencePooling(mode: mode).pool(hidden: hidden, lengths: lengths, batch: batch, length: length, dim: dim) : []
        for b in 0..<batch {
            let count = max(1, min(length, Int(lengths[b])))
            let base = b * length * dim
            var gradient = Array(dPooled[(b * dim)..<((b + 1) * dim)])
            if normalize {
                // y = x / |x|: dx = (dy − y (y · dy)) / |x|.
                let norm = max(raw[b].reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                let dot = zip(pooled[b], gradient).reduce(0) { $0 + $1.0 * $1.1 }
                for column in 0..<dim { gradient[column] = (gradient[column] - pooled[b][column] * dot) / norm }
            }
            switch mode {
            case .cls:
                for column in 0..<dim { dHidden[base + column] = gradient[column] }
            case .mean:
                for token in 0..<count { for column in 0..<dim { dHidden[base + token * dim + column] = gradient[column] / Float(count) } }
            case .max:
                for column in 0..<dim {
                    var best = 0
                    for token in 1..<max(count, 1) where hidden[base + token * dim + column] > hidden[base + best * dim + column] { best = token }
                    dHidden[base + best * dim + column] = gradient[column]
                }
            }
        }
        return dHidden
    }
}
