import Foundation

/// Softmax over the last dimension: out[r] = softmax(x[r]) for each of `rows` rows of `dim`.
public enum Softmax {
    /// Each row's normaliser is summed in Float64: a Float32 running sum over a vocabulary-sized
    /// row (tens of thousands of classes) drifts by about 1e-5, ten times PyTorch's error.
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, rows: Int, dim: Int) {
        for row in 0..<rows {
            let line = x + row * dim
            let target = out + row * dim
            var maximum = -Float.infinity
            for column in 0..<dim { maximum = max(maximum, line[column]) }
            var sum: Double = 0
            for column in 0..<dim {
                let value = exp(line[column] - maximum)
                target[column] = value
                sum += Double(value)
            }
            let inverse = Float(1 / sum)
            for column in 0..<dim { target[column] *= inverse }
        }
    }

    /// Accumulates dx from dout and the forward output y: dx = y ⊙ (dout − Σ dout ⊙ y).
    public static func backward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, y: UnsafePointer<Float>, rows: Int, dim: Int) {
        for row in 0..<rows {
            let probabilities = y + row * dim
            let gradient = dout + row * dim
            var dot: Float = 0
            for column in 0..<dim { dot += gradient[column] * probabilities[column] }
            let target = dx + row * dim
            for column in 0..<dim { target[column] += probabilities[column] * (gradient[column] - dot) }
        }
    }
}

/// Losses. Each forward returns the mean loss over the counted elements and writes the gradient of
/// that mean with respect to its inputs (scaled by `scale`, to fold in a loss weight).
public enum Loss {
    /// Binary cross-entropy on logits against 0/1 targets, averaged over elements where `weights` is
    /// non-zero (all when nil). Numerically stable: max(x, 0) − x·t + log(1 + e^(−|x|)).
    /// - dlogits: [count], overwritten.
    public static func binaryCrossEntropyWithLogits(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, weights: UnsafePointer<Float>?, count: Int,
        dlogits: UnsafeMutablePointer<Float>, scale: Float = 1
    ) -> Float {
        var total: Double = 0
        var counted = 0
        for index in 0..<count where weights.map({ $0[index] != 0 }) ?? true {
            let x = logits[index]
            total += Double(max(x, 0) - x * targets[index] + log1p(exp(-abs(x))))
            counted += 1
        }
        let inverse = counted > 0 ? scale / Float(counted) : 0
        for index in 0..<count {
            let active = weights.map { $0[index] != 0 } ?? true
            dlogits[index] = active ? (Sigmoid.logistic(logits[index]) - targets[index]) * inverse : 0
        }
        return counted > 0 ? Float(total / Double(counted)) : 0
    }

    /// Cross-entropy of each row of logits [rows, classes] against `targets` [rows] (class indices;
    /// a negative target ignores the row), averaged over counted rows. dlogits: [rows, classes], overwritten.
    public static func crossEntropy(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, classes: Int,
        dlogits: UnsafeMutablePointer<Float>, scale: Float = 1
    ) -> Float {
        Softmax.forward(out: dlogits, x: logits, rows: rows, dim: classes)
        var total: Double = 0
        var counted = 0
        for row in 0..<rows where targets[row] >= 0 {
            total -= Double(log(max(dlogits[row * classes + Int(targets[row])], .leastNormalMagnitude)))
            counted += 1
        }
        let inverse = counted > 0 ? scale / Float(counted) : 0
        for row in 0..<rows {
            let line = dlogits + row * classes
            if targets[row] < 0 {
                for column in 0..<classes { line[column] = 0 }
                continue
            }
            line[Int(targets[row])] -= 1
            for column in 0..<classes { line[column] *= inverse }
        }
        return counted > 0 ? Float(total / Double(counted)) : 0
    }

    /// Mean squared error between x and target ([count] each); dx overwritten.
    public static func meanSquaredError(
        x: UnsafePointer<Float>, target: UnsafePointer<Float>, count: Int, dx: UnsafeMutablePointer<Float>, scale: Float = 1
    ) -> Float {
        var total: Double = 0
        let inverse = count > 0 ? 2 * scale / Float(count) : 0
        for index in 0..<count {
            let difference = x[index] - target[index]
            total += Double(difference * difference)
            dx[index] = difference * inverse
        }
        return count > 0 ? Float(total / Double(count)) : 0
    }
}
