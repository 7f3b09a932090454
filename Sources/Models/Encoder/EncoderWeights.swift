import Checkpoints
import Foundation
import Numerics

/// The weights of a BERT-family encoder under family-neutral names, read from the checkpoint's own
/// names (with or without a `bert.` / `distilbert.` prefix).
public struct EncoderWeights: Sendable {
    public struct Layer: Sendable {
        public var query, queryBias, key, keyBias, value, valueBias: [Float]
        public var attentionOutput, attentionOutputBias: [Float]
        public var attentionNormWeight, attentionNormBias: [Float]
        public var intermediate, intermediateBias: [Float]
        public var output, outputBias: [Float]
        public var outputNormWeight, outputNormBias: [Float]
    }

    public var wordEmbeddings: [Float]
    public var positionEmbeddings: [Float]
    /// Row 0 of the token-type table (BERT; sentence embeddings use type 0 only), or zeros.
    public var tokenTypeEmbedding: [Float]
    public var embeddingNormWeight: [Float]
    public var embeddingNormBias: [Float]
    public var layers: [Layer]

    /// Reads every tensor the configuration needs from a safetensors file, checking shapes.
    public init(file: SafetensorsFile, configuration c: EncoderConfiguration) throws {
        let prefix: String = {
            let candidates = c.family == .bert ? ["", "bert."] : ["", "distilbert."]
            let probe = c.family == .bert ? "embeddings.word_embeddings.weight" : "embeddings.word_embeddings.weight"
            return candidates.first { file.names.contains($0 + probe) } ?? ""
        }()
        func read(_ name: String, _ shape: [Int]) throws -> [Float] {
            let full = prefix + name
            guard file.names.contains(full) else { throw EncoderError.missingWeight(name: full, path: file.path) }
            let tensor = try file.tensor(named: full)
            guard tensor.shape == shape else { throw EncoderError.shapeMismatch(name: full, expected: shape, got: tensor.shape) }
            return tensor.storage
        }
        let (h, i) = (c.hiddenSize, c.intermediateSize)
        wordEmbeddings = try read("embeddings.word_embeddings.weight", [c.vocabularySize, h])
        positionEmbeddings = try read("embeddings.position_embeddings.weight", [c.maxPositions, h])
        embeddingNormWeight = try read("embeddings.LayerNorm.weight", [h])
        embeddingNormBias = try read("embeddings.LayerNorm.bias", [h])
        if c.family == .bert {
            tokenTypeEmbedding = Array(try read("embeddings.token_type_embeddings.weight", [c.typeVocabularySize, h]).prefix(h))
        } else {
            tokenTypeEmbedding = [Float](repeating: 0, count: h)
        }
        layers = try (0..<c.layers).map { index in
            var layer = Layer.zeros(hidden: h, intermediate: i)
            for entry in Self.layerTensors(c.family, index: index, hidden: h, intermediate: i) {
                layer[keyPath: entry.field] = try read(entry.name, entry.shape)
            }
            return layer
        }
    }

    /// Every parameter of layer `index` under the checkpoint's own names (without a model prefix),
    /// with its field and shape: the one table both reading and writing go through.
    static func layerTensors(
        _ family: EncoderConfiguration.Family, index: Int, hidden h: Int, intermediate i: Int
    ) -> [(name: String, field: WritableKeyPath<Layer, [Float]>, shape: [Int])] {
        switch family {
        case .bert:
            let base = "encoder.layer.\(index)."
            return [
                (base + "attention.self.query.weight", \.query, [h, h]), (base + "attention.self.query.bias", \.queryBias, [h]),
                (base + "attention.self.key.weight", \.key, [h, h]), (base + "attention.self.key.bias", \.keyBias, [h]),
                (base + "attention.self.value.weight", \.value, [h, h]), (base + "attention.self.value.bias", \.valueBias, [h]),
                (base + "attention.output.dense.weight", \.attentionOutput, [h, h]),
                (base + "attention.output.dense.bias", \.attentionOutputBias, [h]),
                (base + "attention.output.LayerNorm.weight", \.attentionNormWeight, [h]),
                (base + "attention.output.LayerNorm.bias", \.attentionNormBias, [h]),
                (base + "intermediate.dense.weight", \.intermediate, [i, h]), (base + "intermediate.dense.bias", \.intermediateBias, [i]),
                (base + "output.dense.weight", \.output, [h, i]), (base + "output.dense.bias", \.outputBias, [h]),
                (base + "output.LayerNorm.weight", \.outputNormWeight, [h]), (base + "output.LayerNorm.bias", \.outputNormBias, [h]),
            ]
        case .distilbert:
            let base = "transformer.layer.\(index)."
            return [
                (base + "attention.q_lin.weight", \.query, [h, h]), (base + "attention.q_lin.bias", \.queryBias, [h]),
                (base + "attention.k_lin.weight", \.key, [h, h]), (base + "attention.k_lin.bias", \.keyBias, [h]),
                (base + "attention.v_lin.weight", \.value, [h, h]), (base + "attention.v_lin.bias", \.valueBias, [h]),
                (base + "attention.out_lin.weight", \.attentionOutput, [h, h]), (base + "attention.out_lin.bias", \.attentionOutputBias, [h]),
                (base + "sa_layer_norm.weight", \.attentionNormWeight, [h]), (base + "sa_layer_norm.bias", \.attentionNormBias, [h]),
                (base + "ffn.lin1.weight", \.intermediate, [i, h]), (base + "ffn.lin1.bias", \.intermediateBias, [i]),
                (base + "ffn.lin2.weight", \.output, [h, i]), (base + "ffn.lin2.bias", \.outputBias, [h]),
                (base + "output_layer_norm.weight", \.outputNormWeight, [h]), (base + "output_layer_norm.bias", \.outputNormBias, [h]),
            ]
        }
    }

