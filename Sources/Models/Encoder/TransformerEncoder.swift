import Numerics

/// A post-LayerNorm BERT/DistilBERT encoder forward pass over a right-padded batch:
///
///     x = LN(word[ids] + pos[t] + type[0])
///     per layer: a = out(SelfAttention(q(x), k(x), v(x); padding keys masked)); x = LN(a + x)
///                f = lin2(GELU(lin1(x)));                                     x = LN(f + x)
///
/// The six linear layers of each block multiply in `precision`; embeddings, attention, GELU and
/// LayerNorm stay Float32. Immutable; `forward` allocates its own buffers, so any thread may call it
/// concurrently.
public struct TransformerEncoder: Sendable {
    /// How the linear layers multiply.
    public enum Precision: String, Sendable, CaseIterable {
        /// OpenBLAS sgemm: PyTorch's arithmetic (the per-layer probes match it to 1e-4).
        case float32 = "f32"
        /// bfloat16 products with Float32 sums (`BF16Matrix`, AVX-512 BF16 only; opt-in): slower
        /// than OpenBLAS's AVX-512 sgemm on the hosts measured (see `BF16Matrix`); all-MiniLM-L6-v2's
        /// sentence vectors keep a cosine above 0.9999 with sentence-transformers' (MiniLMReferenceTests).
        case bfloat16 = "bf16"
    }

    /// One block's linear layers packed for bfloat16 products.
    private struct PackedLayer: Sendable {
        let query, key, value, attentionOutput, intermediate, output: BF16Matrix
    }

    public let configuration: EncoderConfiguration
    public let weights: EncoderWeights
    /// The precision in effect: bfloat16 only when asked for and the CPU has it.
    public let precision: Precision
    private let packedLayers: [PackedLayer]?

    public init(configuration: EncoderConfiguration, weights: EncoderWeights, precision: Precision = .float32) {
        self.configuration = configuration
        self.weights = weights
        let (h, inter) = (configuration.hiddenSize, configuration.intermediateSize)
        packedLayers = precision == .bfloat16 && BF16Matrix.supported
            ? weights.layers.map { layer in
                PackedLayer(
                    query: BF16Matrix(weight: layer.query, outFeatures: h, inFeatures: h)!,
                    key: BF16Matrix(weight: layer.key, outFeatures: h, inFeatures: h)!,
                    value: BF16Matrix(weight: layer.value, outFeatures: h, inFeatures: h)!,
                    attentionOutput: BF16Matrix(weight: layer.attentionOutput, outFeatures: h, inFeatures: h)!,
                    intermediate: BF16Matrix(weight: layer.intermediate, outFeatures: inter, inFeatures: h)!,
                    output: BF16Matrix(weight: layer.output, outFeatures: h, inFeatures: inter)!)
            }
            : nil
        self.precision = packedLayers == nil ? .float32 : .bfloat16
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

        for (index, layer) in weights.layers.prefix(layerCount).enumerated() {
            let packed = packedLayers?[index]
            // out = input · Wᵀ + bias, through the packed bf16 matrix when there is one.
            func linear(
                _ out: inout [Float], _ input: [Float], _ weight: [Float], _ bias: [Float], _ bf16: BF16Matrix?, inFeatures: Int,
                outFeatures: Int
            ) {
                guard let bf16 else {
                    return Linear.forward(
                        out: &out, x: input, weight: weight, bias: bias, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
                }
                bf16.forward(out: &out, x: input, bias: bias, rows: rows)
            }
            linear(&q, x, layer.query, layer.queryBias, packed?.query, inFeatures: h, outFeatures: h)
            linear(&k, x, layer.key, layer.keyBias, packed?.key, inFeatures: h, outFeatures: h)
            linear(&v, x, layer.value, layer.valueBias, packed?.value, inFeatures: h, outFeatures: h)
            SelfAttention.forward(out: &context, q: q, k: k, v: v, lengths: lengths, shape: shape)
            linear(&projected, context, layer.attentionOutput, layer.attentionOutputBias, packed?.attentionOutput, inFeatures: h, outFeatures: h)
            for index in 0..<(rows * h) { sum[index] = projected[index] + x[index] }
            LayerNorm.forward(
                out: &x, mean: &mean, rstd: &rstd, x: sum, gamma: layer.attentionNormWeight, beta: layer.attentionNormBias,
                rows: rows, dim: h, eps: c.layerNormEpsilon)
            linear(&intermediate, x, layer.intermediate, layer.intermediateBias, packed?.intermediate, inFeatures: h, outFeatures: inter)
            GELU.forward(out: &activated, x: intermediate, count: rows * inter)
            linear(&projected, activated, layer.output, layer.outputBias, packed?.output, inFeatures: inter, outFeatures: h)
            for index in 0..<(rows * h) { sum[index] = projected[index] + x[index] }
            LayerNorm.forward(
                out: &x, mean: &mean, rstd: &rstd, x: sum, gamma: layer.outputNormWeight, beta: layer.outputNormBias, rows: rows,
                dim: h, eps: c.layerNormEpsilon)
            if recordLayers { recorded.append(x) }
        }
        return (x, recorded)
    }
}
