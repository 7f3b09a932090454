import Checkpoints
import Foundation
import Numerics
import Tokenizers

/// An LM ready to use: the decoder, its tokenizer and how it wants chat prompts written.
public struct LanguageModel: Sendable {
    public var decoder: CausalDecoder
    public let tokenizer: ByteLevelBPETokenizer
    /// End-of-sequence id (generation stops there).
    public let endOfSequence: Int32?
    /// The chat template's markers when the model is an instruct model with ChatML (SmolLM2).
    public let usesChatML: Bool
    /// The system prompt the model's own chat template inserts when the conversation has none.
    public let defaultSystemPrompt: String?

    /// Loads a GGUF file (Llama architecture; 16-bit, Q8_0, Q4_0 and Q4_1 matrices stay in their
    /// format in memory and are multiplied by the C kernels, F32 ones are read as they are) or a
    /// Hugging Face directory (Llama or OPT, Float32; `tokenizer.json`, or `vocab.json` with `merges.txt`).
    /// With `quantizeToQ8_0`, Float32 and 16-bit matrices of a Hugging Face directory are quantised as
    /// they are read (and turn on the integer decode path); GGUF matrices stay in their format.
    public static func load(_ path: String, quantizeToQ8_0: Bool = false) throws -> LanguageModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CheckpointError.fileNotFound(path: path) }
        if isDirectory.boolValue { return try loadHuggingFace(path, quantizeToQ8_0: quantizeToQ8_0) }
        return try loadGGUF(path)
    }

    /// Tokens that end a generation: end of sequence, and ChatML's end of turn for chat models.
    public var stopTokens: Set<Int32> {
        var tokens = Set(endOfSequence.map { [$0] } ?? [])
        if usesChatML, let endOfTurn = tokenizer.id(of: "<|im_end|>") { tokens.insert(endOfTurn) }
        return tokens
    }

    /// The prompt for one user message in the model's chat format (ChatML), or the text itself.
    public func chatPrompt(user message: String, system: String? = nil) -> String {
        guard usesChatML else { return message }
        var prompt = ""
        if let system = system ?? defaultSystemPrompt { prompt += "<|im_start|>system\n\(system)<|im_end|>\n" }
        return prompt + "<|im_start|>user\n\(message)<|im_end|>\n<|im_start|>assistant\n"
    }

    private static func loadGGUF(_ path: String) throws -> LanguageModel {
        let file = try GGUFFile(path: path)
        // Qwen2 is Llama with biases on q, k and v, and its q/k rows are stored as they are (llama.cpp
        // permutes them for adjacent-pair RoPE only for "llama").
        let architecture = file.string("general.architecture") ?? "?"
        guard architecture == "llama" || architecture == "qwen2" else {
            throw DecoderError.invalidConfiguration("\(path): GGUF architecture '\(architecture)' is not supported (llama, qwen2)")
        }
        let key = { (name: String) in architecture + "." + name }
        func required(_ name: String) throws -> Int {
            guard let value = file.int(key(name)) else { throw DecoderError.invalidConfiguration("\(path): missing \(key(name))") }
            return value
        }
        guard let tokens = file.stringArray("tokenizer.ggml.tokens") else {
            throw DecoderError.invalidConfiguration("\(path): no tokenizer.ggml.tokens")
        }
        func vector(_ name: String, _ count: Int) throws -> [Float] {
            let tensor = try file.tensor(named: name)
            guard tensor.shape == [count] else { throw DecoderError.shapeMismatch(name: name, expected: [count], got: tensor.shape) }
            return tensor.storage
        }
        let heads = try required("attention.head_count")
        let keyValueHeads = file.int(key("attention.head_count_kv")) ?? heads
        let hidden = try required("embedding_length")
        // Llama 3.x scaling is stored as per-pair frequency divisors (`rope_freqs.weight`); linear
        // scaling as a type and a factor.
        let names = LlamaTensorNames.gguf
        let divisors: [Double]?
        if let frequencies = names.ropeFrequencies, file.names.contains(frequencies) {
            divisors = try vector(frequencies, hidden / heads / 2).map(Double.init)
        } else if let kind = file.string(key("rope.scaling.type")), kind != "none" {
            guard kind == "linear", let factor = file.float(key("rope.scaling.factor")) else {
                throw DecoderError.invalidConfiguration("\(path): RoPE scaling '\(kind)' is not supported (linear, rope_freqs)")
            }
            divisors = [Double](repeating: Double(factor), count: hidden / heads / 2)
        } else {
            divisors = nil
        }
        let configuration = DecoderConfiguration(
            family: .llama, vocabularySize: file.int(key("vocab_size")) ?? tokens.count,
            hiddenSize: hidden, intermediateSize: try required("feed_forward_length"),
            layers: try required("block_count"), heads: heads, keyValueHeads: keyValueHeads,
            ropeTheta: file.float(key("rope.freq_base")) ?? 10_000, ropeFrequencyDivisors: divisors,
            rmsNormEpsilon: file.float(key("attention.layer_norm_rms_epsilon")) ?? 1e-5,
            maxPositions: file.int(key("context_length")) ?? 2048)
        let (h, i, kv) = (configuration.hiddenSize, configuration.intermediateSize, configuration.keyValueWidth)
        let permutedQK = architecture == "llama"
        /// A bias when the file has one, in Hugging Face row order (`rowOrder` as for its matrix).
        func bias(_ name: String, _ count: Int, rowOrder: [Int]? = nil) throws -> [Float]? {
            guard file.names.contains(name) else { return nil }
            let values = try vector(name, count)
            return rowOrder.map { $0.map { values[$0] } } ?? values
        }
        /// A matrix kept in its file format when the kernels read it (`QuantizedMatrix.Format`: 16-bit,
        /// Q4_0 to Q8_0, Q4_K, Q5_K, Q6_K), else dequantised; `rowOrder` reorders rows (the q/k
        /// un-permutation).
        func matrix(_ name: String, _ shape: [Int], rowOrder: [Int]? = nil) throws -> WeightMatrix {
            let info = try file.info(named: name)
            guard info.shape == shape else { throw DecoderError.shapeMismatch(name: name, expected: shape, got: info.shape) }
            if let format = QuantizedMatrix.Format(rawValue: Int32(info.type.rawValue)), let quantized = QuantizedMatrix(
                format: format, rows: shape[0], columns: shape[1], bytes: Array(try file.rawBytes(named: name)))
            {
                return .quantized(rowOrder.map { quantized.reorderingRows($0) } ?? quantized)
            }
            var tensor = try file.tensor(named: name)
            if let rowOrder {
                let width = shape[1]
                tensor.storage = rowOrder.flatMap { tensor.storage[($0 * width)..<(($0 + 1) * width)] }
            }
            return .dense(tensor.storage)
        }
        /// For each Hugging Face row, the stored row it comes from (llama.cpp permutes q/k rows).
        func unpermutedOrder(rows: Int, heads: Int) -> [Int] {
            let indices = Tensor(shape: [rows, 1], storage: (0..<rows).map(Float.init))
            return GGUFFile.unpermuteLlamaQK(indices, heads: heads).storage.map { Int($0) }
        }
        let queryOrder = permutedQK ? unpermutedOrder(rows: h, heads: heads) : nil
        let keyOrder = permutedQK ? unpermutedOrder(rows: kv, heads: keyValueHeads) : nil
        let layers = try (0..<configuration.layers).map { index in
            let name = names.layer(index)
            return DecoderWeights.Layer(
                attentionNorm: .init(weight: try vector(name.attentionNorm, h)),
                query: try matrix(name.query, [h, h], rowOrder: queryOrder), key: try matrix(name.key, [kv, h], rowOrder: keyOrder),
                value: try matrix(name.value, [kv, h]), output: try matrix(name.output, [h, h]),
                queryBias: try bias(name.queryBias, h, rowOrder: queryOrder), keyBias: try bias(name.keyBias, kv, rowOrder: keyOrder),
                valueBias: try bias(name.valueBias, kv),
                feedForwardNorm: .init(weight: try vector(name.feedForwardNorm, h)),
                gate: try matrix(name.gate, [i, h]), up: try matrix(name.up, [i, h]), down: try matrix(name.down, [h, i]))
        }
        let weights = DecoderWeights(
            tokenEmbeddings: try matrix(names.tokenEmbeddings, [configuration.vocabularySize, h]), layers: layers,
            finalNorm: .init(weight: try vector(names.finalNorm, h)),
            outputHead: file.names.contains(names.outputHead) ? try matrix(names.outputHead, [configuration.vocabularySize, h]) : nil)
        let tokenizer = try ByteLevelBPETokenizer(
            ggufTokens: tokens, merges: file.stringArray("tokenizer.ggml.merges") ?? [],
            tokenTypes: file.intArray("tokenizer.ggml.token_type")?.map(Int32.init),
            preTokenizer: file.string("tokenizer.ggml.pre") ?? "gpt-2",
            bosID: file.int("tokenizer.ggml.bos_token_id").map(Int32.init), eosID: file.int("tokenizer.ggml.eos_token_id").map(Int32.init),
            addBOS: file.bool("tokenizer.ggml.add_bos_token") ?? false)
        let template = file.string("tokenizer.chat_template") ?? ""
        var decoder = try CausalDecoder(configuration: configuration, weights: weights)
        decoder.integerActivations = true
        return LanguageModel(
            decoder: decoder, tokenizer: tokenizer,
            endOfSequence: file.int("tokenizer.ggml.eos_token_id").map(Int32.init), usesChatML: template.contains("<|im_start|>"),
            defaultSystemPrompt: Self.defaultSystemPrompt(in: template))
    }

    private static func loadHuggingFace(_ directory: String, quantizeToQ8_0: Bool) throws -> LanguageModel {
        let decoder = try CausalDecoder.load(huggingFaceDirectory: directory, quantizeToQ8_0: quantizeToQ8_0)
        let tokenizer: ByteLevelBPETokenizer
        if FileManager.default.fileExists(atPath: directory + "/tokenizer.json") {
            tokenizer = try ByteLevelBPETokenizer(tokenizerJSONPath: directory + "/tokenizer.json")
        } else {
            tokenizer = try ByteLevelBPETokenizer(
                vocabularyPath: directory + "/vocab.json", mergesPath: directory + "/merges.txt",
                options: decoder.configuration.family == .opt ? .opt : .gpt2)
        }
        var template = ""
        if let data = try? ModelFile.contents(of: directory + "/tokenizer_config.json"),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        {
            template = object["chat_template"] as? String ?? ""
        }
        let configData = try? ModelFile.contents(of: directory + "/config.json")
        let config = configData.flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] } ?? [:]
        return LanguageModel(
            decoder: decoder, tokenizer: tokenizer, endOfSequence: (config["eos_token_id"] as? Int).map(Int32.init),
            usesChatML: template.contains("<|im_start|>"), defaultSystemPrompt: Self.defaultSystemPrompt(in: template))
    }

    /// The system prompt written literally in a ChatML template for conversations without one
    /// (SmolLM2's: "You are a helpful AI assistant named SmolLM, trained by Hugging Face").
    static func defaultSystemPrompt(in template: String) -> String? {
        guard let start = template.range(of: "<|im_start|>system\\n")?.upperBound ?? template.range(of: "<|im_start|>system\n")?.upperBound,
            let end = template[start...].range(of: "<|im_end|>")?.lowerBound
        else { return nil }
        let text = String(template[start..<end])
        return text.contains("{{") || text.contains("{%") ? nil : text
    }
}
