import Numerics

/// A post-LayerNorm BERT/DistilBERT encoder forward pass over a right-padded batch:
///
///     x = LN(word[ids] + pos[t] + type[0])
///     per layer: a = out(SelfAttention(q(x), k(x), v(x); padding keys masked)); x = LN(a + x)
///                f = lin2(GELU(lin1(x)));                                     x = LN(f + x)
///
/// Immutable; `forward` allocates its own buffers, so any thread may call it concurrently.
public struct TransformerEncoder: Sendable {
    public let configuration: EncoderConfiguration
    public let weights: EncoderWeights

    public init(configuration: EncoderConfiguration, weights: EncoderWeights) {
        self.configuration = configuration
        self.weights = weights
    }

    /// The last layer's hidden states, [batch · length, hiddenSize]; with `recordLayers`, also the
    /// embedding output and every layer's output (`layers[0]` = embeddings, `layers[k]` = layer k).
    /// - ids: [batch · length] token ids, each row right-padded (any id; padding is masked);
    ///   lengths: [batch] real tokens per row (1...length ≤ maxPositions).
    public func forward(
        ids: [Int32], lengths: [Int32], batch: Int, length: Int, recordLayers: Bool = false
    ) -> (hidden: [Float], layers: [[Float]]) {
        run(ids: ids, lengths: lengths, batch: batch, length: length, layers: configuration.layers, recordLayers: recordLayers)
    }

    /// The embeddings and the first `layers` layers (the frozen part of fine-tuning).
    func frozenPrefix(ids: [Int32], lengths: [Int32], batch: Int, length: Int, layers: Int) -> [Float] {
        run(ids: ids, lengths: lengths, batch: batch, length: length, layers: layers, recordLayers: false).hidden
    }

    private func run(
        ids: [Int32], lengths: [Int32], batch: Int, length: Int, layers layerCount: Int, recordLayers: Bool
    ) -> (hidden: [Float], layers: [[Float]]) {
        let c = configuration
        let (h, inter) = (c.hiddenSize, c.intermediateSize)
        let rows = batch * length
        let shape = CausalAttention.Shape(batch: batch, length: length, heads: c.heads, headDim: c.headDim)
        var x = [Float](repeating: 0, count: rows * h)
        var sum = [Float](repeating: 0, count: rows * h)
        var q = sum, k = sum, v = sum, context = sum, projected = sum
        var intermediate = [Float](repeating: 0, count: rows * inter)
        var activated = intermediate
        var probabilities = [Float](repeating: 0, count: shape.probabilityCount)
        var mean = [Float](repeating: 0, count: rows)
        var rstd = mean
        var recorded: [[Float]] = []

        for row in 0..<rows {
            let token = Int(ids[row])
            let position = row % length
            for column in 0..<h {
                sum[row * h + column] = weights.wordEmbeddings[token * h + column]
                    + weights.positionEmbeddings[position * h + column] + weights.tokenTypeEmbedding[column]
            }
        }
        LayerNorm.forward(
            out: &x, mean: &mean, rstd: &rstd, x: sum, gamma: weights.embeddingNormWeight, beta: weights.embeddingNormBias,
            rows: rows, dim: h, eps: c.layerNormEpsilon)
        if recordLayers { recorded.append(x) }

        for layer in weights.layers.prefix(layerCount) {
            Linear.forward(out: &q, x: x, weight: layer.query, bias: layer.queryBias, rows: rows, inFeatures: h, outFeatures: h)
            Linear.forward(out: &k, x: x, weight: layer.key, bias: layer.keyBias, rows: rows, inFeatures: h, outFeatures: h)
            Linear.forward(out: &v, x: x, weight: layer.value, bias: layer.valueBias, rows: rows, inFeatures: h, outFeatures: h)
            SelfAttention.forward(out: &context, probabilities: &probabilities, q: q, k: k, v: v, lengths: lengths, shape: shape)
            Linear.forward(
                out: &projected, x: context, weight: layer.attentionOutput, bias: layer.attentionOutputBias, rows: rows,
                inFeatures: h, outFeatures: h)
            for index in 0..<(rows * h) { sum[index] = projected[index] + x[index] }
            LayerNorm.forward(
                out: &x, mean: &mean, rstd: &rstd, x: sum, gamma: layer.attentionNormWeight, beta: layer.attentionNormBias,
                rows: rows, dim: h, eps: c.layerNormEpsilon)
            Linear.forward(
                out: &intermediate, x: x, weight: layer.intermediate, bias: layer.intermediateBias, rows: rows, inFeatures: h,
                outFeatures: inter)
            GELU.forward(out: &activated, x: intermediate, count: rows * inter)
            Linear.forward(
                out: &projected, x: activated, weight: layer.output, bias: layer.outputBias, rows: rows, inFeatures: inter,
                outFeatures: h)
            for index in 0..<(rows * h) { sum[index] = projected[index] + x[index] }
            LayerNorm.forward(
                out: &x, mean: &mean, rstd: &rstd, x: sum, gamma: layer.outputNormWeight, beta: layer.outputNormBias, rows: rows,
                dim: h, eps: c.layerNormEpsilon)
            if recordLayers { recorded.append(x) }
        }
        return (x, recorded)
    }
}
