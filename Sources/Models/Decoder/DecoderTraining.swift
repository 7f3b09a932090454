import Foundation
import Numerics

/// What one layer's full-sequence forward keeps for the backward pass, all row-major over the
/// sequence's `rows` positions.
struct DecoderLayerTrace: Sendable {
    /// The layer's input hidden states, [rows, hidden].
    var input: [Float]
    /// What q/k/v were computed from (normed input when pre-LN, the input itself when post-LN).
    var attentionInput: [Float]
    /// Queries and keys after RoPE, values: [rows, hidden], [rows, kvWidth] ×2.
    var query, key, value: [Float]
    /// Softmax of the causal scores, [heads, rows, rows] (zero above the diagonal).
    var probabilities: [Float]
    /// Heads concatenated before the output projection, [rows, hidden].
    var attended: [Float]
    /// input + attention output (the attention residual sum), [rows, hidden].
    var attentionSum: [Float]
    /// What the FFN's first matrices multiplied, [rows, hidden].
    var feedForwardInput: [Float]
    /// Llama: gate pre-activations; nil for OPT. [rows, intermediate].
    var gate: [Float]?
    /// up_proj / fc1 outputs, [rows, intermediate].
    var up: [Float]
    /// The FFN's hidden activation fed to down_proj / fc2, [rows, intermediate].
    var activated: [Float]
    /// FFN residual sum (only kept for post-LN, where a norm follows it).
    var feedForwardSum: [Float]?
}

/// A full-sequence forward's saved activations, consumed by `CausalDecoder.inputGradients`.
public struct DecoderTrace: Sendable {
    /// Rows of the packed batch (every sequence's tokens, concatenated).
    public let rows: Int
    /// Rows whose outputs were produced, in the order of the outputs' rows.
    public let outputRows: [Int]
    /// For each row, the row where its sequence starts (attention never crosses sequences).
    let sequenceStarts: [Int]
    var layers: [DecoderLayerTrace]
    /// Hidden states after the last layer, [rows, hidden].
    var final: [Float]
}

/// One sequence of a packed training forward: its tokens from position 0, the soft vectors that
/// replace some of them (by offset, `embeddingSize` values each), and the offsets whose outputs
/// are wanted.
public struct TrainingSequence: Sendable {
    public var tokens: [Int32]
    public var inputEmbeddings: [Int: [Float]]
    public var outputRows: [Int]

    public init(tokens: [Int32], inputEmbeddings: [Int: [Float]], outputRows: [Int]) {
        self.tokens = tokens
        self.inputEmbeddings = inputEmbeddings
        self.outputRows = outputRows
    }
}

/// Training support for a frozen decoder: a forward over a whole sequence that keeps activations,
/// and the backward pass to the input embeddings (soft prompts), as A-LLMRec's stage 2 needs
/// (A-LLMRec stage 2, `models/llm4rec.py` of ghdtjr/A-LLMRec: gradients flow through the frozen LM into the projected soft tokens).
/// No weight gradients are formed. Quantised matrices are dequantised per product; call
/// `denseWeights()` once first to keep training fast.
extension CausalDecoder {
    /// The same decoder with every quantised matrix converted to Float32 (four to eight times the
    /// memory; what the backward pass multiplies by).
    public func denseWeights() -> CausalDecoder {
        func dense(_ matrix: WeightMatrix) -> WeightMatrix {
            if case .quantized(let quantized) = matrix { return .dense(quantized.dequantized()) }
            return matrix
        }
        var converted = weights
        converted.tokenEmbeddings = dense(weights.tokenEmbeddings)
        converted.outputHead = weights.outputHead.map(dense)
        converted.layers = weights.layers.map { layer in
            var layer = layer
            layer.query = dense(layer.query)
            layer.key = dense(layer.key)
            layer.value = dense(layer.value)
            layer.output = dense(layer.output)
            layer.gate = layer.gate.map(dense)
            layer.up = dense(layer.up)
            layer.down = dense(layer.down)
            return layer
        }
        var decoder = self
        decoder.weights = converted
        return decoder
    }

