import Checkpoints
import Foundation
import Numerics

extension CausalDecoder {
    /// Loads a Hugging Face Llama (with its RoPE scaling: linear or Llama 3.x), Qwen2 or OPT directory: `config.json` and `model.safetensors` (or the
    /// shards of `model.safetensors.index.json`), else `pytorch_model.bin` (or the shards of
    /// `pytorch_model.bin.index.json`, as opt-6.7b ships); tensor names with or without the `model.` /
    /// `model.decoder.` / `decoder.` prefixes; 16-bit tensors become Float32. A missing
    /// `lm_head.weight` means a tied head. With `quantizeToQ8_0`, each matrix is quantised to Q8_0 as
    /// it is read (whole 32-element blocks per row), so that peak memory is the quantised model plus
    /// one Float32 tensor: how OPT-6.7B fits in 24 GB; such a decoder decodes with integer
    /// activations (`integerActivations`), as a GGUF one does.
    public static func load(huggingFaceDirectory directory: String, quantizeToQ8_0: Bool = false) throws -> CausalDecoder {
        let configPath = directory + "/config.json"
        guard let data = try? ModelFile.contents(of: configPath),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { throw DecoderError.invalidConfiguration("\(configPath): missing or not JSON") }
        func integer(_ key: String) throws -> Int {
            guard let value = object[key] as? Int else { throw DecoderError.invalidConfiguration("\(configPath): missing \(key)") }
            return value
        }
        let tensors = try TensorDirectory(directory)
        switch object["model_type"] as? String {
        case "llama", "qwen2":
            // Qwen2 is Llama with biases on q, k and v (read below when present).
            let heads = try integer("num_attention_heads")
            let hidden = try integer("hidden_size")
            if let headDim = object["head_dim"] as? Int, headDim != hidden / heads {
                throw DecoderError.invalidConfiguration("\(configPath): head_dim \(headDim) is not hidden_size / num_attention_heads")
            }
            if (object["use_sliding_window"] as? Bool) == true {
                throw DecoderError.invalidConfiguration("\(configPath): sliding-window attention is not supported")
            }
            let parameters = object["rope_parameters"] as? [String: Any]
            let ropeTheta = (object["rope_theta"] as? Double) ?? (parameters?["rope_theta"] as? Double) ?? 10_000
            let divisors: [Double]?
            do {
                divisors = try DecoderConfiguration.ropeFrequencyDivisors(
                    scaling: (object["rope_scaling"] as? [String: Any]) ?? parameters, theta: ropeTheta, headDim: hidden / heads)
            } catch {
                throw DecoderError.invalidConfiguration("\(configPath): \(error)")
            }
            let configuration = DecoderConfiguration(
                family: .llama, vocabularySize: try integer("vocab_size"), hiddenSize: hidden,
                intermediateSize: try integer("intermediate_size"), layers: try integer("num_hidden_layers"), heads: heads,
                keyValueHeads: (object["num_key_value_heads"] as? Int) ?? heads, ropeTheta: Float(ropeTheta), ropeFrequencyDivisors: divisors,
                rmsNormEpsilon: Float((object["rms_norm_eps"] as? Double) ?? 1e-6),
                maxPositions: (object["max_position_embeddings"] as? Int) ?? 2048)
            var decoder = try CausalDecoder(configuration: configuration, weights: try llamaWeights(tensors, configuration, object, quantize: quantizeToQ8_0))
            decoder.integerActivations = quantizeToQ8_0
            return decoder
        case "opt":
            let hidden = try integer("hidden_size")
            let heads = try integer("num_attention_heads")
            let configuration = DecoderConfiguration(
                family: .opt, vocabularySize: try integer("vocab_size"), hiddenSize: hidden, intermediateSize: try integer("ffn_dim"),
                layers: try integer("num_hidden_layers"), heads: heads, keyValueHeads: heads,
                maxPositions: (object["max_position_embeddings"] as? Int) ?? 2048,
                embeddingSize: (object["word_embed_proj_dim"] as? Int) ?? hidden,
                normalizeBefore: (object["do_layer_norm_before"] as? Bool) ?? true)
            var decoder = try CausalDecoder(configuration: configuration, weights: try optWeights(tensors, configuration, quantize: quantizeToQ8_0))
            decoder.integerActivations = quantizeToQ8_0
            return decoder
        case let other:
            throw DecoderError.invalidConfiguration("\(configPath): model_type \(other ?? "none") is not llama, qwen2 or opt")
        }
    }

