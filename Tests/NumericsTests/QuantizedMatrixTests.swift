import Numerics
import Testing

/// The C kernels against plain Float32 arithmetic on the dequantised matrix, for every format, on
/// random blocks built here byte by byte in ggml's layouts.
@Suite struct QuantizedMatrixTests {
    static func randomMatrix(_ format: QuantizedMatrix.Format, rows: Int, columns: Int, seed: UInt64) -> QuantizedMatrix {
        var generator = SplitMix64(seed: seed)
        var bytes: [UInt8] = []
        func half(_ value: Float) -> [UInt8] {
            let bits = Float16(value).bitPattern
            return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
        }
        for _ in 0..<rows {
            switch format {
            case .f16:
                for _ in 0..<columns { bytes += half(Float.random(in: -1...1, using: &generator)) }
            case .bf16:
                for _ in 0..<columns {
                    let bits = Float.random(in: -1...1, using: &generator).bitPattern >> 16
                    bytes += [UInt8(bits & 0xFF), UInt8(bits >> 8)]
                }
            case .q8_0:
                for _ in 0..<(columns / 32) {
                    bytes += half(Float.random(in: 0.001...0.02, using: &generator))
                    for _ in 0..<32 { bytes.append(UInt8(bitPattern: Int8.random(in: -127...127, using: &generator))) }
                }
            case .q4_0:
                for _ in 0..<(columns / 32) {
                    bytes += half(Float.random(in: 0.001...0.1, using: &generator))
                    for _ in 0..<16 { bytes.append(UInt8.random(in: 0...255, using: &generator)) }
                }
            case .q4_1:
                for _ in 0..<(columns / 32) {
                    bytes += half(Float.random(in: 0.001...0.1, using: &generator))
                    bytes += half(Float.random(in: -0.5...0.5, using: &generator))
                    for _ in 0..<16 { bytes.append(UInt8.random(in: 0...255, using: &generator)) }
                }
            case .q5_0, .q5_1:
                for _ in 0..<(columns / 32) {
                    bytes += half(Float.random(in: 0.001...0.05, using: &generator))
                    if format == .q5_1 { bytes += half(Float.random(in: -0.5...0.5, using: &generator)) }
                    for _ in 0..<(4 + 16) { bytes.append(UInt8.random(in: 0...255, using: &generator)) }
                }
            case .q4_k, .q5_k:
                // d, dmin, twelve bytes of packed six-bit scales and minimums, (Q5_K: 32 bytes of fifth
                // bits,) 128 bytes of nibbles.
                for _ in 0..<(columns / 256) {
                    bytes += half(Float.random(in: 0.0005...0.002, using: &generator))
                    bytes += half(Float.random(in: 0.0005...0.002, using: &generator))
                    for _ in 0..<(12 + (format == .q5_k ? 32 : 0) + 128) { bytes.append(UInt8.random(in: 0...255, using: &generator)) }
                }
            case .q6_k:
                // 128 bytes of low nibbles, 64 of two-bit highs, sixteen int8 scales, d.
                for _ in 0..<(columns / 256) {
                    for _ in 0..<(128 + 64) { bytes.append(UInt8.random(in: 0...255, using: &generator)) }
                    for _ in 0..<16 { bytes.append(UInt8(bitPattern: Int8.random(in: -127...127, using: &generator))) }
                    bytes += half(Float.random(in: 0.0001...0.001, using: &generator))
                }
            }
        }
        return QuantizedMatrix(format: format, rows: rows, columns: columns, bytes: bytes)!
    }

    /// Columns for a test matrix: a whole number of blocks of 32, or of 256 for the K-quants.
    static func columns(for format: QuantizedMatrix.Format) -> Int {
        [.q4_k, .q5_k, .q6_k].contains(format) ? 512 : 96
    }

