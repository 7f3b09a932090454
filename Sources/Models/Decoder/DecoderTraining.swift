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
    /// Softmax of the causal scores, per packed sequence [heads, count, prefix + count] (zero above
    /// the diagonal), sequences one after another.
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
    /// The packed sequences (attention never crosses them).
    let segments: [PackedSegment]
    /// Each row's position (after its sequence's frozen prefix).
    let positions: [Int]
    var layers: [DecoderLayerTrace]
    /// Hidden states after the last layer, [rows, hidden].
    var final: [Float]
}

/// One sequence of a packed training forward: its tokens, the soft vectors that replace some of
/// them (by offset, `embeddingSize` values each), the offsets whose outputs are wanted, and
/// optionally a frozen prefix it continues: the keys and values of text before it (from `forward`
/// with a cache of exactly its length), which its rows attend to and which gets no gradient.
/// Without a prefix the tokens start at position 0.
public struct TrainingSequence: Sendable {
    public var tokens: [Int32]
    public var inputEmbeddings: [Int: [Float]]
    public var outputRows: [Int]
    public var prefix: KVCache?

    public init(tokens: [Int32], inputEmbeddings: [Int: [Float]], outputRows: [Int], prefix: KVCache? = nil) {
        self.tokens = tokens
        self.inputEmbeddings = inputEmbeddings
        self.outputRows = outputRows
        self.prefix = prefix
    }
}

/// Where one sequence lies in a packed batch.
struct PackedSegment: Sendable {
    let start: Int
    let count: Int
    let prefix: KVCache?
    var prefixLength: Int { prefix?.count ?? 0 }
}

/// The arithmetic of the products a frozen decoder's training runs (forward and input gradient).
public enum TrainingPrecision: String, Sendable, CaseIterable {
    /// Float32 weights and products (OpenBLAS).
    case float32 = "f32"
    /// Weights and each product's inputs rounded to bfloat16, Float32 sums (`BF16Matrix`, AVX-512
    /// BF16 only; opt-in): gradients closer to float64's than PyTorch's own bfloat16 autocast
    /// (scripts/bench-training.py); slower than OpenBLAS's AVX-512 sgemm on the Intel hosts measured,
    /// twice as fast on an AMD EPYC (`BF16Matrix.measuredSpeedup`).
    case bfloat16 = "bf16"
}

