import Checkpoints
import Foundation
import Numerics

extension LlamaDecoder {
    /// Loads a Hugging Face Llama directory: `config.json` and `model.safetensors`, or shards listed
    /// in `model.safetensors.index.json`; names with or without the `model.` prefix.
    public static func load(huggingFaceDirectory directory: String) throws -> LlamaDecoder {
        let configPath = directory + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { throw DecoderError.invalidConfiguration("\(configPath): missing or not JSON") }
        guard (object["model_type"] as? String) == "llama" else {
            throw DecoderError.invalidConfiguration("\(configPath): model_type \(object["model_type"] ?? "none") is not llama")
        }
        func integer(_ key: String) throws -> Int {
            guard let value = object[key] as? Int else { throw DecoderError.invalidConfiguration("\(configPath): missing \(key)") }
            return value
        }
        let heads = try integer("num_attention_heads")
        let ropeTheta = (object["rope_theta"] as? Double)
            ?? ((object["rope_parameters"] as? [String: Any])?["rope_theta"] as? Double) ?? 10_000
        let configuration = DecoderConfiguration(
            vocabularySize: try integer("vocab_size"), hiddenSize: try integer("hidden_size"),
            intermediateSize: try integer("intermediate_size"), layers: try integer("num_hidden_layers"), heads: heads,
            keyValueHeads: (object["num_key_value_heads"] as? Int) ?? heads, ropeTheta: Float(ropeTheta),
            rmsNormEpsilon: Float((object["rms_norm_eps"] as? Double) ?? 1e-6),
            maxPositions: (object["max_position_embeddings"] as? Int) ?? 2048)
        let files = try shardPaths(directory)
        var tensors: [String: (file: SafetensorsFile, name: String)] = [:]
        for path in files {
            let file = try SafetensorsFile(path: path)
            for name in file.names {
                let key = name.hasPrefix("model.") ? String(name.dropFirst("model.".count)) : name
                tensors[key] = (file, name)
            }
        }
        func read(_ key: String, _ shape: [Int]) throws -> [Float] {
            guard let entry = tensors[key] else { throw DecoderError.missingWeight(key) }
            let tensor = try entry.file.tensor(named: entry.name)
            guard tensor.shape == shape else { throw DecoderError.shapeMismatch(name: key, expected: shape, got: tensor.shape) }
            return tensor.storage
        }
        let c = configuration
        let (h, i, kv) = (c.hiddenSize, c.intermediateSize, c.keyValueWidth)
        let layers = try (0..<c.layers).map { index in
            let base = "layers.\(index)."
            return LlamaWeights.Layer(
                attentionNorm: try read(base + "input_layernorm.weight", [h]),
                query: try read(base + "self_attn.q_proj.weight", [h, h]), key: try read(base + "self_attn.k_proj.weight", [kv, h]),
                value: try read(base + "self_attn.v_proj.weight", [kv, h]), output: try read(base + "self_attn.o_proj.weight", [h, h]),
                feedForwardNorm: try read(base + "post_attention_layernorm.weight", [h]),
                gate: try read(base + "mlp.gate_proj.weight", [i, h]), up: try read(base + "mlp.up_proj.weight", [i, h]),
                down: try read(base + "mlp.down_proj.weight", [h, i]))
        }
        let tied = (object["tie_word_embeddings"] as? Bool) ?? false
        let weights = LlamaWeights(
            tokenEmbeddings: try read("embed_tokens.weight", [c.vocabularySize, h]), layers: layers,
            finalNorm: try read("norm.weight", [h]),
            outputHead: tied || tensors["lm_head.weight"] == nil ? nil : try read("lm_head.weight", [c.vocabularySize, h]))
        return try LlamaDecoder(configuration: configuration, weights: weights)
    }

    private static func shardPaths(_ directory: String) throws -> [String] {
        let index = directory + "/model.safetensors.index.json"
        guard let data = FileManager.default.contents(atPath: index) else { return [directory + "/model.safetensors"] }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let map = object["weight_map"] as? [String: String]
        else { throw DecoderError.invalidConfiguration("\(index): no weight_map") }
        return Set(map.values).sorted().map { directory + "/" + $0 }
    }
}