    @Test(arguments: QuantizedMatrix.Format.allCases)
    func productsMatchTheDequantisedMatrix(format: QuantizedMatrix.Format) {
        let (rows, columns) = (71, Self.columns(for: format))
        let matrix = Self.randomMatrix(format, rows: rows, columns: columns, seed: UInt64(format.rawValue))
        let dense = matrix.dequantized()
        var generator = SplitMix64(seed: 99)
        // One row (the row kernels), a few (each weight row dequantised once: pairs of weight rows
        // against groups of four rows and a remainder) and more than 256 (OpenBLAS on tiles).
        for count in [1, 3, 9, 300] {
            let x = (0..<(count * columns)).map { _ in Float.random(in: -1...1, using: &generator) }
            var expected = [Float](repeating: 0, count: count * rows)
            Linear.forward(out: &expected, x: x, weight: dense, bias: nil, rows: count, inFeatures: columns, outFeatures: rows)
            var actual = [Float](repeating: 0, count: count * rows)
            WeightMatrix.quantized(matrix).forward(out: &actual, x: x, bias: nil, rows: count, inFeatures: columns, outFeatures: rows)
            for index in actual.indices {
                #expect(abs(actual[index] - expected[index]) <= 1e-4 * max(1, abs(expected[index])), "\(format) m=\(count) [\(index)]")
            }
        }
        #expect(matrix.row(5) == Array(dense[(5 * columns)..<(6 * columns)]))
    }

    /// The integer path equals the exact product with the activations rounded as it rounds them
    /// (per block of 32: d = max|x| / 127, q = round(x / d)); only summation order differs.
    @Test(arguments: QuantizedMatrix.Format.allCases.filter { $0 != .f16 && $0 != .bf16 })
    func integerActivationsEqualTheProductWithRoundedActivations(format: QuantizedMatrix.Format) {
        let (rows, columns) = (70, Self.columns(for: format))
        let matrix = Self.randomMatrix(format, rows: rows, columns: columns, seed: UInt64(format.rawValue) + 40)
        #expect(matrix.supportsIntegerActivations)
        let dense = matrix.dequantized()
        var generator = SplitMix64(seed: 5)
        let x = (0..<columns).map { _ in Float.random(in: -2...2, using: &generator) }
        var rounded = x
        for block in stride(from: 0, to: columns, by: 32) {
            let d = x[block..<(block + 32)].map(abs).max()! / 127
            for index in block..<(block + 32) { rounded[index] = d * (x[index] / d).rounded(.toNearestOrAwayFromZero) }
        }
        var expected = [Float](repeating: 0, count: rows)
        Linear.forward(out: &expected, x: rounded, weight: dense, bias: nil, rows: 1, inFeatures: columns, outFeatures: rows)
        var actual = [Float](repeating: 0, count: rows)
        WeightMatrix.quantized(matrix).forward(
            out: &actual, x: x, bias: nil, rows: 1, inFeatures: columns, outFeatures: rows, integerActivations: true)
        for index in actual.indices {
            #expect(abs(actual[index] - expected[index]) <= 1e-4 * max(1, abs(expected[index])), "\(format) [\(index)]")
        }
        #expect(!QuantizedMatrix(format: .f16, rows: 1, columns: 32, bytes: [UInt8](repeating: 0, count: 64))!.supportsIntegerActivations)
    }