    /// Runs `tokens` from position 0 with the soft vectors of `inputEmbeddings` (by offset,
    /// `embeddingSize` values each) and returns the logits of the positions in `outputRows`
    /// ([outputRows.count, vocabulary]) with the trace for `inputGradients`.
    public func forwardForTraining(
        tokens: [Int32], inputEmbeddings: [Int: [Float]], outputRows: [Int]
    ) throws(DecoderError) -> (logits: [Float], trace: DecoderTrace) {
        let (final, trace) = try finalStatesForTraining([TrainingSequence(tokens: tokens, inputEmbeddings: inputEmbeddings, outputRows: outputRows)])
        var logits = [Float](repeating: 0, count: outputRows.count * configuration.vocabularySize)
        (weights.outputHead ?? weights.tokenEmbeddings).forward(
            out: &logits, x: final, bias: nil, rows: outputRows.count, inFeatures: configuration.embeddingSize,
            outFeatures: configuration.vocabularySize)
        return (logits, trace)
    }

    /// Runs several independent sequences packed into one set of matrix products (each from
    /// position 0, attending only to itself) and returns the final states of their output rows,
    /// sequences in order: the last hidden state through the final norm (and OPT-350m's
    /// project_out), what Hugging Face reports as the last `hidden_states`, [Σ outputRows, embeddingSize].
    public func finalStatesForTraining(_ sequences: [TrainingSequence]) throws(DecoderError) -> (states: [Float], trace: DecoderTrace) {
        let c = configuration
        var tokens: [Int32] = []
        var inputEmbeddings: [Int: [Float]] = [:]
        var positions: [Int] = []
        var sequenceStarts: [Int] = []
        var outputRows: [Int] = []
        for sequence in sequences {
            let start = tokens.count
            guard sequence.tokens.count <= c.maxPositions else { throw .contextFull(limit: c.maxPositions) }
            precondition(sequence.outputRows.allSatisfy { sequence.tokens.indices.contains($0) }, "output rows outside the sequence")
            tokens += sequence.tokens
            for (offset, vector) in sequence.inputEmbeddings { inputEmbeddings[start + offset] = vector }
            positions += Array(0..<sequence.tokens.count)
            sequenceStarts += [Int](repeating: start, count: sequence.tokens.count)
            outputRows += sequence.outputRows.map { start + $0 }
        }
        let rows = tokens.count
        var x = try embed(tokens: tokens, inputEmbeddings: inputEmbeddings, positions: positions)
        var traces: [DecoderLayerTrace] = []
        traces.reserveCapacity(c.layers)
        for layer in weights.layers {
            let trace = trainingLayerForward(layer, x: x, rows: rows, sequenceStarts: sequenceStarts)
            x = trace.output
            traces.append(trace.trace)
        }
        let h = c.hiddenSize
        let selected = outputRows.flatMap { x[($0 * h)..<(($0 + 1) * h)] }
        let trace = DecoderTrace(rows: rows, outputRows: outputRows, sequenceStarts: sequenceStarts, layers: traces, final: x)
        return (finalStates(hidden: selected, rows: outputRows.count), trace)
    }

    /// d loss / d input embeddings, [rows, embeddingSize], from d loss / d logits
    /// ([trace.outputRows.count, vocabulary]). Row r is what flows into the vector at offset r
    /// (a soft prompt's gradient when r was given in `inputEmbeddings`).
    public func inputGradients(_ trace: DecoderTrace, dLogits: [Float]) -> [Float] {
        let c = configuration
        let outputs = trace.outputRows.count
        precondition(dLogits.count == outputs * c.vocabularySize, "dLogits must be [outputRows, vocabulary]")
        var dHead = [Float](repeating: 0, count: outputs * c.embeddingSize)
        Self.inputGradient(
            into: &dHead, dOut: dLogits, weight: weights.outputHead ?? weights.tokenEmbeddings, rows: outputs, inFeatures: c.embeddingSize,
            outFeatures: c.vocabularySize)
        return inputGradients(trace, dStates: dHead)
    }

