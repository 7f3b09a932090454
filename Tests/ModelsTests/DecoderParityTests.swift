import Checkpoints
import Foundation
import Models
import Numerics
import Testing

/// Tiny random decoders against transformers: Llama (grouped-query attention, tied head), Llama
/// with Llama 3.x RoPE scaling and Qwen2 (q/k/v biases), both checked at positions past 64, OPT
/// pre-LN, and OPT post-LN with project_in/out (the opt-350m variant). Fixtures:
/// Tests/ModelsTests/Fixtures/{llama_tiny,llama3_tiny,qwen2_tiny,opt_tiny,opt_postln}
/// (`python3 scripts/make-decoder-fixtures.py`).
@Suite struct DecoderParityTests {
    static let fixtures = ["llama_tiny", "llama3_tiny", "qwen2_tiny", "opt_tiny", "opt_postln"]

    static func folder(_ name: String) -> String { Bundle.module.resourcePath! + "/Fixtures/" + name }

    static func reference(_ name: String) throws -> (ids: [Int32], logits: [Float]) {
        let file = try SafetensorsFile(path: folder(name) + "/reference.safetensors")
        return (try file.int64Values(named: "input.ids").values.map { Int32($0) }, try file.tensor(named: "expected.logits").storage)
    }

    @Test(arguments: fixtures)
    func prefillLogitsMatchTransformers(name: String) throws {
        let decoder = try CausalDecoder.load(huggingFaceDirectory: Self.folder(name))
        let (ids, expected) = try Self.reference(name)
        var cache = KVCache(configuration: decoder.configuration, capacity: ids.count)
        let logits = try decoder.forward(tokens: ids, cache: &cache, allLogits: true)
        SASRecParityTests.expectClose(logits, expected, "\(name) logits", tolerance: 1e-4)
        #expect(cache.count == ids.count)
    }

    @Test(arguments: fixtures)
    func stepByStepDecodingWithTheCacheEqualsPrefill(name: String) throws {
        let decoder = try CausalDecoder.load(huggingFaceDirectory: Self.folder(name))
        let (ids, expected) = try Self.reference(name)
        let vocabulary = decoder.configuration.vocabularySize
        var cache = KVCache(configuration: decoder.configuration, capacity: ids.count)
        _ = try decoder.forward(tokens: Array(ids.prefix(4)), cache: &cache)
        for position in 4..<ids.count {
            let logits = try decoder.forward(tokens: [ids[position]], cache: &cache)
            SASRecParityTests.expectClose(
                logits, Array(expected[(position * vocabulary)..<((position + 1) * vocabulary)]), "position \(position)",
                tolerance: 1e-4)
        }
        // Truncating the cache re-uses a shared prefix.
        cache.truncate(to: 4)
        let again = try decoder.forward(tokens: [ids[4]], cache: &cache)
        SASRecParityTests.expectClose(again, Array(expected[(4 * vocabulary)..<(5 * vocabulary)]), "after truncation", tolerance: 1e-4)
    }

    @Test(arguments: fixtures)
    func softPromptsReplaceTokenEmbeddings(name: String) throws {
        let decoder = try CausalDecoder.load(huggingFaceDirectory: Self.folder(name))
        let (ids, _) = try Self.reference(name)
        let h = decoder.configuration.embeddingSize
        let embedding = decoder.weights.tokenEmbeddings.row(Int(ids[2]), columns: h)
        var plain = KVCache(configuration: decoder.configuration, capacity: 32)
        var soft = KVCache(configuration: decoder.configuration, capacity: 32)
        let expected = try decoder.forward(tokens: Array(ids.prefix(5)), cache: &plain)
        var tokens = Array(ids.prefix(5))
        tokens[2] = 0
        let actual = try decoder.forward(tokens: tokens, cache: &soft, inputEmbeddings: [2: embedding])
        #expect(actual == expected)
    }

    @Test(arguments: fixtures)
    func greedyGenerationMatchesTransformersWithAndWithoutRepetitionPenalty(name: String) throws {
        let decoder = try CausalDecoder.load(huggingFaceDirectory: Self.folder(name))
        let file = try SafetensorsFile(path: Self.folder(name) + "/reference.safetensors")
        let (ids, _) = try Self.reference(name)
        let generator = TextGenerator(decoder: decoder)
        var options = GenerationOptions()
        options.maxNewTokens = 8
        let greedy = try generator.generate(prompt: Array(ids.prefix(4)), options: options)
        #expect(greedy == (try file.int64Values(named: "expected.greedy").values.map { Int32($0) }))
        options.repetitionPenalty = 1.5
        let penalised = try generator.generate(prompt: Array(ids.prefix(4)), options: options)
        #expect(penalised == (try file.int64Values(named: "expected.greedy_penalty_1_5").values.map { Int32($0) }))
        // Streaming: the callback sees each token and can stop generation.
        var streamed: [Int32] = []
        options.repetitionPenalty = 1
        let stopped = try generator.generate(prompt: Array(ids.prefix(4)), options: options) { token in
            streamed.append(token)
            return streamed.count < 3
        }
        #expect(stopped == streamed && streamed.count == 3)
        // Sampling is reproducible for a seed.
        options.greedy = false
        options.temperature = 0.8
        options.topK = 10
        options.topP = 0.9
        options.seed = 5
        #expect(try generator.generate(prompt: [3, 17], options: options) == (try generator.generate(prompt: [3, 17], options: options)))
    }