    /// A matrix read from `tensors`, quantised to Q8_0 right away when asked (and possible).
    private static func matrix(_ tensors: TensorDirectory, _ name: String, _ shape: [Int], quantize: Bool) throws -> WeightMatrix {
        let values = try tensors.read(name, shape)
        if quantize, let quantized = QuantizedMatrix.quantizeQ8_0(values, rows: shape[0], columns: shape[1]) { return .quantized(quantized) }
        return .dense(values)
    }

    private static func llamaWeights(
        _ tensors: TensorDirectory, _ c: DecoderConfiguration, _ object: [String: Any], quantize: Bool
    ) throws -> DecoderWeights {
        func matrix(_ name: String, _ shape: [Int]) throws -> WeightMatrix { try Self.matrix(tensors, name, shape, quantize: quantize) }
        let (h, i, kv) = (c.hiddenSize, c.intermediateSize, c.keyValueWidth)
        /// A bias when the checkpoint has one (Qwen2's q/k/v; Llama with attention_bias or mlp_bias).
        func bias(_ name: String, _ count: Int) throws -> [Float]? { tensors.has(name) ? try tensors.read(name, [count]) : nil }
        let names = LlamaTensorNames.huggingFace
        let layers = try (0..<c.layers).map { index in
            let name = names.layer(index)
            guard !tensors.has(name.gateBias) else {
                throw DecoderError.invalidConfiguration("a bias on mlp.gate_proj (mlp_bias) is not supported")
            }
            return DecoderWeights.Layer(
                attentionNorm: .init(weight: try tensors.read(name.attentionNorm, [h])),
                query: try matrix(name.query, [h, h]), key: try matrix(name.key, [kv, h]), value: try matrix(name.value, [kv, h]),
                output: try matrix(name.output, [h, h]),
                queryBias: try bias(name.queryBias, h), keyBias: try bias(name.keyBias, kv), valueBias: try bias(name.valueBias, kv),
                outputBias: try bias(name.outputBias, h),
                feedForwardNorm: .init(weight: try tensors.read(name.feedForwardNorm, [h])),
                gate: try matrix(name.gate, [i, h]), up: try matrix(name.up, [i, h]), down: try matrix(name.down, [h, i]),
                upBias: try bias(name.upBias, i), downBias: try bias(name.downBias, h))
        }
        let tied = (object["tie_word_embeddings"] as? Bool) ?? false
        return DecoderWeights(
            tokenEmbeddings: try matrix(names.tokenEmbeddings, [c.vocabularySize, h]), layers: layers,
            finalNorm: .init(weight: try tensors.read(names.finalNorm, [h])),
            outputHead: tied || !tensors.has(names.outputHead) ? nil : try matrix(names.outputHead, [c.vocabularySize, h]))
    }

