import CKernels
import Dispatch

/// A weight matrix kept in ggml's 16-bit or block-quantised layout ([rows, columns], row-major, each
/// row a whole number of blocks), multiplied without expanding it: single rows go through the C
/// kernels (Float32 activations with blocks dequantised on the fly, or 8-bit activations and
/// integer dot products); up to `fewRows` rows dequantise each weight row once and multiply it with
/// every row on the C kernels; more rows dequantise 256-row tiles and hand them to OpenBLAS (13%
/// faster prompts than 64-row tiles at 2 threads). Results are Float32. Immutable.
public struct QuantizedMatrix: Sendable {
    /// The formats the C kernels read, by ggml's `ggml_type` id: 16-bit floats, blocks of 32 (Q4_0 to
    /// Q8_0) and the K-quants of 256 that Q4_K_M, Q5_K_M and Q6_K files use.
    public enum Format: Int32, Sendable, CaseIterable {
        case f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q4_k = 12, q5_k = 13, q6_k = 14, bf16 = 30
    }

    public let format: Format
    public let rows: Int
    public let columns: Int
    /// rows × rowBytes bytes.
    public let bytes: [UInt8]

    /// - Returns: nil when `bytes` does not hold exactly `rows` rows of `columns` in `format`.
    public init?(format: Format, rows: Int, columns: Int, bytes: [UInt8]) {
        let rowBytes = llmrec_row_bytes(llmrec_weight_type(UInt32(format.rawValue)), columns)
        guard rowBytes > 0, bytes.count == rows * rowBytes else { return nil }
        self.format = format
        self.rows = rows
        self.columns = columns
        self.bytes = bytes
    }

    public var rowBytes: Int { llmrec_row_bytes(kernelType, columns) }

    private var kernelType: llmrec_weight_type { llmrec_weight_type(UInt32(format.rawValue)) }

    /// Single-row products over at least this many weights are split across threads: below it a
    /// thread hop costs about as much as the product (measured with `llmrec lm bench --threads 2`).
    static let parallelElements = 1 << 18

    /// Products of at most this many rows dequantise each weight row once and multiply it with every
    /// row on the C kernels (split across threads by weight rows); longer ones dequantise tiles for
    /// OpenBLAS, whose packing costs as much as the products below it.
    static let fewRows = 256

    /// Whether single-row products with `integerActivations` take the integer path (every block format;
    /// not F16 or BF16).
    public var supportsIntegerActivations: Bool { llmrec_gemv_q8_supports(kernelType) != 0 }