    @Test(arguments: fixtures)
    func scoringSumsLogProbabilitiesAndReusesThePrefix(name: String) throws {
        let decoder = try CausalDecoder.load(huggingFaceDirectory: Self.folder(name))
        let (ids, logits) = try Self.reference(name)
        let vocabulary = decoder.configuration.vocabularySize
        var expected = 0.0
        for position in 4..<ids.count {
            let row = logits[((position - 1) * vocabulary)..<(position * vocabulary)].map(Double.init)
            let maximum = row.max()!
            expected += row[Int(ids[position])] - maximum - log(row.reduce(0) { $0 + exp($1 - maximum) })
        }
        let scores = try TextGenerator(decoder: decoder).score(
            prefix: Array(ids.prefix(4)), continuations: [Array(ids.dropFirst(4)), [ids[4]], []])
        #expect(abs(scores[0] - expected) < 1e-3)
        #expect(scores[2] == 0)
        #expect(scores[1] > scores[0], "a prefix of a continuation is at least as likely")
        // Continuations run together as branches: each sees the prefix and itself, never the others.
        let other: [Int32] = [7, 30, 2, 19, 50]
        let together = try TextGenerator(decoder: decoder).score(prefix: Array(ids.prefix(4)), continuations: [other, Array(ids.dropFirst(4))])
        let alone = try TextGenerator(decoder: decoder).score(prefix: Array(ids.prefix(4)), continuations: [other])
        #expect(abs(together[0] - alone[0]) < 1e-4)
        #expect(abs(together[1] - expected) < 1e-3)
    }

    /// opt_tiny's weights as float16 `pytorch_model.bin` shards with an index and `model.decoder.`
    /// names (how opt-6.7b ships): the logits match opt_tiny's reference up to the fp16 rounding.
    @Test func readsShardedPyTorchBinCheckpoints() throws {
        let decoder = try CausalDecoder.load(huggingFaceDirectory: Self.folder("opt_bin"))
        let (ids, expected) = try Self.reference("opt_tiny")
        var cache = KVCache(configuration: decoder.configuration, capacity: 16)
        let logits = try decoder.forward(tokens: ids, cache: &cache, allLogits: true)
        let worst = zip(logits, expected).map { abs($0 - $1) }.max()!
        #expect(worst < 0.05, "fp16 weights move logits by \(worst)")
        #expect(worst > 0, "the weights really went through float16")
        let vocabulary = decoder.configuration.vocabularySize
        for position in 0..<ids.count {
            let row = Array(logits[(position * vocabulary)..<((position + 1) * vocabulary)])
            let reference = Array(expected[(position * vocabulary)..<((position + 1) * vocabulary)])
            #expect(row.firstIndex(of: row.max()!) == reference.firstIndex(of: reference.max()!), "argmax at \(position)")
        }
    }

    @Test func q8QuantisedAtLoadStaysCloseToFloat32() throws {
        let decoder = try CausalDecoder.load(huggingFaceDirectory: Self.folder("llama_tiny"))
        let quantized = decoder.quantizedToQ8_0()
        if case .dense = quantized.weights.layers[0].query { Issue.record("the query matrix was not quantised") }
        let (ids, expected) = try Self.reference("llama_tiny")
        var cache = KVCache(configuration: quantized.configuration, capacity: 16)
        let logits = try quantized.forward(tokens: ids, cache: &cache, allLogits: true)
        // Q8_0 keeps each weight within half a step of 1/127 of its block's largest magnitude; on this
        // tiny random model (2 layers, 64 logits of magnitude ~1) that moves logits by a few percent.
        let scale = expected.map { abs($0) }.max()!
        let differences = zip(logits, expected).map { abs($0 - $1) }
        let mean = differences.reduce(0, +) / Float(differences.count)
        #expect(differences.max()! < 0.05 * scale, "Q8_0 moves logits by up to \(differences.max()!) (largest logit \(scale))")
        #expect(mean < 0.01 * scale, "mean change \(mean)")
        // Quantising each matrix as it is read gives the same model without ever holding it in Float32.
        let atLoad = try CausalDecoder.load(huggingFaceDirectory: Self.folder("llama_tiny"), quantizeToQ8_0: true)
        var loadCache = KVCache(configuration: atLoad.configuration, capacity: 16)
        #expect(try atLoad.forward(tokens: ids, cache: &loadCache, allLogits: true) == logits)
        #expect(atLoad.weightBytes < decoder.weightBytes / 3)
    }

