import Foundation

/// Scaled dot-product attention with a causal mask (position i sees keys 0...i), several heads, and
/// dropout on the attention weights, as `torch.nn.MultiheadAttention` computes it after its input
/// projections: per head, P = softmax(q kᵀ / √headDim), out = P v.
///
/// - q, k, v, out: [batch · length, heads · headDim], row-major; head h occupies columns
///   h·headDim ..< (h+1)·headDim.
/// - probabilities: [batch, heads, length, length], saved for backward (after dropout: `dropped`).
public enum CausalAttention {
    public struct Shape: Sendable {
        public var batch: Int
        public var length: Int
        public var heads: Int
        public var headDim: Int

        public init(batch: Int, length: Int, heads: Int, headDim: Int) {
            self.batch = batch
            self.length = length
            self.heads = heads
            self.headDim = headDim
        }

        public var width: Int { heads * headDim }
        public var probabilityCount: Int { batch * heads * length * length }
    }

    /// - dropMask: [probabilityCount] written by dropout (nil or `dropout` 0: no dropout).
    public static func forward(
        out: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>,
        dropped: UnsafeMutablePointer<Float>, dropMask: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, shape: Shape,
        dropout: Float, generator: inout SplitMix64
    ) {
        let (length, width, headDim) = (shape.length, shape.width, shape.headDim)
        let scale = 1 / Float(headDim).squareRoot()
        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                let block = (b * shape.heads + h) * length * length
                let scores = probabilities + block
                let rowBase = b * length * width + h * headDim
                BLAS.gemm(
                    transposeB: true, m: length, n: length, k: headDim, alpha: scale, a: q + rowBase, lda: width,
                    b: k + rowBase, ldb: width, c: scores, ldc: length)
                for i in 0..<length {
                    let row = scores + i * length
                    VectorMath.softmaxInPlace(row, count: i + 1)
                    for j in (i + 1)..<length { row[j] = 0 }
                }
                Dropout.forward(
                    out: dropped + block, mask: dropMask + block, x: scores, count: length * length, probability: dropout,
                    generator: &generator)
                BLAS.gemm(
                    m: length, n: headDim, k: length, a: dropped + block, lda: length, b: v + rowBase, ldb: width,
                    c: out + rowBase, ldc: width)
            }
        }
    }

    /// Accumulates into dq, dk, dv. `scratch`: [length · length] work space.
    public static func backward(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>, probabilities: UnsafePointer<Float>, dropped: UnsafePointer<Float>,
        dropMask: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        shape: Shape, scratch: UnsafeMutablePointer<Float>
    ) {
        let (length, width, headDim) = (shape.length, shape.width, shape.headDim)
        let scale = 1 / Float(headDim).squareRoot()
        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                let block = (b * shape.heads + h) * length * length
                let rowBase = b * length * width + h * headDim
                // dV += Pdropᵀ · dOut
                BLAS.gemm(
                    transposeA: true, m: length, n: headDim, k: length, a: dropped + block, lda: length,
                    b: dout + rowBase, ldb: width, beta: 1, c: dv + rowBase, ldc: width)
                // dPdrop = dOut · Vᵀ, then through dropout and softmax (rows restricted to j ≤ i).
                BLAS.gemm(
                    transposeB: true, m: length, n: length, k: headDim, a: dout + rowBase, lda: width, b: v + rowBase,
                    ldb: width, c: scratch, ldc: length)
                let p = probabilities + block
                let mask = dropMask + block
                for i in 0..<length {
                    let row = scratch + i * length
                    var dot: Float = 0
                    for j in 0...i {
                        row[j] *= mask[i * length + j]
                        dot += row[j] * p[i * length + j]
                    }
                    for j in 0...i { row[j] = p[i * length + j] * (row[j] - dot) * scale }
                    for j in (i + 1)..<length { row[j] = 0 }
                }
                // dQ += dS · K ; dK += dSᵀ · Q
                BLAS.gemm(
                    m: length, n: headDim, k: length, a: scratch, lda: length, b: k + rowBase, ldb: width, beta: 1,
                    c: dq + rowBase, ldc: width)
                BLAS.gemm(
                    transposeA: true, m: length, n: headDim, k: length, a: scratch, lda: length, b: q + rowBase, ldb: width,
                    beta: 1, c: dk + rowBase, ldc: width)
            }
        }
    }
}