    /// out[m, rows] = x[m, columns] · Wᵀ. A single row is split over `threads` threads by output
    /// rows (each thread writes its own range). With `integerActivations`, a single row of a block
    /// format is first quantised to 8 bits per block of 32 (as llama.cpp does for Q4_0 to Q8_0; its
    /// K-quant kernels use blocks of 256) and the block products run on integer dot-product
    /// instructions: faster decode, at the cost of the activations' rounding (relative error about
    /// 1/254 per block).
    public func multiply(
        out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count m: Int, threads: Int = 1, integerActivations: Bool = false
    ) {
        bytes.withUnsafeBytes { raw in
            if m == 1 {
                // Integer path: the activations quantised once, then every row range reads them.
                let activation = integerActivations && supportsIntegerActivations
                    ? UnsafeMutablePointer<llmrec_q8_activation>.allocate(capacity: columns / 32) : nil
                defer { activation?.deallocate() }
                if let activation { _ = llmrec_quantize_activation(x, columns, activation) }
                let job = GEMVJob(
                    type: kernelType, weights: raw.baseAddress!, columns: columns, x: x, activation: activation.map { UnsafePointer($0) },
                    y: out)
                splitByRows(parts: rows * columns >= Self.parallelElements ? min(threads, rows / 64) : 1) { job.run(rows: $0) }
                return
            }
            if m <= Self.fewRows {
                let job = GEMMRowsJob(type: kernelType, weights: raw.baseAddress!, columns: columns, x: x, m: m, y: out, ldy: rows)
                splitByRows(parts: min(threads, rows / 64)) { job.run(rows: $0) }
                return
            }
            let tile = 256
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: tile * columns)
            defer { scratch.deallocate() }
            for start in stride(from: 0, to: rows, by: tile) {
                let end = min(rows, start + tile)
                _ = llmrec_dequantize_rows(kernelType, raw.baseAddress, columns, start, end, scratch)
                BLAS.gemm(
                    transposeB: true, m: m, n: end - start, k: columns, a: x, lda: columns, b: scratch, ldb: columns,
                    c: out + start, ldc: rows)
            }
        }
    }

    /// Runs `work` over every weight row: in `parts` contiguous ranges on the worker pool, or in one
    /// range on the calling thread when `parts` is below 2. Each range writes only its own outputs.
    private func splitByRows(parts: Int, _ work: @escaping @Sendable (Range<Int>) -> Void) {
        guard parts > 1 else {
            work(0..<rows)
            return
        }
        let rows = self.rows
        WorkerPool.shared.run(parts: parts) { part in work((part * rows / parts)..<((part + 1) * rows / parts)) }
    }

    /// y = W x for one row x [columns], on the C kernels at `kernelLevel` or below it when the CPU has
    /// less (0: portable C; 1: AVX2; 2: AVX-512 VNNI, integer path only), single-threaded: for tests and
    /// benchmarks that compare the kernel paths on one host. Returns [rows].
    public func product(of x: [Float], integerActivations: Bool, kernelLevel: Int) -> [Float] {
        precondition(x.count == columns, "x must have \(columns) elements")
        var y = [Float](repeating: 0, count: rows)
        bytes.withUnsafeBytes { raw in
            y.withUnsafeMutableBufferPointer { out in
                if integerActivations && supportsIntegerActivations {
                    var activation = [llmrec_q8_activation](repeating: llmrec_q8_activation(), count: columns / 32)
                    _ = llmrec_quantize_activation(x, columns, &activation)
                    _ = llmrec_gemv_q8_at_level(
                        Int32(kernelLevel), kernelType, raw.baseAddress, columns, 0, rows, activation, out.baseAddress)
                } else {
                    _ = llmrec_gemv_at_level(Int32(kernelLevel), kernelType, raw.baseAddress, columns, 0, rows, x, out.baseAddress)
                }
            }
        }
        return y
    }

    /// out[count, rows] = x[count, columns] · Wᵀ with each weight row dequantised once, on the C
    /// kernels at `kernelLevel` (0: portable C; 1: AVX2 where the CPU has it), single-threaded: for
    /// tests that compare the paths of `multiply` for a few rows on one host.
    public func product(ofRows x: [Float], count: Int, kernelLevel: Int) -> [Float] {
        precondition(x.count == count * columns, "x must have count × \(columns) elements")
        var y = [Float](repeating: 0, count: count * rows)
        bytes.withUnsafeBytes { raw in
            y.withUnsafeMutableBufferPointer { out in
                _ = llmrec_gemm_rows_at_level(Int32(kernelLevel), kernelType, raw.baseAddress, columns, 0, rows, x, count, out.baseAddress, rows)
            }
        }
        return y
    }

    /// The integer kernels' level on this CPU: 2 for AVX-512 VNNI, 1 for AVX2, 0 for portable C.
    public static var integerKernelLevel: Int { Int(llmrec_integer_kernel_level()) }

    /// Decodes `destination.count` elements stored in `format` (a whole number of blocks, exactly the
    /// bytes of `source`) to Float32, equal bit for bit to ggml's `dequantize_row_*`: what GGUF readers
    /// use, so that files and the kernels share one table of formats.
    /// - Returns: false, writing nothing, when the counts do not fit the format.
    public static func decode(
        _ format: Format, _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>
    ) -> Bool {
        let type = llmrec_weight_type(UInt32(format.rawValue))
        guard !destination.isEmpty else { return source.isEmpty }
        guard llmrec_row_bytes(type, destination.count) == source.count else { return false }
        return llmrec_dequantize_rows(type, source.baseAddress, destination.count, 0, 1, destination.baseAddress) == 0
    }

    /// Row `index` as Float32 (an embedding lookup).
    public func row(_ index: Int) -> [Float] {
        var values = [Float](repeating: 0, count: columns)
        bytes.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer {
                _ = llmrec_dequantize_rows(kernelType, raw.baseAddress, columns, index, index + 1, $0.baseAddress)
            }
        }
        return values
    }

    /// The whole matrix as Float32.
    public func dequantized() -> [Float] {
        var values = [Float](repeating: 0, count: rows * columns)
        bytes.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer {
                _ = llmrec_dequantize_rows(kernelType, raw.baseAddress, columns, 0, rows, $0.baseAddress)
            }
        }
        return values
    }

    /// The same matrix with its rows reordered: row i of the result is row `order[i]` of this one.
    public func reorderingRows(_ order: [Int]) -> QuantizedMatrix {
        let width = rowBytes
        var reordered = [UInt8](repeating: 0, count: bytes.count)
        for (target, source) in order.enumerated() {
            reordered.replaceSubrange((target * width)..<((target + 1) * width), with: bytes[(source * width)..<((source + 1) * width)])
        }
        return QuantizedMatrix(format: format, rows: rows, columns: columns, bytes: reordered)!
    }

    /// Quantises a Float32 [rows, columns] matrix to Q8_0 (ggml's reference rule); nil when columns
    /// is not a multiple of 32.
    public static func quantizeQ8_0(_ dense: [Float], rows: Int, columns: Int) -> QuantizedMatrix? {
        let rowBytes = llmrec_row_bytes(LLMREC_WEIGHTS_Q8_0, columns)
        guard rowBytes > 0, dense.count == rows * columns else { return nil }
        var bytes = [UInt8](repeating: 0, count: rows * rowBytes)
        let status = dense.withUnsafeBufferPointer { input in
            bytes.withUnsafeMutableBytes { output in llmrec_quantize_q8_0(input.baseAddress, rows, columns, output.baseAddress) }
        }
        guard status == 0 else { return nil }
        return QuantizedMatrix(format: .q8_0, rows: rows, columns: columns, bytes: bytes)
    }

    /// Whether the C kernels use their vectorised path on this CPU.
    public static var vectorized: Bool { llmrec_kernels_vectorized() != 0 }
}