    /// d loss / d input embeddings of the packed rows, [trace.rows, embeddingSize], from d loss /
    /// d final states ([trace.outputRows.count, embeddingSize], as `finalStatesForTraining` returned them).
    public func inputGradients(_ trace: DecoderTrace, dStates: [Float]) -> [Float] {
        let c = configuration
        let (h, e, rows) = (c.hiddenSize, c.embeddingSize, trace.rows)
        let outputs = trace.outputRows.count
        precondition(dStates.count == outputs * e, "dStates must be [outputRows, embeddingSize]")
        // project_out and final norm, on the output rows only.
        let selected = trace.outputRows.flatMap { trace.final[($0 * h)..<(($0 + 1) * h)] }
        var dSelected: [Float]
        if let projectOut = weights.projectOut {
            dSelected = [Float](repeating: 0, count: outputs * h)
            Self.inputGradient(into: &dSelected, dOut: dStates, weight: .dense(projectOut), rows: outputs, inFeatures: h, outFeatures: e)
        } else {
            dSelected = dStates
        }
        if let norm = weights.finalNorm {
            dSelected = normBackward(dOut: dSelected, x: selected, norm: norm, rows: outputs)
        }
        var dx = [Float](repeating: 0, count: rows * h)
        for (index, row) in trace.outputRows.enumerated() {
            for column in 0..<h { dx[row * h + column] += dSelected[index * h + column] }
        }
        for (layer, layerTrace) in zip(weights.layers, trace.layers).reversed() {
            dx = trainingLayerBackward(layer, trace: layerTrace, dOutput: dx, rows: rows, sequenceStarts: trace.sequenceStarts)
        }
        guard let projectIn = weights.projectIn else { return dx }
        var dEmbedded = [Float](repeating: 0, count: rows * e)
        Self.inputGradient(into: &dEmbedded, dOut: dx, weight: .dense(projectIn), rows: rows, inFeatures: e, outFeatures: h)
        return dEmbedded
    }

    // MARK: - One layer

    private var preNorm: Bool { configuration.family == .llama || configuration.normalizeBefore }

    /// One layer over packed rows; `sequenceStarts[row]` is where the row's sequence begins (its
    /// position is the distance from there).
    private func trainingLayerForward(
        _ layer: DecoderWeights.Layer, x: [Float], rows: Int, sequenceStarts: [Int]
    ) -> (output: [Float], trace: DecoderLayerTrace) {
        let c = configuration
        let (h, inter, kvWidth) = (c.hiddenSize, c.intermediateSize, c.keyValueWidth)
        var attentionInput = x
        if preNorm { Self.normalize(out: &attentionInput, x: x, norm: layer.attentionNorm, rows: rows, dim: h, eps: normEpsilon) }
        var query = [Float](repeating: 0, count: rows * h)
        var key = [Float](repeating: 0, count: rows * kvWidth)
        var value = key
        layer.query.forward(out: &query, x: attentionInput, bias: layer.queryBias, rows: rows, inFeatures: h, outFeatures: h)
        layer.key.forward(out: &key, x: attentionInput, bias: layer.keyBias, rows: rows, inFeatures: h, outFeatures: kvWidth)
        layer.value.forward(out: &value, x: attentionInput, bias: layer.valueBias, rows: rows, inFeatures: h, outFeatures: kvWidth)
        if c.family == .llama {
            for row in 0..<rows {
                rotate(&query, row: row, width: h, heads: c.heads, position: row - sequenceStarts[row])
                rotate(&key, row: row, width: kvWidth, heads: c.keyValueHeads, position: row - sequenceStarts[row])
            }
        }
        var probabilities = [Float](repeating: 0, count: c.heads * rows * rows)
        var attended = [Float](repeating: 0, count: rows * h)
        attentionForward(
            query: query, key: key, value: value, rows: rows, sequenceStarts: sequenceStarts, probabilities: &probabilities, attended: &attended)
        var attentionSum = [Float](repeating: 0, count: rows * h)
        layer.output.forward(out: &attentionSum, x: attended, bias: layer.outputBias, rows: rows, inFeatures: h, outFeatures: h)
        for offset in 0..<(rows * h) { attentionSum[offset] += x[offset] }
        var middle = attentionSum
        if !preNorm { Self.normalize(out: &middle, x: attentionSum, norm: layer.attentionNorm, rows: rows, dim: h, eps: normEpsilon) }
        var feedForwardInput = middle
        if preNorm {
            Self.normalize(out: &feedForwardInput, x: middle, norm: layer.feedForwardNorm, rows: rows, dim: h, eps: normEpsilon)
        }
        var up = [Float](repeating: 0, count: rows * inter)
        layer.up.forward(out: &up, x: feedForwardInput, bias: layer.upBias, rows: rows, inFeatures: h, outFeatures: inter)
        var gate: [Float]?
        var activated = up
        if let gateWeight = layer.gate {
            var values = [Float](repeating: 0, count: rows * inter)
            gateWeight.forward(out: &values, x: feedForwardInput, bias: nil, rows: rows, inFeatures: h, outFeatures: inter)
            activated = values
            VectorMath.siluMultiply(&activated, up, count: rows * inter)
            gate = values
        } else {
            for offset in 0..<(rows * inter) { activated[offset] = max(up[offset], 0) }
        }
        var output = [Float](repeating: 0, count: rows * h)
        layer.down.forward(out: &output, x: activated, bias: layer.downBias, rows: rows, inFeatures: inter, outFeatures: h)
        for offset in 0..<(rows * h) { output[offset] += middle[offset] }
        var feedForwardSum: [Float]?
        if !preNorm {
            feedForwardSum = output
            Self.normalize(out: &output, x: feedForwardSum!, norm: layer.feedForwardNorm, rows: rows, dim: h, eps: normEpsilon)
        }
        let trace = DecoderLayerTrace(
            input: x, attentionInput: attentionInput, query: query, key: key, value: value, probabilities: probabilities,
            attended: attended, attentionSum: attentionSum, feedForwardInput: feedForwardInput, gate: gate, up: up,
            activated: activated, feedForwardSum: feedForwardSum)
        return (output, trace)
    }

