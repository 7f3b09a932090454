import Foundation

/// Bidirectional multi-head attention over right-padded sequences, as BERT computes it after its
/// input projections: per head, P = softmax(q kᵀ / √headDim + mask), out = P v, where the mask
/// hides the padding keys (positions ≥ the row's length). Query rows in the padding are computed
/// like any other row (callers ignore them).
///
/// - q, k, v, out: [batch · length, heads · headDim], row-major; head h occupies columns
///   h·headDim ..< (h+1)·headDim.
/// - lengths: [batch] real tokens per sequence (1...length).
/// - probabilities: [batch, heads, length, length], written by forward, read by backward.
public enum SelfAttention {
    public static func forward(
        out: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
        k: UnsafePointer<Float>, v: UnsafePointer<Float>, lengths: UnsafePointer<Int32>, shape: CausalAttention.Shape
    ) {
        run(out: out, probabilities: probabilities, keepAll: true, q: q, k: k, v: v, lengths: lengths, shape: shape)
    }

    /// The same output without keeping the probabilities (inference): one [length, length] scratch
    /// serves every sequence and head, so memory does not grow with batch × heads.
    public static func forward(
        out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        lengths: UnsafePointer<Int32>, shape: CausalAttention.Shape
    ) {
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: shape.length * shape.length)
        defer { scratch.deallocate() }
        run(out: out, probabilities: scratch, keepAll: false, q: q, k: k, v: v, lengths: lengths, shape: shape)
    }

    /// With `keepAll`, head h of sequence b writes its probabilities at (b · heads + h) · length² with
    /// the padding keys' columns zeroed (what backward reads); without, every head reuses the start.
    private static func run(
        out: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>, keepAll: Bool, q: UnsafePointer<Float>,
        k: UnsafePointer<Float>, v: UnsafePointer<Float>, lengths: UnsafePointer<Int32>, shape: CausalAttention.Shape
    ) {
        let (length, width, headDim) = (shape.length, shape.width, shape.headDim)
        let scale = 1 / Float(headDim).squareRoot()
        for b in 0..<shape.batch {
            let keys = max(1, min(length, Int(lengths[b])))
            for h in 0..<shape.heads {
                let scores = keepAll ? probabilities + (b * shape.heads + h) * length * length : probabilities
                let rowBase = b * length * width + h * headDim
                BLAS.gemm(
                    transposeB: true, m: length, n: keys, k: headDim, alpha: scale, a: q + rowBase, lda: width,
                    b: k + rowBase, ldb: width, c: scores, ldc: length)
                for i in 0..<length {
                    let row = scores + i * length
                    VectorMath.softmaxInPlace(row, count: keys)
                    if keepAll { (row + keys).update(repeating: 0, count: length - keys) }
                }
                BLAS.gemm(
                    m: length, n: headDim, k: keys, a: scores, lda: length, b: v + rowBase, ldb: width, c: out + rowBase,
                    ldc: width)
            }
        }
    }

    /// Accumulates into dq, dk, dv. `scratch`: [length · length].
    public static func backward(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>, probabilities: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
        v: UnsafePointer<Float>, lengths: UnsafePointer<Int32>, shape: CausalAttention.Shape, scratch: UnsafeMutablePointer<Float>
    ) {
        let (length, width, headDim) = (shape.length, shape.width, shape.headDim)
        let scale = 1 / Float(headDim).squareRoot()
        for b in 0..<shape.batch {
            let keys = max(1, min(length, Int(lengths[b])))
            for h in 0..<shape.heads {
                let p = probabilities + (b * shape.heads + h) * length * length
                let rowBase = b * length * width + h * headDim
                BLAS.gemm(
                    transposeA: true, m: keys, n: headDim, k: length, a: p, lda: length, b: dout + rowBase, ldb: width, beta: 1,
                    c: dv + rowBase, ldc: width)
                BLAS.gemm(
                    transposeB: true, m: length, n: keys, k: headDim, a: dout + rowBase, lda: width, b: v + rowBase, ldb: width,
                    c: scratch, ldc: length)
                for i in 0..<length {
                    let row = scratch + i * length
                    var dot: Float = 0
                    for j in 0..<keys { dot += row[j] * p[i * length + j] }
                    for j in 0..<keys { row[j] = p[i * length + j] * (row[j] - dot) * scale }
                }
                BLAS.gemm(
                    m: length, n: headDim, k: keys, a: scratch, lda: length, b: k + rowBase, ldb: width, beta: 1, c: dq + rowBase,
                    ldc: width)
                BLAS.gemm(
                    transposeA: true, m: keys, n: headDim, k: length, a: scratch, lda: length, b: q + rowBase, ldb: width, beta: 1,
                    c: dk + rowBase, ldc: width)
            }
        }
    }
}