    private static func optWeights(_ tensors: TensorDirectory, _ c: DecoderConfiguration, quantize: Bool) throws -> DecoderWeights {
        func matrix(_ name: String, _ shape: [Int]) throws -> WeightMatrix { try Self.matrix(tensors, name, shape, quantize: quantize) }
        let (h, i, e) = (c.hiddenSize, c.intermediateSize, c.embeddingSize)
        func norm(_ name: String) throws -> DecoderWeights.Norm {
            .init(weight: try tensors.read(name + ".weight", [h]), bias: try tensors.read(name + ".bias", [h]))
        }
        let layers = try (0..<c.layers).map { index in
            let name = OPTTensorNames.layer(index)
            return DecoderWeights.Layer(
                attentionNorm: try norm(name.attentionNorm),
                query: try matrix(name.query, [h, h]), key: try matrix(name.key, [h, h]), value: try matrix(name.value, [h, h]),
                output: try matrix(name.output, [h, h]),
                queryBias: try tensors.read(name.queryBias, [h]), keyBias: try tensors.read(name.keyBias, [h]),
                valueBias: try tensors.read(name.valueBias, [h]), outputBias: try tensors.read(name.outputBias, [h]),
                feedForwardNorm: try norm(name.feedForwardNorm), gate: nil, up: try matrix(name.up, [i, h]),
                down: try matrix(name.down, [h, i]), upBias: try tensors.read(name.upBias, [i]), downBias: try tensors.read(name.downBias, [h]))
        }
        return DecoderWeights(
            tokenEmbeddings: try matrix(OPTTensorNames.tokenEmbeddings, [c.vocabularySize, e]),
            positionEmbeddings: try tensors.read(OPTTensorNames.positionEmbeddings, [c.maxPositions + 2, h]),
            projectIn: e != h ? try tensors.read(OPTTensorNames.projectIn, [h, e]) : nil,
            projectOut: e != h ? try tensors.read(OPTTensorNames.projectOut, [e, h]) : nil, layers: layers,
            finalNorm: c.normalizeBefore ? try norm(OPTTensorNames.finalNorm) : nil,
            outputHead: tensors.has(OPTTensorNames.outputHead) ? try matrix(OPTTensorNames.outputHead, [c.vocabularySize, e]) : nil)
    }
}

/// The tensors of a Hugging Face directory by their name without the model prefix: from
/// `model.safetensors` (or its sharded index), else from PyTorch's `pytorch_model.bin` (or its
/// sharded index), which is read whole.
private struct TensorDirectory {
    private enum Source {
        case safetensors(SafetensorsFile, name: String)
        case loaded(Tensor)
    }

    private var entries: [String: Source] = [:]

    init(_ directory: String) throws {
        let manager = FileManager.default
        if let shards = try Self.shards(directory + "/model.safetensors.index.json")
            ?? (manager.fileExists(atPath: directory + "/model.safetensors") ? ["model.safetensors"] : nil)
        {
            for shard in shards {
                let file = try SafetensorsFile(path: directory + "/" + shard)
                for name in file.names { entries[Self.key(name)] = .safetensors(file, name: name) }
            }
            return
        }
        guard let shards = try Self.shards(directory + "/pytorch_model.bin.index.json")
            ?? (manager.fileExists(atPath: directory + "/pytorch_model.bin") ? ["pytorch_model.bin"] : nil)
        else { throw DecoderError.invalidConfiguration("\(directory): no model.safetensors or pytorch_model.bin") }
        for shard in shards {
            for entry in try PyTorchCheckpoint(path: directory + "/" + shard).stateDict() {
                entries[Self.key(entry.name)] = .loaded(entry.tensor)
            }
        }
    }

    /// The shard file names of a sharded checkpoint's index, or nil when there is no index.
    private static func shards(_ index: String) throws -> [String]? {
        guard FileManager.default.fileExists(atPath: index) else { return nil }
        let data = try ModelFile.contents(of: index)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let map = object["weight_map"] as? [String: String]
        else { throw DecoderError.invalidConfiguration("\(index): no weight_map") }
        return Set(map.values).sorted()
    }

    private static func key(_ name: String) -> String {
        for prefix in ["model.decoder.", "decoder.", "model."] where name.hasPrefix(prefix) {
            return String(name.dropFirst(prefix.count))
        }
        return name
    }

    func has(_ key: String) -> Bool { entries[key] != nil }

    func read(_ key: String, _ shape: [Int]) throws -> [Float] {
        let tensor: Tensor
        switch entries[key] {
        case .safetensors(let file, let name)?:
            tensor = try file.tensor(named: name)
            // Each tensor is read once: its mapped pages need not stay resident (OPT-6.7B's shards
            // are 13 GB).
            try file.releasePages(named: name)
        case .loaded(let loaded)?: tensor = loaded
        case nil: throw DecoderError.missingWeight(key)
        }
        guard tensor.shape == shape else { throw DecoderError.shapeMismatch(name: key, expected: shape, got: tensor.shape) }
        return tensor.storage
    }
}
