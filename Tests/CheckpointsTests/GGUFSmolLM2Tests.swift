import Checkpoints
import Foundation
import Numerics
import Testing

/// The real SmolLM2-135M-Instruct Q4_1 GGUF from the asset cache (`scripts/fetch-assets.sh smollm2`),
/// against `Fixtures/smollm2_135m_q4_1_reference.json` (transformers 4.57.6 reading the same file; see
/// `Fixtures/README.md`) and `Fixtures/smollm2_135m_q4_1_qk_rows.json` (its q/k rows, written by
/// `scripts/make-gguf-fixtures.py --smollm2-qk`).
@Suite struct GGUFSmolLM2Tests {
    /// `$LLMREC_HOME/assets/smollm2-135m/...`, with LLMREC_HOME defaulting as `AssetCache.home` does.
    static var modelPath: String {
        let environment = ProcessInfo.processInfo.environment
        let home = environment["LLMREC_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache")) + "/llmrec")
        return home + "/assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    static func open() throws -> GGUFFile {
        try #require(FileManager.default.fileExists(atPath: modelPath),
                     "\(modelPath) is missing: run scripts/fetch-assets.sh smollm2 (or set LLMREC_HOME)")
        return try GGUFFile(path: modelPath)
    }

    /// A JSON fixture's `key` as [Float] (the values are rounded to 6 decimals).
    static func reference(_ fixture: String, _ key: String, section: String? = nil) throws -> [Float] {
        let data = try #require(FileManager.default.contents(atPath: Support.fixture(fixture)))
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        if let section { object = try #require(object[section] as? [String: Any]) }
        return try #require((object[key] as? [NSNumber])?.map(\.floatValue), "\(fixture) has no \(key)")
    }

    static func close(_ a: some Collection<Float>, _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 + 1e-6 * abs($1) }
    }

    @Test func readsLlamaAndTokenizerMetadata() throws {
        let file = try Self.open()
        #expect(file.version == 3 && file.alignment == 32)
        #expect(file.string("general.architecture") == "llama")
        #expect(file.int("llama.block_count") == 30)
        #expect(file.int("llama.embedding_length") == 576)
        #expect(file.int("llama.feed_forward_length") == 1536)
        #expect(file.int("llama.attention.head_count") == 9)
        #expect(file.int("llama.attention.head_count_kv") == 3)
        #expect(file.int("llama.rope.dimension_count") == 64)
        #expect(file.float("llama.rope.freq_base") == 100_000)
        #expect(file.float("llama.attention.layer_norm_rms_epsilon") == 1e-5)
        #expect(file.string("tokenizer.ggml.model") == "gpt2")
        #expect(file.string("tokenizer.ggml.pre") == "smollm")
        let tokens = try #require(file.stringArray("tokenizer.ggml.tokens"))
        #expect(tokens.count == 49152)
        #expect(tokens[504] == "The" && tokens[3575] == "Ġcapital", "ids from the reference's first case")
        let merges = try #require(file.stringArray("tokenizer.ggml.merges"))
        #expect(merges.count == 48900 && merges.allSatisfy { $0.contains(" ") })
        #expect(file.intArray("tokenizer.ggml.token_type")?.count == 49152)
        #expect(file.bool("tokenizer.ggml.add_bos_token") == false)
        #expect(file.int("tokenizer.ggml.bos_token_id") == 1 && file.int("tokenizer.ggml.eos_token_id") == 2)
        #expect(file.string("tokenizer.chat_template")?.contains("im_start") == true)
    }

    @Test func listsTensorsInRowMajorShapes() throws {
        let file = try Self.open()
        #expect(file.tensors.count == 272)
        let counts = Dictionary(grouping: file.tensors, by: \.type).mapValues(\.count)
        #expect(counts == [.q4_1: 210, .f32: 61, .q8_0: 1])
        let embedding = try file.info(named: "token_embd.weight")
        #expect(embedding.type == .q8_0 && embedding.ne == [576, 49152] && embedding.shape == [49152, 576])
        #expect(try file.info(named: "blk.0.attn_k.weight").shape == [192, 576])
        #expect(try file.info(named: "blk.0.ffn_down.weight").shape == [576, 1536])
        #expect(try file.info(named: "blk.0.ffn_gate.weight").shape == [1536, 576])
        #expect(try file.info(named: "output_norm.weight").shape == [576])
        // The head is tied to the embedding: there is no output.weight.
        #expect(throws: CheckpointError.missingTensor(name: "output.weight", path: file.path)) { try file.info(named: "output.weight") }
    }

    @Test func dequantisesAsTransformersDoes() throws {
        let file = try Self.open()
        let json = "smollm2_135m_q4_1_reference.json"
        func reference(_ key: String) throws -> [Float] { try Self.reference(json, key, section: "dequant_debug") }

        let embedding = try file.tensor(named: "token_embd.weight")
        #expect(embedding.shape == [49152, 576])
        for token in [0, 504] {
            let expected = try reference("model.embed_tokens.weight[\(token),:8]")
            #expect(Self.close(embedding.storage[token * 576..<token * 576 + 8], expected), "embedding row \(token)")
            let row = try file.rows(named: "token_embd.weight", range: token..<token + 1)
            #expect(row.shape == [1, 576] && row.storage == Array(embedding.storage[token * 576..<(token + 1) * 576]))
        }
        let pairs = [
            ("blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight[0,:8]"),
            ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight[0,:8]"),
            ("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight[:8]"),
            ("output_norm.weight", "model.norm.weight[:8]"),
        ]
        for (name, key) in pairs {
            let values = try file.tensor(named: name)
            #expect(Self.close(values.storage.prefix(8), try reference(key)), "\(name): \(Array(values.storage.prefix(8)))")
        }
    }

    @Test func unpermutesQueryAndKeyRowsAsTransformersDoes() throws {
        let file = try Self.open()
        let json = "smollm2_135m_q4_1_qk_rows.json"
        let heads = try #require(file.int("llama.attention.head_count"))
        let kvHeads = try #require(file.int("llama.attention.head_count_kv"))
        let cases = [("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", heads),
                     ("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", kvHeads),
                     ("blk.29.attn_k.weight", "model.layers.29.self_attn.k_proj.weight", kvHeads)]
        for (name, hfName, heads) in cases {
            let stored = try file.tensor(named: name)
            let restored = GGUFFile.unpermuteLlamaQK(stored, heads: heads)
            for row in [0, 1, 2, 31, 32, 33, 63, 64, 100, 191] {
                let expected = try Self.reference(json, "\(hfName)[\(row),:8]")
                let got = restored.storage[row * 576..<row * 576 + 8]
                #expect(Self.close(got, expected), "\(name) row \(row): \(Array(got)) vs \(expected)")
            }
            // Row 0 stays in place; row 1 of the Hugging Face layout is stored as row 2.
            let hfRow1 = try Self.reference(json, "\(hfName)[1,:8]")
            #expect(Self.close(stored.storage[2 * 576..<2 * 576 + 8], hfRow1), "\(name) stored row 2")
            #expect(!Self.close(stored.storage[576..<576 + 8], hfRow1), "\(name) is stored permuted")
        }
    }
}
