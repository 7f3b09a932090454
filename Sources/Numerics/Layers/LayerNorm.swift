import CKernels

/// Layer normalisation over the last dimension.
/// - x: [rows, dim]; out: [rows, dim]; mean, rstd: [rows], saved for backward; gamma, beta: [dim].
public enum LayerNorm {
    /// out = (x − mean) · rstd · gamma + beta per row, in the C kernel (`llmrec_layer_norm`); mean and
    /// rstd [rows] are kept for backward. `out` must not overlap `x`.
    public static func forward(
        out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float
    ) {
        llmrec_layer_norm(x, gamma, beta, rows, dim, eps, out, mean, rstd)
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