/// One single-row product shared by the threads of `multiply`: each call writes a disjoint range
/// of `y`, from the Float32 row `x`, or from its quantised `activation` when there is one (the
/// integer kernels). The pointers outlive the worker-pool job that uses them.
private struct GEMVJob: @unchecked Sendable {
    let type: llmrec_weight_type
    let weights: UnsafeRawPointer
    let columns: Int
    let x: UnsafePointer<Float>
    let activation: UnsafePointer<llmrec_q8_activation>?
    let y: UnsafeMutablePointer<Float>

    func run(rows range: Range<Int>) {
        if let activation {
            _ = llmrec_gemv_q8(type, weights, columns, range.lowerBound, range.upperBound, activation, y)
        } else {
            _ = llmrec_gemv(type, weights, columns, range.lowerBound, range.upperBound, x, y)
        }
    }
}

/// `llmrec_gemm_rows` over a range of weight rows: the pointers stay valid for the whole
/// `multiply` call that shares it between workers, each writing its own columns of y.
private struct GEMMRowsJob: @unchecked Sendable {
    let type: llmrec_weight_type
    let weights: UnsafeRawPointer
    let columns: Int
    let x: UnsafePointer<Float>
    let m: Int
    let y: UnsafeMutablePointer<Float>
    let ldy: Int

    func run(rows range: Range<Int>) {
        _ = llmrec_gemm_rows(type, weights, columns, range.lowerBound, range.upperBound, x, m, y, ldy)
    }
}

