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
            switch c.family {
            case .bert:
                let base = "encoder.layer.\(index)."
                return Layer(
                    query: try read(base + "attention.self.query.weight", [h, h]), queryBias: try read(base + "attention.self.query.bias", [h]),
                    key: try read(base + "attention.self.key.weight", [h, h]), keyBias: try read(base + "attention.self.key.bias", [h]),
                    value: try read(base + "attention.self.value.weight", [h, h]), valueBias: try read(base + "attention.self.value.bias", [h]),
                    attentionOutput: try read(base + "attention.output.dense.weight", [h, h]),
                    attentionOutputBias: try read(base + "attention.output.dense.bias", [h]),
                    attentionNormWeight: try read(base + "attention.output.LayerNorm.weight", [h]),
                    attentionNormBias: try read(base + "attention.output.LayerNorm.bias", [h]),
                    intermediate: try read(base + "intermediate.dense.weight", [i, h]),
                    intermediateBias: try read(base + "intermediate.dense.bias", [i]),
                    output: try read(base + "output.dense.weight", [h, i]), outputBias: try read(base + "output.dense.bias", [h]),
                    outputNormWeight: try read(base + "output.LayerNorm.weight", [h]),
                    outputNormBias: try read(base + "output.LayerNorm.bias", [h]))
            case .distilbert:
                let base = "transformer.layer.\(index)."
                return Layer(
                    query: try read(base + "attention.q_lin.weight", [h, h]), queryBias: try read(base + "attention.q_lin.bias", [h]),
                    key: try read(base + "attention.k_lin.weight", [h, h]), keyBias: try read(base + "attention.k_lin.bias", [h]),
                    value: try read(base + "attention.v_lin.weight", [h, h]), valueBias: try read(base + "attention.v_lin.bias", [h]),
                    attentionOutput: try read(base + "attention.out_lin.weight", [h, h]),
                    attentionOutputBias: try read(base + "attention.out_lin.bias", [h]),
                    attentionNormWeight: try read(base + "sa_layer_norm.weight", [h]),
                    attentionNormBias: try read(base + "sa_layer_norm.bias", [h]),
                    intermediate: try read(base + "ffn.lin1.weight", [i, h]), intermediateBias: try read(base + "ffn.lin1.bias", [i]),
                    output: try read(base + "ffn.lin2.weight", [h, i]), outputBias: try read(base + "ffn.lin2.bias", [h]),
                    outputNormWeight: try read(base + "output_layer_norm.weight", [h]),
                    outputNormBias: try read(base + "output_layer_norm.bias", [h]))
            }
        }
    }
}