/// Training support for a frozen decoder: a forward over a whole sequence that keeps activations,
/// and the backward pass to the input embeddings (soft prompts), as A-LLMRec's stage 2 needs
/// (A-LLMRec stage 2, `models/llm4rec.py` of ghdtjr/A-LLMRec: gradients flow through the frozen LM into the projected soft tokens).
/// No weight gradients are formed. Quantised matrices are dequantised per product; call
/// `trainingWeights(_:)` once first to keep training fast.
extension CausalDecoder {
    /// The same decoder with every layer matrix (and the LM head, token embeddings and projections
    /// made Float32) ready for training: Float32, four to eight times a quantised file's memory, or
    /// with `.bfloat16` each layer matrix packed as W and Wᵀ in bfloat16 (the same memory as
    /// Float32). bfloat16 falls back to Float32 on a CPU without AVX-512 BF16. The bfloat16 products
    /// run on `threads` threads (Float32 ones on OpenBLAS's).
    public func trainingWeights(_ precision: TrainingPrecision = .float32, threads: Int = 1) -> CausalDecoder {
        let c = configuration
        let packed = precision == .bfloat16 && BF16Matrix.supported
        func dense(_ matrix: WeightMatrix) -> [Float] {
            switch matrix {
            case .dense(let values): return values
            case .quantized(let quantized): return quantized.dequantized()
            case .bfloat16(let forward, _): return (0..<forward.outFeatures).flatMap { forward.row($0) }
            }
        }
        func converted(_ matrix: WeightMatrix, rows: Int, columns: Int) -> WeightMatrix {
            let values = dense(matrix)
            guard packed, let forward = BF16Matrix(weight: values, outFeatures: rows, inFeatures: columns),
                let transposed = BF16Matrix(transposing: values, rows: rows, columns: columns)
            else { return .dense(values) }
            return .bfloat16(forward, transposed: transposed)
        }
        let (h, inter, kvWidth) = (c.hiddenSize, c.intermediateSize, c.keyValueWidth)
        var weights = self.weights
        weights.tokenEmbeddings = .dense(dense(weights.tokenEmbeddings))
        weights.outputHead = weights.outputHead.map { .dense(dense($0)) }
        weights.layers = weights.layers.map { layer in
            var layer = layer
            layer.query = converted(layer.query, rows: h, columns: h)
            layer.key = converted(layer.key, rows: kvWidth, columns: h)
            layer.value = converted(layer.value, rows: kvWidth, columns: h)
            layer.output = converted(layer.output, rows: h, columns: h)
            layer.gate = layer.gate.map { converted($0, rows: inter, columns: h) }
            layer.up = converted(layer.up, rows: inter, columns: h)
            layer.down = converted(layer.down, rows: h, columns: inter)
            return layer
        }
        var decoder = self
        decoder.weights = weights
        decoder.threads = max(1, threads)
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
        var segments: [PackedSegment] = []
        var outputRows: [Int] = []
        for sequence in sequences {
            let start = tokens.count
            let prefixLength = sequence.prefix?.count ?? 0
            guard prefixLength + sequence.tokens.count <= c.maxPositions else { throw .contextFull(limit: c.maxPositions) }
            precondition(sequence.outputRows.allSatisfy { sequence.tokens.indices.contains($0) }, "output rows outside the sequence")
            precondition(sequence.prefix.map { $0.count == $0.capacity } ?? true, "a prefix cache must be exactly full")
            tokens += sequence.tokens
            for (offset, vector) in sequence.inputEmbeddings { inputEmbeddings[start + offset] = vector }
            positions += Array(prefixLength..<(prefixLength + sequence.tokens.count))
            segments.append(PackedSegment(start: start, count: sequence.tokens.count, prefix: sequence.prefix))
            outputRows += sequence.outputRows.map { start + $0 }
        }
        let rows = tokens.count
        var x = try embed(tokens: tokens, inputEmbeddings: inputEmbeddings, positions: positions)
        var traces: [DecoderLayerTrace] = []
        traces.reserveCapacity(c.layers)
        var scratch = LayerScratch(configuration: c, rows: rows)
        let probabilityCount = segments.reduce(0) { $0 + c.heads * $1.count * ($1.prefixLength + $1.count) }
        for (index, layer) in weights.layers.enumerated() {
            var probabilities = [Float](repeating: 0, count: probabilityCount)
            guard var trace = runLayer(
                layer, x: &x, rows: rows, positions: positions, scratch: &scratch, integerActivations: false, keep: true,
                attend: { s in
                    attentionForward(
                        layer: index, query: s.q, key: s.k, value: s.v, segments: segments, probabilities: &probabilities,
                        attended: &s.attended)
                })
            else { preconditionFailure("a kept layer forward returns its trace") }
            trace.probabilities = probabilities
            traces.append(trace)
        }
        let h = c.hiddenSize
        let selected = outputRows.flatMap { x[($0 * h)..<(($0 + 1) * h)] }
        let trace = DecoderTrace(rows: rows, outputRows: outputRows, segments: segments, positions: positions, layers: traces, final: x)
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
        (weights.outputHead ?? weights.tokenEmbeddings).inputGradient(
            into: &dHead, dOut: dLogits, rows: outputs, inFeatures: c.embeddingSize, outFeatures: c.vocabularySize, threads: threads)
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
            WeightMatrix.dense(projectOut).inputGradient(into: &dSelected, dOut: dStates, rows: outputs, inFeatures: h, outFeatures: e, threads: threads)
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
        for (index, (layer, layerTrace)) in zip(weights.layers, trace.layers).enumerated().reversed() {
            dx = trainingLayerBackward(
                layer, index: index, trace: layerTrace, dOutput: dx, rows: rows, positions: trace.positions, segments: trace.segments)
        }
        guard let projectIn = weights.projectIn else { return dx }
        var dEmbedded = [Float](repeating: 0, count: rows * e)
        WeightMatrix.dense(projectIn).inputGradient(into: &dEmbedded, dOut: dx, rows: rows, inFeatures: e, outFeatures: h, threads: threads)
        return dEmbedded
    }

