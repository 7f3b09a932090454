import CKernels

/// A Float32 weight matrix in PyTorch's Linear layout ([outFeatures, inFeatures]) packed once as
/// bfloat16 for the C kernel `llmrec_bf16_gemm`: products with Float32 inputs rounded to bfloat16
/// and Float32 sums, on AVX-512 BF16 (`vdpbf16ps`). Half the weight bytes of Float32; whether it is
/// faster depends on the CPU: on the Intel AVX-512 hosts measured it runs at 76-84 GFLOP/s a core
/// against 138-149 for OpenBLAS's SkylakeX sgemm (`vdpbf16ps` retires no more products per cycle
/// than two FMA ports), on an AMD EPYC at twice sgemm's rate, so callers use it when asked or where
/// `measuredSpeedup` says so. Inputs and weights keep 8 significant bits, so a product's relative error
/// is about 2⁻⁸/√inFeatures of its terms' size. Immutable.
public struct BF16Matrix: Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    private let packed: [UInt16]

    /// Whether this CPU has the instructions (AVX-512 BF16).
    public static var supported: Bool { llmrec_bf16_gemm_supported() != 0 }

    /// Packs `weight` [outFeatures, inFeatures]; nil when the CPU lacks AVX-512 BF16.
    public init?(weight: [Float], outFeatures: Int, inFeatures: Int) {
        guard Self.supported, weight.count == outFeatures * inFeatures else { return nil }
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        var packed = [UInt16](repeating: 0, count: llmrec_bf16_packed_count(outFeatures, inFeatures))
        weight.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer { llmrec_bf16_pack_weights(w.baseAddress, outFeatures, inFeatures, $0.baseAddress) }
        }
        self.packed = packed
    }

    /// Packs the transpose of `weight` [rows, columns]: the matrix [columns, rows] whose `forward`
    /// gives x · W (a Linear layer's input gradient); nil when the CPU lacks AVX-512 BF16.
    public init?(transposing weight: [Float], rows: Int, columns: Int) {
        guard Self.supported, weight.count == rows * columns else { return nil }
        var transposed = [Float](repeating: 0, count: weight.count)
        for row in 0..<rows {
            for column in 0..<columns { transposed[column * rows + row] = weight[row * columns + column] }
        }
        self.init(weight: transposed, outFeatures: columns, inFeatures: rows)
    }

    /// out[rows, outFeatures] = x[rows, inFeatures] · Wᵀ + bias, on the calling thread.
    public func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int) {
        let status = packed.withUnsafeBufferPointer { llmrec_bf16_gemm(x, rows, inFeatures, $0.baseAddress, outFeatures, bias, out) }
        precondition(status == 0, "bf16 products failed (scratch allocation)")
    }

    /// out[rows, outFeatures] = x[rows, inFeatures] · Wᵀ + bias, or out += that with `accumulate`,
    /// the output columns shared by `threads` threads of `WorkerPool.bulk` (whole panels of 32 each).
    public func multiply(
        out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int, accumulate: Bool = false,
        threads: Int = 1
    ) {
        guard rows > 0 else { return }
        let panels = llmrec_bf16_panel_count(outFeatures)
        let parts = max(1, min(threads, panels))
        packed.withUnsafeBufferPointer { weights in
            let job = PanelJob(
                x: x, rows: rows, inFeatures: inFeatures, weights: weights.baseAddress!, outFeatures: outFeatures, bias: bias, out: out,
                accumulate: accumulate, panels: panels, parts: parts)
            WorkerPool.bulk.run(parts: parts) { job.run(part: $0) }
        }
    }

    /// Row `index` of W as Float32 (its bfloat16 values).
    public func row(_ index: Int) -> [Float] {
        precondition((0..<outFeatures).contains(index), "row outside the matrix")
        var row = [Float](repeating: 0, count: inFeatures)
        packed.withUnsafeBufferPointer { llmrec_bf16_unpack_row($0.baseAddress, outFeatures, inFeatures, index, &row) }
        return row
    }

    /// Bytes the packed weights take.
    public var byteCount: Int { packed.count * 2 }
}

/// One `BF16Matrix.multiply` shared by threads: part p computes a disjoint range of output panels.
private struct PanelJob: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let rows: Int
    let inFeatures: Int
    let weights: UnsafePointer<UInt16>
    let outFeatures: Int
    let bias: UnsafePointer<Float>?
    let out: UnsafeMutablePointer<Float>
    let accumulate: Bool
    let panels: Int
    let parts: Int

    func run(part: Int) {
        let first = panels * part / parts
        let end = panels * (part + 1) / parts
        let status = llmrec_bf16_gemm_panels(x, rows, inFeatures, weights, outFeatures, bias, out, accumulate ? 1 : 0, first, end)
        precondition(status == 0, "bf16 products failed (scratch allocation)")
    }
}

extension BF16Matrix {
    /// How many times faster this kernel multiplies than OpenBLAS's `sgemm` on one core of this CPU,
    /// measured on one product of the shape training through SmolLM2 spends most of its time in
    /// (256 rows, 576 in, 1536 out): the best of five runs of each after one warm-up, a few tens of
    /// milliseconds in all. One core's rates decide it: on the hosts measured, training through the
    /// LM at two threads was faster in bfloat16 exactly where one core's kernel was (2.0× here, 2.2×
    /// the training, on an AMD EPYC; 0.55× on an Intel host, where training was slower). Call with
    /// OpenBLAS at one thread (`BLAS.setThreads(1)`). nil without AVX-512 BF16.
    public static func measuredSpeedup(rows: Int = 256, inFeatures: Int = 576, outFeatures: Int = 1536) -> Double? {
        var generator = SplitMix64(seed: 1)
        let weight = Initialization.uniform(count: outFeatures * inFeatures, bound: 0.05, generator: &generator)
        let x = Initialization.uniform(count: rows * inFeatures, bound: 1, generator: &generator)
        guard let packed = BF16Matrix(weight: weight, outFeatures: outFeatures, inFeatures: inFeatures) else { return nil }
        var out = [Float](repeating: 0, count: rows * outFeatures)
        func best(_ product: () -> Void) -> Double {
            product()
            let clock = ContinuousClock()
            let fastest = (0..<5).map { _ in clock.measure(product) }.min()!
            let (seconds, attoseconds) = fastest.components
            return max(Double(seconds) + Double(attoseconds) * 1e-18, 1e-9)
        }
        let float32 = best {
            BLAS.gemm(transposeB: true, m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, b: weight, ldb: inFeatures, c: &out, ldc: outFeatures)
        }
        let bfloat16 = best { packed.forward(out: &out, x: x, bias: nil, rows: rows) }
        return float32 / bfloat16
    }
}