    /// Every tensor under the checkpoint family's names (no model prefix), as `init(file:configuration:)`
    /// reads them back; BERT's token-type table is written as its one used row.
    public func namedTensors(configuration c: EncoderConfiguration) -> [(name: String, tensor: Tensor)] {
        let (h, i) = (c.hiddenSize, c.intermediateSize)
        var tensors: [(name: String, tensor: Tensor)] = [
            ("embeddings.word_embeddings.weight", Tensor(shape: [c.vocabularySize, h], storage: wordEmbeddings)),
            ("embeddings.position_embeddings.weight", Tensor(shape: [c.maxPositions, h], storage: positionEmbeddings)),
            ("embeddings.LayerNorm.weight", Tensor(shape: [h], storage: embeddingNormWeight)),
            ("embeddings.LayerNorm.bias", Tensor(shape: [h], storage: embeddingNormBias)),
        ]
        if c.family == .bert {
            let types = tokenTypeEmbedding + [Float](repeating: 0, count: (c.typeVocabularySize - 1) * h)
            tensors.append(("embeddings.token_type_embeddings.weight", Tensor(shape: [c.typeVocabularySize, h], storage: types)))
        }
        for (index, layer) in layers.enumerated() {
            for entry in Self.layerTensors(c.family, index: index, hidden: h, intermediate: i) {
                tensors.append((entry.name, Tensor(shape: entry.shape, storage: layer[keyPath: entry.field])))
            }
        }
        return tensors
    }
}

extension EncoderWeights.Layer {
    static func zeros(hidden h: Int, intermediate i: Int) -> EncoderWeights.Layer {
        func zeros(_ count: Int) -> [Float] { [Float](repeating: 0, count: count) }
        return EncoderWeights.Layer(
            query: zeros(h * h), queryBias: zeros(h), key: zeros(h * h), keyBias: zeros(h), value: zeros(h * h), valueBias: zeros(h),
            attentionOutput: zeros(h * h), attentionOutputBias: zeros(h), attentionNormWeight: zeros(h), attentionNormBias: zeros(h),
            intermediate: zeros(i * h), intermediateBias: zeros(i), output: zeros(h * i), outputBias: zeros(h), outputNormWeight: zeros(h),
            outputNormBias: zeros(h))
    }

    /// The sixteen tensors in a fixed order (what an optimiser over a layer indexes).
    static var fields: [WritableKeyPath<EncoderWeights.Layer, [Float]>] { [
        \.query, \.queryBias, \.key, \.keyBias, \.value, \.valueBias, \.attentionOutput, \.attentionOutputBias, \.attentionNormWeight,
        \.attentionNormBias, \.intermediate, \.intermediateBias, \.output, \.outputBias, \.outputNormWeight, \.outputNormBias,
    ] }

    /// The sixteen tensors' values in `apply`'s order.
    public var parameterValues: [[Float]] { Self.fields.map { self[keyPath: $0] } }

    /// Replaces the sixteen tensors (in `apply`'s order); sizes must match.
    public mutating func setParameterValues(_ values: [[Float]]) throws(EncoderError) {
        for (field, value) in zip(Self.fields, values) {
            guard self[keyPath: field].count == value.count else {
                throw EncoderError.shapeMismatch(name: "saved encoder layer", expected: [self[keyPath: field].count], got: [value.count])
            }
            self[keyPath: field] = value
        }
    }

    /// Element counts of the sixteen tensors, in `apply`'s order.
    public var parameterSizes: [Int] { Self.fields.map { self[keyPath: $0].count } }

    /// One Adam update of the layer from its gradients (optimiser indices offset ..< offset + 16).
    public mutating func apply(_ gradients: EncoderLayerGradients, optimizer: inout Adam, offset: Int) {
        let gradientFields: [KeyPath<EncoderLayerGradients, [Float]>] = [
            \.query, \.queryBias, \.key, \.keyBias, \.value, \.valueBias, \.attentionOutput, \.attentionOutputBias, \.attentionNormWeight,
            \.attentionNormBias, \.intermediate, \.intermediateBias, \.output, \.outputBias, \.outputNormWeight, \.outputNormBias,
        ]
        for (index, field) in Self.fields.enumerated() {
            let gradient = gradients[keyPath: gradientFields[index]]
            optimizer.update(offset + index, parameter: &self[keyPath: field], gradient: gradient, count: gradient.count)
        }
    }
}
