/// A fully connected layer in PyTorch's layout: out = x · Wᵀ + b.
/// - x: [rows, inFeatures]; weight: [outFeatures, inFeatures]; bias: [outFeatures] or nil;
///   out: [rows, outFeatures]. Row-major, contiguous.
public enum Linear {
    public static func forward(
        out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int
    ) {
        if let bias {
            for row in 0..<rows { (out + row * outFeatures).update(from: bias, count: outFeatures) }
        }
        BLAS.gemm(
            transposeB: true, m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, b: weight, ldb: inFeatures,
            beta: bias == nil ? 0 : 1, c: out, ldc: outFeatures)
    }

    /// Accumulates into dx (if given), dweight and dbias (if given); callers zero them.
    public static func backward(
        dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
        dout: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int
    ) {
        if let dx {
            BLAS.gemm(
                m: rows, n: inFeatures, k: outFeatures, a: dout, lda: outFeatures, b: weight, ldb: inFeatures,
                beta: 1, c: dx, ldc: inFeatures)
        }
        BLAS.gemm(
            transposeA: true, m: outFeatures, n: inFeatures, k: rows, a: dout, lda: outFeatures, b: x, ldb: inFeatures,
            beta: 1, c: dweight, ldc: inFeatures)
        if let dbias {
            for row in 0..<rows {
                let line = dout + row * outFeatures
                for column in 0..<outFeatures { dbias[column] += line[column] }
            }
        }
    }
}

/// Row lookup: out[i] = table[ids[i]] · scale.
/// - ids: [count] row indices into table [tableRows, dim]; out: [count, dim].
public enum Embedding {
    public static func forward(
        out: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, table: UnsafePointer<Float>, count: Int, dim: Int,
        scale: Float = 1
    ) {
        for index in 0..<count {
            let source = table + Int(ids[index]) * dim
            let target = out + index * dim
            for column in 0..<dim { target[column] = source[column] * scale }
        }
    }

    /// Accumulates dtable[ids[i]] += dout[i] · scale, except for rows equal to `paddingIndex`.
    public static func backward(
        dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, ids: UnsafePointer<Int32>, count: Int, dim: Int,
        scale: Float = 1, paddingIndex: Int32? = nil
    ) {
        for index in 0..<count where ids[index] != paddingIndex {
            let target = dtable + Int(ids[index]) * dim
            let source = dout + index * dim
            for column in 0..<dim { target[column] += source[column] * scale }
        }
    }
}