    /// Continuation log-likelihoods against transformers (float64, `continuations.safetensors`): the
    /// prefix runs once and the three continuations together as branches of it.
    @Test(arguments: fixtures)
    func continuationLogLikelihoodsMatchTransformers(name: String) throws {
        let decoder = try CausalDecoder.load(huggingFaceDirectory: Self.folder(name))
        let file = try SafetensorsFile(path: Self.folder(name) + "/continuations.safetensors")
        let prefix = try file.int64Values(named: "input.prefix").values.map { Int32($0) }
        var flat = try file.int64Values(named: "input.continuations").values.map { Int32($0) }[...]
        let continuations = try file.int64Values(named: "input.lengths").values.map { length -> [Int32] in
            defer { flat = flat.dropFirst(Int(length)) }
            return Array(flat.prefix(Int(length)))
        }
        let expected = try file.tensor(named: "expected.log_likelihoods").storage
        let scores = try TextGenerator(decoder: decoder).score(prefix: prefix, continuations: continuations)
        for (score, reference) in zip(scores, expected) {
            #expect(abs(score - Double(reference)) < 1e-3, "\(name): \(score) vs \(reference)")
        }
    }

    /// Long prompts take the matrix-product attention path (whole block per head); it must give what
    /// token-by-token decoding gives, also for a second block after a cached prefix.
    @Test(arguments: fixtures)
    func matrixAttentionPrefillEqualsStepByStepDecoding(name: String) throws {
        let decoder = try CausalDecoder.load(huggingFaceDirectory: Self.folder(name))
        let vocabulary = decoder.configuration.vocabularySize
        var generator = SplitMix64(seed: 3)
        let ids = (0..<48).map { _ in Int32(generator.next() % UInt64(vocabulary)) }
        var blockCache = KVCache(configuration: decoder.configuration, capacity: 48)
        let first = try decoder.forward(tokens: Array(ids.prefix(20)), cache: &blockCache, allLogits: true)
        let second = try decoder.forward(tokens: Array(ids.dropFirst(20)), cache: &blockCache, allLogits: true)
        var stepCache = KVCache(configuration: decoder.configuration, capacity: 48)
        var stepped: [Float] = []
        for id in ids { stepped += try decoder.forward(tokens: [id], cache: &stepCache) }
        SASRecParityTests.expectClose(first + second, stepped, "\(name) block vs steps", tolerance: 1e-4)
    }

    /// llama3_tiny read as if it had no RoPE scaling is far from transformers (so the parity above
    /// depends on the scaling), and a scaling kind the engine does not implement is refused.
    @Test func llama3ScalingIsWhatMakesTheLogitsMatch() throws {
        let copy = NSTemporaryDirectory() + "llama3-unscaled-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: Self.folder("llama3_tiny"), toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let configPath = copy + "/config.json"
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as? [String: Any])
        config["rope_parameters"] = ["rope_type": "default", "rope_theta": 10_000.0]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        let unscaled = try CausalDecoder.load(huggingFaceDirectory: copy)
        let (ids, expected) = try Self.reference("llama3_tiny")
        var cache = KVCache(configuration: unscaled.configuration, capacity: ids.count)
        let logits = try unscaled.forward(tokens: ids, cache: &cache, allLogits: true)
        let largest = zip(logits, expected).map { abs($0 - $1) }.max() ?? 0
        #expect(largest > 0.05, "without the scaling the logits differ (largest difference \(largest))")
        config["rope_parameters"] = ["rope_type": "yarn", "factor": 4.0, "rope_theta": 10_000.0]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        #expect(throws: DecoderError.self) { try CausalDecoder.load(huggingFaceDirectory: copy) }
    }

    /// The same two models converted to GGUF as llama.cpp's converter writes them: Llama 3.x
    /// scaling as `rope_freqs.weight` (with q/k rows permuted), Qwen2 as architecture "qwen2" with
    /// its q/k/v biases (rows as they are). The logits match transformers' at every one of 80 positions.
    @Test(arguments: ["llama3_tiny", "qwen2_tiny"])
    func ggufConversionsMatchTransformers(name: String) throws {
        let model = try LanguageModel.load(Self.folder(name) + "/model.gguf")
        let (ids, expected) = try Self.reference(name)
        var cache = KVCache(configuration: model.decoder.configuration, capacity: ids.count)
        let logits = try model.decoder.forward(tokens: ids, cache: &cache, allLogits: true)
        SASRecParityTests.expectClose(logits, expected, "\(name) GGUF logits", tolerance: 1e-4)
        let fromDirectory = try CausalDecoder.load(huggingFaceDirectory: Self.folder(name)).configuration
        #expect(model.decoder.configuration.ropeFrequencyDivisors?.map { Float($0) } == fromDirectory.ropeFrequencyDivisors?.map { Float($0) })
    }

    @Test func refusesWhatDoesNotFit() throws {
        let decoder = try CausalDecoder.load(huggingFaceDirectory: Self.folder("llama_tiny"))
        var cache = KVCache(configuration: decoder.configuration, capacity: 4)
        #expect(throws: DecoderError.contextFull(limit: 4)) { try decoder.forward(tokens: [1, 2, 3, 4, 5], cache: &cache) }
        #expect(throws: DecoderError.unknownToken(64)) { try decoder.forward(tokens: [64], cache: &cache) }
    }
}
