import Numerics

/// Gradients of one encoder layer's parameters; same layout as `EncoderWeights.Layer`.
public struct EncoderLayerGradients: Sendable {
    public var query, queryBias, key, keyBias, value, valueBias: [Float]
    public var attentionOutput, attentionOutputBias: [Float]
    public var attentionNormWeight, attentionNormBias: [Float]
    public var intermediate, intermediateBias: [Float]
    public var output, outputBias: [Float]
    public var outputNormWeight, outputNormBias: [Float]

    init(hidden h: Int, intermediate i: Int) {
        func zeros(_ count: Int) -> [Float] { [Float](repeating: 0, count: count) }
        query = zeros(h * h); queryBias = zeros(h); key = zeros(h * h); keyBias = zeros(h)
        value = zeros(h * h); valueBias = zeros(h); attentionOutput = zeros(h * h); attentionOutputBias = zeros(h)
        attentionNormWeight = zeros(h); attentionNormBias = zeros(h); intermediate = zeros(i * h); intermediateBias = zeros(i)
        output = zeros(h * i); outputBias = zeros(h); outputNormWeight = zeros(h); outputNormBias = zeros(h)
    }
}

/// What the forward pass of the trainable top layers saved for their backward pass.
public struct EncoderTrace: Sendable {
    struct LayerActivations: Sendable {
        var input, q, k, v, probabilities, context, attentionSum, attentionMean, attentionRstd, attended: [Float]
        var intermediate, activated, outputSum, outputMean, outputRstd: [Float]
    }

    public let batch: Int
    public let length: Int
    public let lengths: [Int32]
    /// Index of the first trainable layer.
    public let firstTrainable: Int
    /// The last layer's output, [batch · length, hidden].
    public let hidden: [Float]
    var layers: [LayerActivations]
}

extension TransformerEncoder {
    /// A forward pass that keeps, for the top `trainableLayers` layers, what their backward pass
    /// needs (no dropout: fine-tuning here is deterministic). Lower layers run as in `forward`.
    public func forwardForTraining(
        ids: [Int32], lengths: [Int32], batch: Int, length: Int, trainableLayers: Int
    ) -> EncoderTrace {
        let c = configuration
        let first = max(0, c.layers - trainableLayers)
        let (h, inter) = (c.hiddenSize, c.intermediateSize)
        let rows = batch * length
        let shape = CausalAttention.Shape(batch: batch, length: length, heads: c.heads, headDim: c.headDim)
        // The frozen part: embeddings and the layers below `first`.
        var x = frozenPrefix(ids: ids, lengths: lengths, batch: batch, length: length, layers: first)
        var saved: [EncoderTrace.LayerActivations] = []
        for layer in weights.layers[first...] {
            var a = EncoderTrace.LayerActivations(
                input: x, q: [], k: [], v: [], probabilities: [Float](repeating: 0, count: shape.probabilityCount), context: [],
                attentionSum: [], attentionMean: [Float](repeating: 0, count: rows), attentionRstd: [Float](repeating: 0, count: rows),
                attended: [], intermediate: [], activated: [], outputSum: [], outputMean: [Float](repeating: 0, count: rows),
                outputRstd: [Float](repeating: 0, count: rows))
            let zeros = [Float](repeating: 0, count: rows * h)
            a.q = zeros; a.k = zeros; a.v = zeros; a.context = zeros; a.attentionSum = zeros; a.attended = zeros
            a.outputSum = zeros
            a.intermediate = [Float](repeating: 0, count: rows * inter)
            a.activated = a.intermediate
            Linear.forward(out: &a.q, x: x, weight: layer.query, bias: layer.queryBias, rows: rows, inFeatures: h, outFeatures: h)
            Linear.forward(out: &a.k, x: x, weight: layer.key, bias: layer.keyBias, rows: rows, inFeatures: h, outFeatures: h)
            Linear.forward(out: &a.v, x: x, weight: layer.value, bias: layer.valueBias, rows: rows, inFeatures: h, outFeatures: h)
            SelfAttention.forward(out: &a.context, probabilities: &a.probabilities, q: a.q, k: a.k, v: a.v, lengths: lengths, shape: shape)
            Linear.forward(
                out: &a.attentionSum, x: a.context, weight: layer.attentionOutput, bias: layer.attentionOutputBias, rows: rows,
                inFeatures: h, outFeatures: h)
            for index in 0..<(rows * h) { a.attentionSum[index] += x[index] }
            LayerNorm.forward(
                out: &a.attended, mean: &a.attentionMean, rstd: &a.attentionRstd, x: a.attentionSum, gamma: layer.attentionNormWeight,
                beta: layer.attentionNormBias, rows: rows, dim: h, eps: c.layerNormEpsilon)
            Linear.forward(
                out: &a.intermediate, x: a.attended, weight: layer.intermediate, bias: layer.intermediateBias, rows: rows,
                inFeatures: h, outFeatures: inter)
            GELU.forward(out: &a.activated, x: a.intermediate, count: rows * inter)
            Linear.forward(
                out: &a.outputSum, x: a.activated, weight: layer.output, bias: layer.outputBias, rows: rows, inFeatures: inter,
                outFeatures: h)
            for index in 0..<(rows * h) { a.outputSum[index] += a.attended[index] }
            LayerNorm.forward(
                out: &x, mean: &a.outputMean, rstd: &a.outputRstd, x: a.outputSum, gamma: layer.outputNormWeight,
                beta: layer.outputNormBias, rows: rows, dim: h, eps: c.layerNormEpsilon)
            saved.append(a)
        }
        return EncoderTrace(batch: batch, length: length, lengths: lengths, firstTrainable: first, hidden: x, layers: saved)
    }