    // MARK: - One layer

    private var preNorm: Bool { configuration.family == .llama || configuration.normalizeBefore }

    private func trainingLayerBackward(
        _ layer: DecoderWeights.Layer, index: Int, trace t: DecoderLayerTrace, dOutput: [Float], rows: Int, positions: [Int],
        segments: [PackedSegment]
    ) -> [Float] {
        let c = configuration
        let (h, inter, kvWidth) = (c.hiddenSize, c.intermediateSize, c.keyValueWidth)
        // Feed-forward block: output = middle + down(act(ffnInput)) [then norm when post-LN].
        var dSum = dOutput
        if let sum = t.feedForwardSum { dSum = normBackward(dOut: dOutput, x: sum, norm: layer.feedForwardNorm, rows: rows) }
        var dActivated = [Float](repeating: 0, count: rows * inter)
        layer.down.inputGradient(into: &dActivated, dOut: dSum, rows: rows, inFeatures: inter, outFeatures: h, threads: threads)
        var dUp = [Float](repeating: 0, count: rows * inter)
        var dFeedForwardInput = [Float](repeating: 0, count: rows * h)
        if let gate = t.gate, let gateWeight = layer.gate {
            var dGate = [Float](repeating: 0, count: rows * inter)
            VectorMath.siluMultiplyBackward(gate: gate, up: t.up, dOut: dActivated, dGate: &dGate, dUp: &dUp, count: rows * inter)
            gateWeight.inputGradient(into: &dFeedForwardInput, dOut: dGate, rows: rows, inFeatures: h, outFeatures: inter, threads: threads)
        } else {
            for offset in 0..<(rows * inter) { dUp[offset] = t.up[offset] > 0 ? dActivated[offset] : 0 }
        }
        layer.up.inputGradient(into: &dFeedForwardInput, dOut: dUp, rows: rows, inFeatures: h, outFeatures: inter, threads: threads)
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
        layer.output.inputGradient(into: &dAttended, dOut: dAttentionSum, rows: rows, inFeatures: h, outFeatures: h, threads: threads)
        var dQuery = [Float](repeating: 0, count: rows * h)
        var dKey = [Float](repeating: 0, count: rows * kvWidth)
        var dValue = dKey
        attentionBackward(layer: index, trace: t, dAttended: dAttended, segments: segments, dQuery: &dQuery, dKey: &dKey, dValue: &dValue)
        if c.family == .llama {
            for row in 0..<rows {
                rotate(&dQuery, row: row, width: h, heads: c.heads, position: positions[row], inverse: true)
                rotate(&dKey, row: row, width: kvWidth, heads: c.keyValueHeads, position: positions[row], inverse: true)
            }
        }
        var dAttentionInput = [Float](repeating: 0, count: rows * h)
        layer.query.inputGradient(into: &dAttentionInput, dOut: dQuery, rows: rows, inFeatures: h, outFeatures: h, threads: threads)
        layer.key.inputGradient(into: &dAttentionInput, dOut: dKey, rows: rows, inFeatures: h, outFeatures: kvWidth, threads: threads)
        layer.value.inputGradient(into: &dAttentionInput, dOut: dValue, rows: rows, inFeatures: h, outFeatures: kvWidth, threads: threads)
        var dInput = dAttentionSum
        if preNorm {
            let dNormed = normBackward(dOut: dAttentionInput, x: t.input, norm: layer.attentionNorm, rows: rows)
            for offset in 0..<(rows * h) { dInput[offset] += dNormed[offset] }
        } else {
            for offset in 0..<(rows * h) { dInput[offset] += dAttentionInput[offset] }
        }
        return dInput
    }

    // MARK: - Pieces

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
