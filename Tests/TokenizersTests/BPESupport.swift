import Foundation
import Testing
import Tokenizers

/// Vocabularies, golden cases and tokenizer files for the byte-level BPE tests.
///
/// The GPT-2 vocabulary is committed once, inside `Fixtures/ggml-vocab-gpt-2.gguf`; the tests write
/// `vocab.json`, `merges.txt` and `tokenizer.json` from its metadata into scratch directories. The
/// `*.shell.json` fixtures are Hugging Face `tokenizer.json` files with `model.vocab` and
/// `model.merges` emptied, written by `scripts/make-bpe-tokenizer-fixtures.py` (see
/// `Fixtures/README.md`); `filledShell` puts a GGUF's vocabulary back in.
enum BPESupport {
    /// A golden case: a text and the ids Hugging Face's tokenizer gives it, without BOS/EOS.
    struct GoldenCase: Sendable {
        let text: String
        let ids: [Int32]
    }

    static let gpt2GGUF = Support.fixture("ggml-vocab-gpt-2.gguf")

    /// `$LLMREC_HOME/assets/smollm2-135m/...`, LLMREC_HOME defaulting as `AssetCache.home` does.
    static var smollm2GGUF: String {
        let environment = ProcessInfo.processInfo.environment
        let home = environment["LLMREC_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache"))
                + "/llmrec")
        return home + "/assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    private static let gpt2Metadata = Result { try GGUFMetadata(path: gpt2GGUF) }
    private static let smollm2Metadata = Result { try GGUFMetadata(path: smollm2GGUF) }

    static func gpt2() throws -> GGUFMetadata { try gpt2Metadata.get() }

    static func smollm2() throws -> GGUFMetadata {
        try #require(FileManager.default.fileExists(atPath: smollm2GGUF),
                     "\(smollm2GGUF) is missing: run scripts/fetch-assets.sh smollm2 (or set LLMREC_HOME)")
        return try smollm2Metadata.get()
    }

    private static let builtGPT2 = Result { try tokenizer(from: try gpt2()) }
    private static let builtSmolLM2 = Result { try tokenizer(from: try smollm2Metadata.get()) }

    private static let builtGPT2JSON = Result {
        try ByteLevelBPETokenizer(tokenizerJSONPath: try filledShell("gpt2.shell.json", with: try gpt2()))
    }
    private static let builtLlama3JSON = Result {
        try ByteLevelBPETokenizer(tokenizerJSONPath: try filledShell("gpt2-llama3-split.shell.json", with: try gpt2()))
    }

    /// GPT-2's tokenizer from `gpt2.shell.json` filled with the fixture GGUF's vocabulary, built once.
    static func gpt2JSONTokenizer() throws -> ByteLevelBPETokenizer { try builtGPT2JSON.get() }

    /// GPT-2's vocabulary behind Llama 3's pre-tokeniser, from `gpt2-llama3-split.shell.json`, built once.
    static func llama3JSONTokenizer() throws -> ByteLevelBPETokenizer { try builtLlama3JSON.get() }

    /// A GPT-2 tokenizer of its own (with an empty cache), for the concurrency test.
    static func freshGPT2Tokenizer() throws -> ByteLevelBPETokenizer { try tokenizer(from: try gpt2()) }

    /// GPT-2's tokenizer from the fixture GGUF's metadata, built once.
    static func gpt2Tokenizer() throws -> ByteLevelBPETokenizer { try builtGPT2.get() }

    /// SmolLM2-135M-Instruct's tokenizer from the real GGUF's metadata, built once.
    static func smollm2Tokenizer() throws -> ByteLevelBPETokenizer {
        _ = try smollm2()
        return try builtSmolLM2.get()
    }

    /// The tokenizer `metadata` describes, read the way a GGUF loader passes it in.
    static func tokenizer(from metadata: GGUFMetadata) throws -> ByteLevelBPETokenizer {
        try #require(metadata.string("tokenizer.ggml.model") == "gpt2")
        return try ByteLevelBPETokenizer(
            ggufTokens: try #require(metadata.strings("tokenizer.ggml.tokens")),
            merges: try #require(metadata.strings("tokenizer.ggml.merges")),
            tokenTypes: metadata.integers("tokenizer.ggml.token_type")?.map { Int32($0) },
            preTokenizer: try #require(metadata.string("tokenizer.ggml.pre")),
            bosID: metadata.integer("tokenizer.ggml.bos_token_id").map { Int32($0) },
            eosID: metadata.integer("tokenizer.ggml.eos_token_id").map { Int32($0) },
            unknownID: metadata.integer("tokenizer.ggml.unknown_token_id").map { Int32($0) },
            addBOS: metadata.bool("tokenizer.ggml.add_bos_token") ?? false,
            addEOS: metadata.bool("tokenizer.ggml.add_eos_token") ?? false)
    }

    /// Writes `vocab.json` and `merges.txt` (with a `#version: 0.2` line) of `metadata`'s vocabulary
    /// to a scratch directory.
    static func writeVocabularyFiles(_ metadata: GGUFMetadata) throws -> (vocabulary: String, merges: String) {
        let tokens = try #require(metadata.strings("tokenizer.ggml.tokens"))
        let merges = try #require(metadata.strings("tokenizer.ggml.merges"))
        let directory = Support.scratchDirectory()
        var vocabulary: [String: Int] = [:]
        for (id, token) in tokens.enumerated() { vocabulary[token] = id }
        let vocabularyPath = try Support.writeJSON(vocabulary, to: directory, name: "vocab.json")
        let mergesPath = Support.write("#version: 0.2\n" + merges.joined(separator: "\n") + "\n", to: directory,
                                       name: "merges.txt")
        return (vocabularyPath, mergesPath)
    }

    /// Writes the shell `tokenizer.json` fixture `shell` with `metadata`'s vocabulary and merges put
    /// back in; merges as `[a, b]` pairs, or as "a b" strings (the older format) when
    /// `mergesAsStrings`. `change` edits the object before it is written.
    static func filledShell(_ shell: String, with metadata: GGUFMetadata, mergesAsStrings: Bool = false,
                            change: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        try filledShell(shell, tokens: try #require(metadata.strings("tokenizer.ggml.tokens")),
                        merges: try #require(metadata.strings("tokenizer.ggml.merges")), mergesAsStrings: mergesAsStrings,
                        change: change)
    }

    /// `gpt2.shell.json` with `tinyTokens` and `tinyMerges` and without added tokens (GPT-2's
    /// `<|endoftext|>` id is past the tiny vocabulary), edited by `change`: quick to write and read,
    /// for the tests of what a `tokenizer.json` may not ask for.
    static func tinyShell(change: (inout [String: Any]) -> Void) throws -> String {
        try filledShell("gpt2.shell.json", tokens: tinyTokens, merges: tinyMerges) { object in
            object["added_tokens"] = [[String: Any]]()
            change(&object)
        }
    }

    private static func filledShell(_ shell: String, tokens: [String], merges: [String], mergesAsStrings: Bool = false,
                                    change: (inout [String: Any]) -> Void) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: Support.fixture(shell)))
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var model = try #require(object["model"] as? [String: Any])
        var vocabulary: [String: Int] = [:]
        for (id, token) in tokens.enumerated() { vocabulary[token] = id }
        model["vocab"] = vocabulary
        model["merges"] = mergesAsStrings ? merges : merges.map { $0.split(separator: " ").map(String.init) }
        object["model"] = model
        change(&object)
        return try Support.writeJSON(object, to: Support.scratchDirectory(), name: "tokenizer.json")
    }

    /// The texts of llama.cpp's `ggml-vocab-gpt-2.gguf.inp` with the ids of the `.out`-style fixture
    /// `output`: the `.inp` texts are each followed by `"\n__ggml_vocab_test__\n"` (the piece after
    /// the last one is empty and dropped); `output` has one line of space-preceded ids per text.
    static func goldenCases(_ output: String = "ggml-vocab-gpt-2.gguf.out") throws -> [GoldenCase] {
        let input = Array(try Data(contentsOf: URL(fileURLWithPath: Support.fixture("ggml-vocab-gpt-2.gguf.inp"))))
        let separator = Array("\n__ggml_vocab_test__\n".utf8)
        // Split on bytes, not Characters: a text ending in "\r" would fuse with the separator's "\n".
        var texts: [String] = []
        var start = 0
        var index = 0
        while index + separator.count <= input.count {
            if input[index..<(index + separator.count)].elementsEqual(separator) {
                texts.append(String(decoding: input[start..<index], as: UTF8.self))
                index += separator.count
                start = index
            } else {
                index += 1
            }
        }
        try #require(start == input.count, "the .inp does not end with the separator")
        var lines = try String(contentsOfFile: Support.fixture(output), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        try #require(lines.count == texts.count, "\(lines.count) id lines for \(texts.count) texts")
        return try zip(texts, lines).map { text, line in
            GoldenCase(text: text, ids: try line.split(separator: " ").map { try #require(Int32($0), "bad id '\($0)'") })
        }
    }

    /// `smollm2-135m-cases.json`: ChatML prompts, digits, and the reference prompts.
    static func smollm2Cases() throws -> [GoldenCase] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Support.fixture("smollm2-135m-cases.json")))
        let rows = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        return try rows.map { row in
            GoldenCase(text: try #require(row["text"] as? String),
                       ids: try #require(row["ids"] as? [Int]).map { Int32($0) })
        }
    }

    /// The prompts of `smollm2_135m_q4_1_reference.json` (its `cases` and `per_layer_debug`) with
    /// their `input_ids`, and the greedy continuations (`greedy_12_ids`, `greedy_12_text`).
    static func smollm2Reference() throws -> (prompts: [GoldenCase], continuations: [GoldenCase]) {
        let data = try Data(contentsOf: URL(fileURLWithPath: Support.fixture("smollm2_135m_q4_1_reference.json")))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try #require(object["cases"] as? [[String: Any]])
        let debug = try #require(object["per_layer_debug"] as? [String: Any])
        func golden(_ row: [String: Any], _ text: String, _ ids: String) throws -> GoldenCase {
            GoldenCase(text: try #require(row[text] as? String), ids: try #require(row[ids] as? [Int]).map { Int32($0) })
        }
        return (try (cases + [debug]).map { try golden($0, "prompt", "input_ids") },
                try cases.map { try golden($0, "greedy_12_text", "greedy_12_ids") })
    }
}

extension BPESupport {
    /// GPT-2's `bytes_to_unicode`, written out again for the tests: printable Latin-1 bytes stand for
    /// themselves, the other 68 become U+0100 + n in byte order.
    static let byteSpellings: [String] = {
        var next = 0x100
        return (0..<256).map { byte in
            if (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte) {
                return String(Unicode.Scalar(UInt8(byte)))
            }
            defer { next += 1 }
            return String(Unicode.Scalar(UInt32(next))!)
        }
    }()

    /// A tiny OPT-like vocabulary: `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3, the 256 byte tokens from
    /// 4, then the merged tokens of `tinyMerges` ("he", "ll", "hell", "hello", "Ġw", "Ġwo", "Ġworld"
    /// is not: "Ġwo" stays "Ġwo" + "r" + "l" + "d").
    static let tinyTokens = ["<s>", "<pad>", "</s>", "<unk>"] + byteSpellings + ["he", "ll", "hell", "hello", "Ġw", "Ġwo"]
    static let tinyMerges = ["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o"]

    /// The id of the byte token for `character` (an ASCII character) in `tinyTokens`.
    static func tinyByteID(_ character: Character) -> Int32 { 4 + Int32(character.asciiValue!) }

    /// Writes `tinyTokens` and `tinyMerges` as `vocab.json` and `merges.txt`.
    static func writeTinyVocabularyFiles() throws -> (vocabulary: String, merges: String) {
        let directory = Support.scratchDirectory()
        var vocabulary: [String: Int] = [:]
        for (id, token) in tinyTokens.enumerated() { vocabulary[token] = id }
        return (try Support.writeJSON(vocabulary, to: directory, name: "vocab.json"),
                Support.write("#version: 0.2\n" + tinyMerges.joined(separator: "\n") + "\n", to: directory, name: "merges.txt"))
    }
}