    private func trainingLayerBackward(
        _ layer: DecoderWeights.Layer, trace t: DecoderLayerTrace, dOutput: [Float], rows: Int, sequenceStarts: [Int]
    ) -> [Float] {
        let c = configuration
        let (h, inter, kvWidth) = (c.hiddenSize, c.intermediateSize, c.keyValueWidth)
        // Feed-forward block: output = middle + down(act(ffnInput)) [then norm when post-LN].
        var dSum = dOutput
        if let sum = t.feedForwardSum { dSum = normBackward(dOut: dOutput, x: sum, norm: layer.feedForwardNorm, rows: rows) }
        var dActivated = [Float](repeating: 0, count: rows * inter)
        Self.inputGradient(into: &dActivated, dOut: dSum, weight: layer.down, rows: rows, inFeatures: inter, outFeatures: h)
        var dUp = [Float](repeating: 0, count: rows * inter)
        var dFeedForwardInput = [Float](repeating: 0, count: rows * h)
        if let gate = t.gate, let gateWeight = layer.gate {
            var dGate = [Float](repeating: 0, count: rows * inter)
            for offset in 0..<(rows * inter) {
                let g = gate[offset]
                let sigma = 1 / (1 + Foundation.exp(-g))
                dUp[offset] = dActivated[offset] * g * sigma
                dGate[offset] = dActivated[offset] * t.up[offset] * sigma * (1 + g * (1 - sigma))
            }
            Self.inputGradient(into: &dFeedForwardInput, dOut: dGate, weight: gateWeight, rows: rows, inFeatures: h, outFeatures: inter)
        } else {
            for offset in 0..<(rows * inter) { dUp[offset] = t.up[offset] > 0 ? dActivated[offset] : 0 }
        }
        Self.inputGradient(into: &dFeedForwardInput, dOut: dUp, weight: layer.up, rows: rows, inFeatures: h, outFeatures: inter)
        var dMiddle = dSum
        if preNorm {
            let dNormed = normBackward(dOut: dFeedForwardInput, x: t.attentionSum, norm: layer.feedForwardNorm, rows: rows)
            for offset in 0..<(rows * h) { dMiddle[offset] += dNormed[offset] }
        } else {
            for offset in 0..<(rows * h) { dMiddle[offset] += dFeedForwardInput[offset] }
        }
        // Attention block: middle = input + o(attn(attnInput)) [or its norm when post-LN].
        var dAttentionSum = dMiddle
        if !preNorm { dAttentionSum = normBackward(dOut: dMiddle, x: t.attentionSum, norm: layer.attentionNorm, rows: rows) }
        var dAttended = [Float](repeating: 0, count: rows * h)
        Self.inputGradient(into: &dAttended, dOut: dAttentionSum, weight: layer.output, rows: rows, inFeatures: h, outFeatures: h)
        var dQuery = [Float](repeating: 0, count: rows * h)
        var dKey = [Float](repeating: 0, count: rows * kvWidth)
        var dValue = dKey
        attentionBackward(trace: t, dAttended: dAttended, rows: rows, dQuery: &dQuery, dKey: &dKey, dValue: &dValue)
        if c.family == .llama {
            for row in 0..<rows {
                rotate(&dQuery, row: row, width: h, heads: c.heads, position: row - sequenceStarts[row], inverse: true)
                rotate(&dKey, row: row, width: kvWidth, heads: c.keyValueHeads, position: row - sequenceStarts[row], inverse: true)
            }
        }
        var dAttentionInput = [Float](repeating: 0, count: rows * h)
        Self.inputGradient(into: &dAttentionInput, dOut: dQuery, weight: layer.query, rows: rows, inFeatures: h, outFeatures: h)
        Self.inputGradient(into: &dAttentionInput, dOut: dKey, weight: layer.key, rows: rows, inFeatures: h, outFeatures: kvWidth)
        Self.inputGradient(into: &dAttentionInput, dOut: dValue, weight: layer.value, rows: rows, inFeatures: h, outFeatures: kvWidth)
        var dInput = dAttentionSum
        if preNorm {
            let dNormed = normBackward(dOut: dAttentionInput, x: t.input, norm: layer.attentionNorm, rows: rows)
            for offset in 0..<(rows * h) { dInput[offset] += dNormed[offset] }
        } else {
            for offset in 0..<(rows * h) { dInput[offset] += dAttentionInput[offset] }
        }
        return dInput
    }