    /// Every kernel path this CPU has (portable C, AVX2, AVX-512 VNNI) gives the same products, float
    /// and integer, for every format; the portable path runs everywhere, so a host with only AVX2 still
    /// checks its vector kernels against it.
    @Test(arguments: QuantizedMatrix.Format.allCases)
    func kernelPathsAgree(format: QuantizedMatrix.Format) {
        let (rows, columns) = (37, 2 * Self.columns(for: format))
        let matrix = Self.randomMatrix(format, rows: rows, columns: columns, seed: UInt64(format.rawValue) + 80)
        var generator = SplitMix64(seed: 31)
        let x = (0..<columns).map { _ in Float.random(in: -1...1, using: &generator) }
        let rowsX = (0..<(6 * columns)).map { _ in Float.random(in: -1...1, using: &generator) }
        let portableRows = matrix.product(ofRows: rowsX, count: 6, kernelLevel: 0)
        let vectorRows = matrix.product(ofRows: rowsX, count: 6, kernelLevel: 1)
        for index in portableRows.indices {
            #expect(abs(vectorRows[index] - portableRows[index]) <= 1e-4 * max(1, abs(portableRows[index])), "\(format) rows [\(index)]")
        }
        for integer in [false, true] where !integer || matrix.supportsIntegerActivations {
            let portable = matrix.product(of: x, integerActivations: integer, kernelLevel: 0)
            for level in 1...max(1, QuantizedMatrix.integerKernelLevel) {
                let vector = matrix.product(of: x, integerActivations: integer, kernelLevel: level)
                for index in portable.indices {
                    #expect(
                        abs(vector[index] - portable[index]) <= 1e-4 * max(1, abs(portable[index])),
                        "\(format) integer \(integer) level \(level) [\(index)]")
                }
            }
        }
    }

    @Test func q8DequantisationFollowsTheBlockFormula() {
        // One block: scale 0.5 (f16 0x3800), values -2, 0, 3, then zeros.
        var bytes: [UInt8] = [0x00, 0x38, 0xFE, 0x00, 0x03]
        bytes += [UInt8](repeating: 0, count: 29)
        let matrix = QuantizedMatrix(format: .q8_0, rows: 1, columns: 32, bytes: bytes)!
        #expect(Array(matrix.row(0).prefix(4)) == [-1, 0, 1.5, 0])
        #expect(QuantizedMatrix(format: .q8_0, rows: 2, columns: 32, bytes: bytes) == nil, "byte count must fit")
        #expect(QuantizedMatrix(format: .q4_1, rows: 1, columns: 30, bytes: bytes) == nil, "columns must be whole blocks")
    }

    @Test func threadsSplitRowsWithoutChangingResults() {
        let matrix = Self.randomMatrix(.q4_1, rows: 300, columns: 64, seed: 8)
        var generator = SplitMix64(seed: 4)
        let x = (0..<64).map { _ in Float.random(in: -1...1, using: &generator) }
        var single = [Float](repeating: 0, count: 300)
        var threaded = single
        WeightMatrix.quantized(matrix).forward(out: &single, x: x, bias: nil, rows: 1, inFeatures: 64, outFeatures: 300)
        WeightMatrix.quantized(matrix).forward(out: &threaded, x: x, bias: nil, rows: 1, inFeatures: 64, outFeatures: 300, threads: 2)
        #expect(single == threaded)
        let rows = (0..<(5 * 64)).map { _ in Float.random(in: -1...1, using: &generator) }
        var few = [Float](repeating: 0, count: 5 * 300)
        var fewThreaded = few
        WeightMatrix.quantized(matrix).forward(out: &few, x: rows, bias: nil, rows: 5, inFeatures: 64, outFeatures: 300)
        WeightMatrix.quantized(matrix).forward(out: &fewThreaded, x: rows, bias: nil, rows: 5, inFeatures: 64, outFeatures: 300, threads: 2)
        #expect(few == fewThreaded)
    }

    @Test func q8QuantisationStaysWithinHalfAStep() {
        var generator = SplitMix64(seed: 12)
        let dense = (0..<(5 * 64)).map { _ in Float.random(in: -2...2, using: &generator) }
        let matrix = QuantizedMatrix.quantizeQ8_0(dense, rows: 5, columns: 64)!
        let restored = matrix.dequantized()
        for block in 0..<(dense.count / 32) {
            let values = dense[(block * 32)..<((block + 1) * 32)]
            let step = values.map { abs($0) }.max()! / 127
            for index in values.indices {
                // Half a step, plus the f16 rounding of the scale (relative 2^-11 of up to 127 steps).
                #expect(abs(restored[index] - dense[index]) <= step * 0.5 + step * 127 / 2048 + 1e-6)
            }
        }
        #expect(QuantizedMatrix.quantizeQ8_0(dense, rows: 10, columns: 32) != nil)
        #expect(QuantizedMatrix.quantizeQ8_0(dense, rows: 16, columns: 20) == nil, "rows must be whole blocks")
    }

    @Test func reorderingRowsMovesWholeRows() {
        let matrix = Self.randomMatrix(.q4_1, rows: 4, columns: 32, seed: 3)
        let reordered = matrix.reorderingRows([2, 0, 3, 1])
        #expect(reordered.row(0) == matrix.row(2))
        #expect(reordered.row(3) == matrix.row(1))
    }
}