/// A weight matrix in Float32 or kept quantised; what a decoder's linear layers multiply by.
public enum WeightMatrix: Sendable {
    /// [rows, columns] Float32, row-major.
    case dense([Float])
    case quantized(QuantizedMatrix)
    /// Packed twice in bfloat16 for training on AVX-512 BF16: W for the forward, and Wᵀ (`transposed`)
    /// for the input gradient.
    case bfloat16(BF16Matrix, transposed: BF16Matrix)

    /// out[m, outFeatures] = x[m, inFeatures] · Wᵀ + bias; quantised single rows use `threads` threads
    /// and, with `integerActivations`, the integer kernels (`QuantizedMatrix.multiply`).
    public func forward(
        out: inout [Float], x: [Float], bias: [Float]?, rows m: Int, inFeatures: Int, outFeatures: Int, threads: Int = 1,
        integerActivations: Bool = false
    ) {
        switch self {
        case .dense(let weight):
            Linear.forward(out: &out, x: x, weight: weight, bias: bias, rows: m, inFeatures: inFeatures, outFeatures: outFeatures)
        case .quantized(let matrix):
            out.withUnsafeMutableBufferPointer { target in
                x.withUnsafeBufferPointer { input in
                    matrix.multiply(
                        out: target.baseAddress!, x: input.baseAddress!, count: m, threads: threads, integerActivations: integerActivations)
                }
            }
            if let bias {
                for row in 0..<m { for column in 0..<outFeatures { out[row * outFeatures + column] += bias[column] } }
            }
        case .bfloat16(let matrix, _):
            out.withUnsafeMutableBufferPointer { target in
                x.withUnsafeBufferPointer { input in
                    if let bias {
                        bias.withUnsafeBufferPointer { matrix.multiply(out: target.baseAddress!, x: input.baseAddress!, bias: $0.baseAddress, rows: m, threads: threads) }
                    } else {
                        matrix.multiply(out: target.baseAddress!, x: input.baseAddress!, bias: nil, rows: m, threads: threads)
                    }
                }
            }
        }
    }

    /// dx[rows, inFeatures] += dOut[rows, outFeatures] · W: a Linear layer's input gradient. Dense
    /// matrices multiply on OpenBLAS, quantised ones are dequantised for it, bfloat16 ones use their
    /// packed transpose on `threads` threads.
    public func inputGradient(into dx: inout [Float], dOut: [Float], rows: Int, inFeatures: Int, outFeatures: Int, threads: Int = 1) {
        let dense: [Float]
        switch self {
        case .dense(let values): dense = values
        case .quantized(let matrix): dense = matrix.dequantized()
        case .bfloat16(_, let transposed):
            dx.withUnsafeMutableBufferPointer { target in
                dOut.withUnsafeBufferPointer { gradient in
                    transposed.multiply(
                        out: target.baseAddress!, x: gradient.baseAddress!, bias: nil, rows: rows, accumulate: true, threads: threads)
                }
            }
            return
        }
        BLAS.gemm(m: rows, n: inFeatures, k: outFeatures, a: dOut, lda: outFeatures, b: dense, ldb: inFeatures, beta: 1, c: &dx, ldc: inFeatures)
    }

    /// The matrix in Q8_0 when it is dense with whole 32-element blocks per row; itself otherwise.
    public func quantizedToQ8_0(rows: Int, columns: Int) -> WeightMatrix {
        guard case .dense(let weight) = self, let matrix = QuantizedMatrix.quantizeQ8_0(weight, rows: rows, columns: columns) else {
            return self
        }
        return .quantized(matrix)
    }

    /// Row `index` (width `columns`) as Float32.
    public func row(_ index: Int, columns: Int) -> [Float] {
        switch self {
        case .dense(let weight): return Array(weight[(index * columns)..<((index + 1) * columns)])
        case .quantized(let matrix): return matrix.row(index)
        case .bfloat16(let matrix, _): return matrix.row(index)
        }
    }
}
