import Numerics
import Testing

/// The bfloat16 product kernel against the same product written out in Double on inputs rounded to
/// bfloat16 (nearest even) as the kernel rounds them: only the order and precision of the Float32
/// sums differ. The shapes leave partial tiles everywhere: rows not a multiple of the 12-row tile
/// or the 48-row chunk, outputs not a multiple of 32 (nor of 16), an odd input width.
@Suite struct BF16MatrixTests {
    static func bf16(_ value: Float) -> Double {
        let bits = value.bitPattern
        return Double(Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000))
    }

    @Test(arguments: [(53, 101, 70), (1, 8, 16), (97, 384, 33), (12, 64, 32)])
    func productsEqualTheRoundedProductWrittenOut(shape: (rows: Int, inFeatures: Int, outFeatures: Int)) throws {
        var generator = SplitMix64(seed: UInt64(shape.rows * 1000 + shape.outFeatures))
        let weight = (0..<(shape.outFeatures * shape.inFeatures)).map { _ in Float.random(in: -1...1, using: &generator) }
        let x = (0..<(shape.rows * shape.inFeatures)).map { _ in Float.random(in: -2...2, using: &generator) }
        let bias = (0..<shape.outFeatures).map { _ in Float.random(in: -1...1, using: &generator) }
        guard let matrix = BF16Matrix(weight: weight, outFeatures: shape.outFeatures, inFeatures: shape.inFeatures) else {
            #expect(!BF16Matrix.supported, "a supported CPU must pack the matrix")
            return
        }
        for withBias in [true, false] {
            var out = [Float](repeating: .nan, count: shape.rows * shape.outFeatures)
            if withBias {
                matrix.forward(out: &out, x: x, bias: bias, rows: shape.rows)
            } else {
                matrix.forward(out: &out, x: x, bias: nil, rows: shape.rows)
            }
            for row in 0..<shape.rows {
                for column in 0..<shape.outFeatures {
                    var expected = withBias ? Double(bias[column]) : 0
                    var magnitude = 1.0
                    for index in 0..<shape.inFeatures {
                        let term = Self.bf16(x[row * shape.inFeatures + index]) * Self.bf16(weight[column * shape.inFeatures + index])
                        expected += term
                        magnitude += abs(term)
                    }
                    let actual = Double(out[row * shape.outFeatures + column])
                    #expect(abs(actual - expected) <= 1e-6 * magnitude, "\(shape) [\(row), \(column)]: \(actual) vs \(expected)")
                }
            }
        }
    }

    /// The threaded product (output panels split between threads) equals the single-threaded one
    /// bit for bit; `accumulate` adds to what the output held; the transposed packing multiplies by
    /// W itself (a Linear layer's input gradient); `row` reads back the rounded weights.
    @Test(arguments: [(53, 101, 70), (5, 576, 192), (49, 64, 1536)])
    func threadsAccumulationTransposeAndRowsAgree(shape: (rows: Int, inFeatures: Int, outFeatures: Int)) throws {
        var generator = SplitMix64(seed: UInt64(shape.rows + shape.outFeatures))
        let weight = (0..<(shape.outFeatures * shape.inFeatures)).map { _ in Float.random(in: -1...1, using: &generator) }
        let x = (0..<(shape.rows * shape.inFeatures)).map { _ in Float.random(in: -2...2, using: &generator) }
        let bias = (0..<shape.outFeatures).map { _ in Float.random(in: -1...1, using: &generator) }
        let start = (0..<(shape.rows * shape.outFeatures)).map { _ in Float.random(in: -1...1, using: &generator) }
        guard let matrix = BF16Matrix(weight: weight, outFeatures: shape.outFeatures, inFeatures: shape.inFeatures),
            let transposed = BF16Matrix(transposing: weight, rows: shape.outFeatures, columns: shape.inFeatures)
        else {
            #expect(!BF16Matrix.supported, "a supported CPU must pack the matrix")
            return
        }
        var single = [Float](repeating: .nan, count: shape.rows * shape.outFeatures)
        matrix.forward(out: &single, x: x, bias: bias, rows: shape.rows)
        for threads in [1, 2, 3] {
            var threaded = [Float](repeating: .nan, count: single.count)
            matrix.multiply(out: &threaded, x: x, bias: bias, rows: shape.rows, threads: threads)
            #expect(threaded == single, "\(threads) threads")
            var accumulated = start
            matrix.multiply(out: &accumulated, x: x, bias: bias, rows: shape.rows, accumulate: true, threads: threads)
            #expect(accumulated == zip(start, single).map { $0 + $1 }, "accumulated, \(threads) threads")
        }
        // dOut [rows, outFeatures] · W [outFeatures, inFeatures], written out over the rounded values.
        let dOut = Array(start)
        var gradient = [Float](repeating: 0, count: shape.rows * shape.inFeatures)
        transposed.multiply(out: &gradient, x: dOut, bias: nil, rows: shape.rows, accumulate: true, threads: 2)
        for row in 0..<shape.rows {
            for column in 0..<shape.inFeatures {
                var expected = 0.0
                var magnitude = 1.0
                for index in 0..<shape.outFeatures {
                    let term = Self.bf16(dOut[row * shape.outFeatures + index]) * Self.bf16(weight[index * shape.inFeatures + column])
                    expected += term
                    magnitude += abs(term)
                }
                #expect(abs(Double(gradient[row * shape.inFeatures + column]) - expected) <= 1e-6 * magnitude)
            }
        }
        for index in [0, shape.outFeatures / 2, shape.outFeatures - 1] {
            let expected = (0..<shape.inFeatures).map { Float(Self.bf16(weight[index * shape.inFeatures + $0])) }
            #expect(matrix.row(index) == expected, "row \(index)")
        }
    }

    @Test func roundingIsToNearestEven() {
        #expect(Self.bf16(1 + 1.0 / 256) == 1, "a tie rounds to the even mantissa")
        #expect(Self.bf16(1 + 3.0 / 256) == 1 + 4.0 / 256)
        guard let matrix = BF16Matrix(weight: [1 + 3.0 / 256, 1], outFeatures: 1, inFeatures: 2) else { return }
        var out: [Float] = [0]
        matrix.forward(out: &out, x: [1, 1 + 1.0 / 256], bias: nil, rows: 1)
        #expect(out == [2 + 4.0 / 256])
    }

    /// The probe behind `--precision auto` answers exactly where the kernel exists, with a finite
    /// positive ratio (its size is the host's, so no threshold here). OpenBLAS's threads stay as the
    /// other suites set them: changing them while another test multiplies is not safe.
    @Test func theSpeedupIsMeasuredWhereTheKernelExists() {
        let speedup = BF16Matrix.measuredSpeedup(rows: 24, inFeatures: 64, outFeatures: 96)
        #expect((speedup != nil) == BF16Matrix.supported)
        if let speedup { #expect(speedup.isFinite && speedup > 0) }
    }
}