    /// Back-propagates `dHidden` ([batch · length, hidden], the gradient of the loss with respect to
    /// the last layer's output) through the trainable layers of `trace`.
    /// - Returns: the gradients of each trainable layer (bottom first) and the gradient with respect
    ///   to the first trainable layer's input.
    public func backward(_ trace: EncoderTrace, dHidden: [Float]) -> (layers: [EncoderLayerGradients], dInput: [Float]) {
        let c = configuration
        let (h, inter) = (c.hiddenSize, c.intermediateSize)
        let rows = trace.batch * trace.length
        let shape = CausalAttention.Shape(batch: trace.batch, length: trace.length, heads: c.heads, headDim: c.headDim)
        var dOut = dHidden
        var gradients: [EncoderLayerGradients] = []
        var scratch = [Float](repeating: 0, count: trace.length * trace.length)
        for (offset, a) in trace.layers.enumerated().reversed() {
            let layer = weights.layers[trace.firstTrainable + offset]
            var g = EncoderLayerGradients(hidden: h, intermediate: inter)
            var dOutputSum = [Float](repeating: 0, count: rows * h)
            LayerNorm.backward(
                dx: &dOutputSum, dgamma: &g.outputNormWeight, dbeta: &g.outputNormBias, dout: dOut, x: a.outputSum,
                mean: a.outputMean, rstd: a.outputRstd, gamma: layer.outputNormWeight, rows: rows, dim: h)
            var dAttended = dOutputSum
            var dActivated = [Float](repeating: 0, count: rows * inter)
            Linear.backward(
                dx: &dActivated, dweight: &g.output, dbias: &g.outputBias, dout: dOutputSum, x: a.activated, weight: layer.output,
                rows: rows, inFeatures: inter, outFeatures: h)
            var dIntermediate = [Float](repeating: 0, count: rows * inter)
            GELU.backward(dx: &dIntermediate, dout: dActivated, x: a.intermediate, count: rows * inter)
            Linear.backward(
                dx: &dAttended, dweight: &g.intermediate, dbias: &g.intermediateBias, dout: dIntermediate, x: a.attended,
                weight: layer.intermediate, rows: rows, inFeatures: h, outFeatures: inter)
            var dAttentionSum = [Float](repeating: 0, count: rows * h)
            LayerNorm.backward(
                dx: &dAttentionSum, dgamma: &g.attentionNormWeight, dbeta: &g.attentionNormBias, dout: dAttended,
                x: a.attentionSum, mean: a.attentionMean, rstd: a.attentionRstd, gamma: layer.attentionNormWeight, rows: rows, dim: h)
            var dInput = dAttentionSum
            var dContext = [Float](repeating: 0, count: rows * h)
            Linear.backward(
                dx: &dContext, dweight: &g.attentionOutput, dbias: &g.attentionOutputBias, dout: dAttentionSum, x: a.context,
                weight: layer.attentionOutput, rows: rows, inFeatures: h, outFeatures: h)
            var dq = [Float](repeating: 0, count: rows * h)
            var dk = dq
            var dv = dq
            SelfAttention.backward(
                dq: &dq, dk: &dk, dv: &dv, dout: dContext, probabilities: a.probabilities, q: a.q, k: a.k, v: a.v,
                lengths: trace.lengths, shape: shape, scratch: &scratch)
            Linear.backward(
                dx: &dInput, dweight: &g.query, dbias: &g.queryBias, dout: dq, x: a.input, weight: layer.query, rows: rows,
                inFeatures: h, outFeatures: h)
            Linear.backward(
                dx: &dInput, dweight: &g.key, dbias: &g.keyBias, dout: dk, x: a.input, weight: layer.key, rows: rows,
                inFeatures: h, outFeatures: h)
            Linear.backward(
                dx: &dInput, dweight: &g.value, dbias: &g.valueBias, dout: dv, x: a.input, weight: layer.value, rows: rows,
                inFeatures: h, outFeatures: h)
            gradients.append(g)
            dOut = dInput
        }
        return (gradients.reversed(), dOut)
    }
}
