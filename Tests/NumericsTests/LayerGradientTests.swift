import Foundation
import Numerics
import Testing

@Suite struct LayerGradientTests {
    var check = GradientCheck()

    @Test mutating func linear() {
        let (rows, input, output) = (3, 4, 5)
        let x = check.random(rows * input)
        let weight = check.random(output * input)
        let bias = check.random(output)
        let dout = check.random(rows * output)
        func run(_ x: [Float], _ weight: [Float], _ bias: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: rows * output)
            Linear.forward(out: &out, x: x, weight: weight, bias: bias, rows: rows, inFeatures: input, outFeatures: output)
            return out
        }
        func gradients(_ dout: [Float]) -> (dx: [Float], dw: [Float], db: [Float]) {
            var dx = [Float](repeating: 0, count: rows * input)
            var dw = [Float](repeating: 0, count: output * input)
            var db = [Float](repeating: 0, count: output)
            Linear.backward(
                dx: &dx, dweight: &dw, dbias: &db, dout: dout, x: x, weight: weight, rows: rows, inFeatures: input, outFeatures: output)
            return (dx, dw, db)
        }
        GradientCheck.check(input: x, outputWeights: dout, forward: { run($0, weight, bias) }, backward: { gradients($0).dx })
        GradientCheck.check(input: weight, outputWeights: dout, forward: { run(x, $0, bias) }, backward: { gradients($0).dw })
        GradientCheck.check(input: bias, outputWeights: dout, forward: { run(x, weight, $0) }, backward: { gradients($0).db })
    }

    @Test mutating func singleRowLinearUsesGemvAndAgreesWithGemm() {
        let x = check.random(7)
        let weight = check.random(5 * 7)
        var single = [Float](repeating: 0, count: 5)
        Linear.forward(out: &single, x: x, weight: weight, bias: nil, rows: 1, inFeatures: 7, outFeatures: 5)
        var double = [Float](repeating: 0, count: 10)
        Linear.forward(out: &double, x: x + x, weight: weight, bias: nil, rows: 2, inFeatures: 7, outFeatures: 5)
        for index in 0..<5 { #expect(abs(single[index] - double[index]) < 1e-5) }
        let reference = (0..<5).map { o in (0..<7).reduce(Float(0)) { $0 + x[$1] * weight[o * 7 + $1] } }
        for index in 0..<5 { #expect(abs(single[index] - reference[index]) < 1e-5) }
    }

    @Test mutating func embeddingSkipsThePaddingRow() {
        let table = check.random(4 * 3)
        let ids: [Int32] = [2, 0, 2, 3]
        let dout = check.random(4 * 3)
        GradientCheck.check(
            input: table, outputWeights: dout,
            forward: { table in
                var out = [Float](repeating: 0, count: 12)
                Embedding.forward(out: &out, ids: ids, table: table, count: 4, dim: 3, scale: 2)
                return out
            },
            backward: { dout in
                var dtable = [Float](repeating: 0, count: 12)
                Embedding.backward(dtable: &dtable, dout: dout, ids: ids, count: 4, dim: 3, scale: 2)
                return dtable
            })
        var dtable = [Float](repeating: 0, count: 12)
        Embedding.backward(dtable: &dtable, dout: dout, ids: ids, count: 4, dim: 3, paddingIndex: 0)
        #expect(dtable[0..<3].allSatisfy { $0 == 0 })
    }

    @Test mutating func layerNorm() {
        let (rows, dim) = (3, 6)
        let x = check.random(rows * dim)
        let gamma = check.random(dim)
        let beta = check.random(dim)
        let dout = check.random(rows * dim)
        func run(_ x: [Float], _ gamma: [Float], _ beta: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: rows * dim)
            var mean = [Float](repeating: 0, count: rows)
            var rstd = [Float](repeating: 0, count: rows)
            LayerNorm.forward(out: &out, mean: &mean, rstd: &rstd, x: x, gamma: gamma, beta: beta, rows: rows, dim: dim, eps: 1e-5)
            return out
        }
        func gradients(_ dout: [Float]) -> [[Float]] {
            var out = [Float](repeating: 0, count: rows * dim)
            var mean = [Float](repeating: 0, count: rows)
            var rstd = [Float](repeating: 0, count: rows)
            LayerNorm.forward(out: &out, mean: &mean, rstd: &rstd, x: x, gamma: gamma, beta: beta, rows: rows, dim: dim, eps: 1e-5)
            var dx = [Float](repeating: 0, count: rows * dim)
            var dgamma = [Float](repeating: 0, count: dim)
            var dbeta = [Float](repeating: 0, count: dim)
            LayerNorm.backward(
                dx: &dx, dgamma: &dgamma, dbeta: &dbeta, dout: dout, x: x, mean: mean, rstd: rstd, gamma: gamma, rows: rows, dim: dim)
            return [dx, dgamma, dbeta]
        }
        GradientCheck.check(input: x, outputWeights: dout, step: 3e-3, forward: { run($0, gamma, beta) }, backward: { gradients($0)[0] })
        GradientCheck.check(input: gamma, outputWeights: dout, forward: { run(x, $0, beta) }, backward: { gradients($0)[1] })
        GradientCheck.check(input: beta, outputWeights: dout, forward: { run(x, gamma, $0) }, backward: { gradients($0)[2] })
    }

    @Test mutating func elementwiseActivations() {
        // Keep inputs away from ReLU's and LeakyReLU's kink, where differences are meaningless.
        let x = check.random(20).map { abs($0) < 0.05 ? $0 + 0.2 : $0 }
        let dout = check.random(20)
        GradientCheck.check(
            input: x, outputWeights: dout,
            forward: { x in var out = x; ReLU.forward(out: &out, x: x, count: 20); return out },
            backward: { dout in var dx = [Float](repeating: 0, count: 20); ReLU.backward(dx: &dx, dout: dout, x: x, count: 20); return dx })
        GradientCheck.check(
            input: x, outputWeights: dout,
            forward: { x in var out = x; LeakyReLU.forward(out: &out, x: x, count: 20); return out },
            backward: { dout in var dx = [Float](repeating: 0, count: 20); LeakyReLU.backward(dx: &dx, dout: dout, x: x, count: 20); return dx })
        GradientCheck.check(
            input: x, outputWeights: dout,
            forward: { x in var out = x; GELU.forward(out: &out, x: x, count: 20); return out },
            backward: { dout in var dx = [Float](repeating: 0, count: 20); GELU.backward(dx: &dx, dout: dout, x: x, count: 20); return dx })
        var y = x
        Sigmoid.forward(out: &y, x: x, count: 20)
        GradientCheck.check(
            input: x, outputWeights: dout,
            forward: { x in var out = x; Sigmoid.forward(out: &out, x: x, count: 20); return out },
            backward: { dout in var dx = [Float](repeating: 0, count: 20); Sigmoid.backward(dx: &dx, dout: dout, y: y, count: 20); return dx })
    }

    @Test mutating func geluMatchesTorchValues() {
        // torch.nn.functional.gelu(torch.tensor([-2., -0.5, 0., 0.5, 2.])), exact erf form.
        var out = [Float](repeating: 0, count: 5)
        GELU.forward(out: &out, x: [-2, -0.5, 0, 0.5, 2], count: 5)
        let expected: [Float] = [-0.045500263, -0.15426877, 0, 0.34573123, 1.9544997]
        for index in 0..<5 { #expect(abs(out[index] - expected[index]) < 1e-6) }
    }

    @Test func fastErfAgreesWithLibm() {
        var worst: Float = 0
        for step in -6000...6000 {
            let x = Float(step) / 1000
            worst = max(worst, abs(GELU.erf(x) - erf(x)))
        }
        #expect(worst < 3e-7, "max |erf error| \(worst)")
    }

    @Test func vectorExpGELUAndSoftmaxAgreeWithLibm() {
        var worstExp: Float = 0
        for start in stride(from: -90.0, to: 90.0, by: 0.0173 * 8) {
            let lanes = SIMD8<Float>((0..<8).map { Float(start + 0.0173 * Double($0)) })
            let exps = VectorMath.exp(lanes)
            for lane in 0..<8 {
                let reference = exp(lanes[lane])
                if reference > 1e-30 && reference < 1e30 { worstExp = max(worstExp, abs(exps[lane] - reference) / reference) }
            }
        }
        #expect(worstExp < 5e-7, "relative exp error \(worstExp)")
        // The C GELU (vector lanes and the scalar tail) against x·(1 + erf(x/√2))/2 with libm's erf.
        let inputs = (-6003...6000).map { Float($0) / 1000 }
        var gelu = [Float](repeating: .nan, count: inputs.count)
        GELU.forward(out: &gelu, x: inputs, count: inputs.count)
        var worstGELU: Float = 0
        for (x, value) in zip(inputs, gelu) {
            worstGELU = max(worstGELU, abs(value - 0.5 * x * (1 + erf(x / Float(2).squareRoot()))) / max(1, abs(x)))
        }
        #expect(worstGELU < 5e-7, "GELU error \(worstGELU)")
        var row: [Float] = [3, 1, -2, 0.5, 8, -80, 2, 2, 1, 0.25, -1]
        let reference = row.map { exp($0 - 8) }
        let total = reference.reduce(0, +)
        row.withUnsafeMutableBufferPointer { VectorMath.softmaxInPlace($0.baseAddress!, count: 11) }
        for (value, expected) in zip(row, reference) { #expect(abs(value - expected / total) < 1e-6) }
    }

    @Test mutating func dropoutIsSeededAndScales() {
        let x = [Float](repeating: 1, count: 10_000)
        var first = [Float](repeating: 0, count: 10_000)
        var mask = first
        var generator = SplitMix64(seed: 5)
        Dropout.forward(out: &first, mask: &mask, x: x, count: 10_000, probability: 0.5, generator: &generator)
        var again = first
        var generatorAgain = SplitMix64(seed: 5)
        Dropout.forward(out: &again, mask: &mask, x: x, count: 10_000, probability: 0.5, generator: &generatorAgain)
        #expect(first == again)
        #expect(Set(first) == [0, 2])
        let kept = first.filter { $0 > 0 }.count
        #expect(abs(kept - 5000) < 300)
        let dout = check.random(10_000)
        var dx = [Float](repeating: 0, count: 10_000)
        Dropout.backward(dx: &dx, dout: dout, mask: mask, count: 10_000)
        for index in 0..<10_000 { #expect(dx[index] == dout[index] * mask[index]) }
    }

    @Test mutating func softmax() {
        let x = check.random(12)
        let dout = check.random(12)
        var y = x
        Softmax.forward(out: &y, x: x, rows: 3, dim: 4)
        for row in 0..<3 { #expect(abs(y[(row * 4)..<(row * 4 + 4)].reduce(0, +) - 1) < 1e-6) }
        GradientCheck.check(
            input: x, outputWeights: dout,
            forward: { x in var out = x; Softmax.forward(out: &out, x: x, rows: 3, dim: 4); return out },
            backward: { dout in var dx = [Float](repeating: 0, count: 12); Softmax.backward(dx: &dx, dout: dout, y: y, rows: 3, dim: 4); return dx })
    }

    @Test mutating func losses() {
        let logits = check.random(8, scale: 2)
        let targets: [Float] = [1, 0, 1, 1, 0, 0, 1, 0]
        let weights: [Float] = [1, 1, 0, 1, 1, 0, 1, 1]
        var dlogits = [Float](repeating: 0, count: 8)
        _ = Loss.binaryCrossEntropyWithLogits(logits: logits, targets: targets, weights: weights, count: 8, dlogits: &dlogits)
        GradientCheck.check(
            input: logits, outputWeights: [1],
            forward: { x in
                var scratch = [Float](repeating: 0, count: 8)
                return [Loss.binaryCrossEntropyWithLogits(logits: x, targets: targets, weights: weights, count: 8, dlogits: &scratch)]
            },
            backward: { dout in dlogits.map { $0 * dout[0] } })
        let classes = check.random(12, scale: 2)
        let labels: [Int32] = [2, -1, 0]
        var dclasses = [Float](repeating: 0, count: 12)
        _ = Loss.crossEntropy(logits: classes, targets: labels, rows: 3, classes: 4, dlogits: &dclasses)
        GradientCheck.check(
            input: classes, outputWeights: [1],
            forward: { x in
                var scratch = [Float](repeating: 0, count: 12)
                return [Loss.crossEntropy(logits: x, targets: labels, rows: 3, classes: 4, dlogits: &scratch)]
            },
            backward: { dout in dclasses.map { $0 * dout[0] } })
        let values = check.random(6)
        let goal = check.random(6)
        var dvalues = [Float](repeating: 0, count: 6)
        _ = Loss.meanSquaredError(x: values, target: goal, count: 6, dx: &dvalues)
        GradientCheck.check(
            input: values, outputWeights: [1],
            forward: { x in
                var scratch = [Float](repeating: 0, count: 6)
                return [Loss.meanSquaredError(x: x, target: goal, count: 6, dx: &scratch)]
            },
            backward: { dout in dvalues.map { $0 * dout[0] } })
    }

    /// A vocabulary-sized row (49,152 classes, as SmolLM2's) with an LM's spread of logits: the loss
    /// and gradient against a Float64 computation of the same Float32 logits.
    @Test func crossEntropyOverAVocabularyMatchesFloat64() {
        let (rows, classes) = (3, 49_152)
        var generator = SplitMix64(seed: 11)
        var logits = (0..<(rows * classes)).map { _ in Float(Initialization.normal(&generator)) * 2 }
        let targets: [Int32] = [7, 40_000, 123]
        for row in 0..<rows { for column in 0..<4 { logits[row * classes + column * 997] = 12 } }
        var dlogits = [Float](repeating: 0, count: rows * classes)
        let loss = Loss.crossEntropy(logits: logits, targets: targets, rows: rows, classes: classes, dlogits: &dlogits)
        var expectedLoss = 0.0
        var errorSquares = 0.0
        var normSquares = 0.0
        for row in 0..<rows {
            let line = logits[(row * classes)..<((row + 1) * classes)].map(Double.init)
            let maximum = line.max()!
            let sum = line.reduce(0) { $0 + Foundation.exp($1 - maximum) }
            expectedLoss += (maximum + Foundation.log(sum) - line[Int(targets[row])]) / Double(rows)
            for column in 0..<classes {
                let gradient = (Foundation.exp(line[column] - maximum) / sum - (column == Int(targets[row]) ? 1 : 0)) / Double(rows)
                errorSquares += (Double(dlogits[row * classes + column]) - gradient) * (Double(dlogits[row * classes + column]) - gradient)
                normSquares += gradient * gradient
            }
        }
        #expect(abs(Double(loss) - expectedLoss) <= 1e-6 * expectedLoss, "loss \(loss) vs \(expectedLoss)")
        #expect((errorSquares / normSquares).squareRoot() <= 1e-6, "relative gradient error \((errorSquares / normSquares).squareRoot())")
    }

    @Test mutating func bceMatchesItsDefinitionAtExtremes() {
        var d = [Float](repeating: 0, count: 2)
        let loss = Loss.binaryCrossEntropyWithLogits(logits: [80, -80], targets: [0, 1], weights: nil, count: 2, dlogits: &d)
        #expect(abs(loss - 80) < 1e-3, "stable for large logits")
        #expect(abs(d[0] - 0.5) < 1e-6 && abs(d[1] + 0.5) < 1e-6)
    }

    @Test mutating func causalAttention() {
        let shape = CausalAttention.Shape(batch: 2, length: 4, heads: 2, headDim: 3)
        let count = shape.batch * shape.length * shape.width
        let q = check.random(count)
        let k = check.random(count)
        let v = check.random(count)
        let dout = check.random(count)
        func run(_ q: [Float], _ k: [Float], _ v: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: count)
            var p = [Float](repeating: 0, count: shape.probabilityCount)
            var dropped = p
            var mask = p
            var generator = SplitMix64(seed: 0)
            CausalAttention.forward(
                out: &out, probabilities: &p, dropped: &dropped, dropMask: &mask, q: q, k: k, v: v, shape: shape, dropout: 0,
                generator: &generator)
            return out
        }
        func gradients(_ dout: [Float]) -> [[Float]] {
            var out = [Float](repeating: 0, count: count)
            var p = [Float](repeating: 0, count: shape.probabilityCount)
            var dropped = p
            var mask = p
            var generator = SplitMix64(seed: 0)
            CausalAttention.forward(
                out: &out, probabilities: &p, dropped: &dropped, dropMask: &mask, q: q, k: k, v: v, shape: shape, dropout: 0,
                generator: &generator)
            var dq = [Float](repeating: 0, count: count)
            var dk = dq
            var dv = dq
            var scratch = [Float](repeating: 0, count: shape.length * shape.length)
            CausalAttention.backward(
                dq: &dq, dk: &dk, dv: &dv, dout: dout, probabilities: p, dropped: dropped, dropMask: mask, q: q, k: k, v: v,
                shape: shape, scratch: &scratch)
            return [dq, dk, dv]
        }
        GradientCheck.check(input: q, outputWeights: dout, forward: { run($0, k, v) }, backward: { gradients($0)[0] })
        GradientCheck.check(input: k, outputWeights: dout, forward: { run(q, $0, v) }, backward: { gradients($0)[1] })
        GradientCheck.check(input: v, outputWeights: dout, forward: { run(q, k, $0) }, backward: { gradients($0)[2] })
        // Causality: changing the last position's key and value leaves earlier outputs unchanged.
        var laterK = k
        var laterV = v
        for column in 0..<shape.width { laterK[3 * shape.width + column] += 1; laterV[3 * shape.width + column] += 1 }
        let before = run(q, k, v)
        let after = run(q, laterK, laterV)
        #expect(Array(before[0..<(3 * shape.width)]) == Array(after[0..<(3 * shape.width)]))
    }
}