    // MARK: - Attention over the whole sequence (BLAS per head)

    /// Causal attention within each packed sequence: row r attends to rows sequenceStarts[r]...r.
    private func attentionForward(
        query: [Float], key: [Float], value: [Float], rows: Int, sequenceStarts: [Int], probabilities: inout [Float], attended: inout [Float]
    ) {
        let c = configuration
        let (h, hd, kvWidth) = (c.hiddenSize, c.headDim, c.keyValueWidth)
        let group = c.heads / c.keyValueHeads
        let scale = 1 / Float(hd).squareRoot()
        query.withUnsafeBufferPointer { q in
            key.withUnsafeBufferPointer { k in
                value.withUnsafeBufferPointer { v in
                    probabilities.withUnsafeMutableBufferPointer { p in
                        attended.withUnsafeMutableBufferPointer { out in
                            for head in 0..<c.heads {
                                let kvHead = head / group
                                let scores = p.baseAddress! + head * rows * rows
                                BLAS.gemm(
                                    transposeB: true, m: rows, n: rows, k: hd, alpha: scale, a: q.baseAddress! + head * hd, lda: h,
                                    b: k.baseAddress! + kvHead * hd, ldb: kvWidth, c: scores, ldc: rows)
                                for row in 0..<rows {
                                    let line = scores + row * rows
                                    let first = sequenceStarts[row]
                                    for column in 0..<first { line[column] = 0 }
                                    VectorMath.softmaxInPlace(line + first, count: row - first + 1)
                                    for column in (row + 1)..<rows { line[column] = 0 }
                                }
                                BLAS.gemm(
                                    m: rows, n: hd, k: rows, a: scores, lda: rows, b: v.baseAddress! + kvHead * hd, ldb: kvWidth,
                                    c: out.baseAddress! + head * hd, ldc: h)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Accumulates into dQuery [rows, hidden], dKey and dValue [rows, kvWidth] (zeroed by the caller).
    /// Probabilities outside a row's sequence are zero, so the softmax backward gives them none.
    private func attentionBackward(
        trace t: DecoderLayerTrace, dAttended: [Float], rows: Int, dQuery: inout [Float], dKey: inout [Float], dValue: inout [Float]
    ) {
        let c = configuration
        let (h, hd, kvWidth) = (c.hiddenSize, c.headDim, c.keyValueWidth)
        let group = c.heads / c.keyValueHeads
        let scale = 1 / Float(hd).squareRoot()
        var dScores = [Float](repeating: 0, count: rows * rows)
        t.query.withUnsafeBufferPointer { q in
            t.key.withUnsafeBufferPointer { k in
                t.value.withUnsafeBufferPointer { v in
                    t.probabilities.withUnsafeBufferPointer { p in
                        dAttended.withUnsafeBufferPointer { dOut in
                            dQuery.withUnsafeMutableBufferPointer { dq in
                                dKey.withUnsafeMutableBufferPointer { dk in
                                    dValue.withUnsafeMutableBufferPointer { dv in
                                        dScores.withUnsafeMutableBufferPointer { ds in
                                            for head in 0..<c.heads {
                                                let kvHead = head / group
                                                let probability = p.baseAddress! + head * rows * rows
                                                let dHead = dOut.baseAddress! + head * hd
                                                // dP = dOut_h · V_hᵀ; dV_h += Pᵀ · dOut_h.
                                                BLAS.gemm(
                                                    transposeB: true, m: rows, n: rows, k: hd, a: dHead, lda: h,
                                                    b: v.baseAddress! + kvHead * hd, ldb: kvWidth, c: ds.baseAddress!, ldc: rows)
                                                BLAS.gemm(
                                                    transposeA: true, m: rows, n: hd, k: rows, a: probability, lda: rows, b: dHead, ldb: h,
                                                    beta: 1, c: dv.baseAddress! + kvHead * hd, ldc: kvWidth)
                                                // Softmax backward, then the score scale.
                                                for row in 0..<rows {
                                                    let line = ds.baseAddress! + row * rows
                                                    let probabilities = probability + row * rows
                                                    var dot: Float = 0
                                                    for column in 0...row { dot += line[column] * probabilities[column] }
                                                    for column in 0...row { line[column] = probabilities[column] * (line[column] - dot) * scale }
                                                    for column in (row + 1)..<rows { line[column] = 0 }
                                                }
                                                // dQ_h = dS · K_h; dK_h += dSᵀ · Q_h.
                                                BLAS.gemm(
                                                    m: rows, n: hd, k: rows, a: ds.baseAddress!, lda: rows, b: k.baseAddress! + kvHead * hd,
                                                    ldb: kvWidth, c: dq.baseAddress! + head * hd, ldc: h)
                                                BLAS.gemm(
                                                    transposeA: true, m: rows, n: hd, k: rows, a: ds.baseAddress!, lda: rows,
                                                    b: q.baseAddress! + head * hd, ldb: h, beta: 1, c: dk.baseAddress! + kvHead * hd, ldc: kvWidth)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: - Pieces

    /// dx[rows, inFeatures] += dOut[rows, outFeatures] · W, W [outFeatures, inFeatures].
    static func inputGradient(into dx: inout [Float], dOut: [Float], weight: WeightMatrix, rows: Int, inFeatures: Int, outFeatures: Int) {
        let dense: [Float]
        switch weight {
        case .dense(let values): dense = values
        case .quantized(let matrix): dense = matrix.dequantized()
        }
        BLAS.gemm(m: rows, n: inFeatures, k: outFeatures, a: dOut, lda: outFeatures, b: dense, ldb: inFeatures, beta: 1, c: &dx, ldc: inFeatures)
    }

    /// The gradient through `normalize` (RMSNorm, or LayerNorm when the norm has a bias) of rows
    /// `x` [rows, hidden]; the norm's own parameters get none (the LM is frozen).
    private func normBackward(dOut: [Float], x: [Float], norm: DecoderWeights.Norm, rows: Int) -> [Float] {
        let dim = configuration.hiddenSize
        var dx = [Float](repeating: 0, count: rows * dim)
        if let bias = norm.bias {
            var mean = [Float](repeating: 0, count: rows)
            var rstd = mean
            var normed = x
            LayerNorm.forward(
                out: &normed, mean: &mean, rstd: &rstd, x: x, gamma: norm.weight, beta: bias, rows: rows, dim: dim, eps: normEpsilon)
            var dGamma = [Float](repeating: 0, count: dim)
            var dBeta = dGamma
            LayerNorm.backward(
                dx: &dx, dgamma: &dGamma, dbeta: &dBeta, dout: dOut, x: x, mean: mean, rstd: rstd, gamma: norm.weight, rows: rows,
                dim: dim)
            return dx
        }
        for row in 0..<rows {
            let base = row * dim
            var squares: Float = 0
            var dot: Float = 0
            for column in 0..<dim {
                let value = x[base + column]
                squares += value * value
                dot += dOut[base + column] * norm.weight[column] * value
            }
            let inverse = 1 / (squares / Float(dim) + normEpsilon).squareRoot()
            let correction = inverse * inverse * inverse * dot / Float(dim)
            for column in 0..<dim {
                dx[base + column] = inverse * dOut[base + column] * norm.weight[column] - x[base + column] * correction
            }
        }
        return dx
    }
}
