/// Layer normalisation over the last dimension.
/// - x: [rows, dim]; out: [rows, dim]; mean, rstd: [rows], saved for backward; gamma, beta: [dim].
public enum LayerNorm {
    public static func forward(
        out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float
    ) {
        for row in 0..<rows {
            let line = x + row * dim
            var sum: Float = 0
            for column in 0..<dim { sum += line[column] }
            let mu = sum / Float(dim)
            var variance: Float = 0
            for column in 0..<dim {
                let centred = line[column] - mu
                variance += centred * centred
            }
            let inverse = 1 / (variance / Float(dim) + eps).squareRoot()
            mean[row] = mu
            rstd[row] = inverse
            let target = out + row * dim
            for column in 0..<dim { target[column] = (line[column] - mu) * inverse * gamma[column] + beta[column] }
        }
    }

    /// Accumulates into dx, dgamma, dbeta.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        gamma: UnsafePointer<Float>, rows: Int, dim: Int
    ) {
        for row in 0..<rows {
            let line = x + row * dim
            let gradient = dout + row * dim
            let mu = mean[row]
            let inverse = rstd[row]
            var meanDNorm: Float = 0
            var meanDNormXHat: Float = 0
            for column in 0..<dim {
                let xHat = (line[column] - mu) * inverse
                let dNorm = gradient[column] * gamma[column]
                meanDNorm += dNorm
                meanDNormXHat += dNorm * xHat
                dgamma[column] += gradient[column] * xHat
                dbeta[column] += gradient[column]
            }
            meanDNorm /= Float(dim)
            meanDNormXHat /= Float(dim)
            let target = dx + row * dim
            for column in 0..<dim {
                let xHat = (line[column] - mu) * inverse
                let dNorm = gradient[column] * gamma[column]
                target[column] += (dNorm - meanDNorm - xHat * meanDNormXHat) * inverse
            }
        }
    }
}
