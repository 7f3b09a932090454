import Foundation
import Testing
import Tokenizers

/// llama.cpp's 46 GPT-2 cases (whitespace runs, accents, Cyrillic, Khmer, emoji, CJK, digit runs,
/// apostrophes), whose ids came from Hugging Face's tokenizer, through every loader; and the same
/// texts through Llama 3's and SmolLM2's pre-tokenisers against ids Hugging Face's `tokenizers` gave
/// (`scripts/make-bpe-tokenizer-fixtures.py`). See `Fixtures/README.md`.
@Suite("Byte-level BPE golden ids")
struct BPEGoldenTests {
    /// The ways to load GPT-2's tokenizer; all must give llama.cpp's golden ids.
    enum GPT2Loader: String, CaseIterable, CustomStringConvertible, Sendable {
        case gguf
        case vocabularyFiles
        case tokenizerJSON
        case tokenizerJSONWithStringMerges

        var description: String { rawValue }

        func tokenizer() throws -> ByteLevelBPETokenizer {
            switch self {
            case .gguf:
                return try BPESupport.gpt2Tokenizer()
            case .vocabularyFiles:
                let (vocabulary, merges) = try BPESupport.writeVocabularyFiles(try BPESupport.gpt2())
                return try ByteLevelBPETokenizer(vocabularyPath: vocabulary, mergesPath: merges, options: .gpt2)
            case .tokenizerJSON:
                return try BPESupport.gpt2JSONTokenizer()
            case .tokenizerJSONWithStringMerges:
                return try ByteLevelBPETokenizer(
                    tokenizerJSONPath: try BPESupport.filledShell("gpt2.shell.json", with: try BPESupport.gpt2(),
                                                                  mergesAsStrings: true))
            }
        }
    }

    @Test("The GPT-2 golden file holds 46 cases, the third the empty text")
    func gpt2GoldenFileHasFortySixCases() throws {
        let cases = try BPESupport.goldenCases()
        #expect(cases.count == 46)
        #expect(cases[2].text == "" && cases[2].ids == [])
    }

    @Test("Every GPT-2 golden case gives Hugging Face's ids", arguments: GPT2Loader.allCases)
    func matchesGPT2GoldenIDs(loader: GPT2Loader) throws {
        let tokenizer = try loader.tokenizer()
        var matched = 0
        for (index, golden) in try BPESupport.goldenCases().enumerated() {
            let ids = tokenizer.encode(golden.text)
            #expect(ids == golden.ids, "case \(index): \(golden.text.debugDescription)")
            if ids == golden.ids { matched += 1 }
        }
        #expect(matched == 46)
    }

    @Test("Every GPT-2 golden case decodes back to its text", arguments: [GPT2Loader.gguf, .tokenizerJSON])
    func decodesGPT2GoldenIDsToTheirTexts(loader: GPT2Loader) throws {
        let tokenizer = try loader.tokenizer()
        for (index, golden) in try BPESupport.goldenCases().enumerated() {
            #expect(tokenizer.decode(golden.ids) == golden.text, "case \(index)")
        }
    }

    @Test("Llama 3's pre-tokeniser with ignore_merges gives Hugging Face's ids, after the template's BOS")
    func matchesLlama3SplitGoldenIDs() throws {
        let tokenizer = try BPESupport.llama3JSONTokenizer()
        #expect(tokenizer.preTokenizer == .llama3)
        #expect(tokenizer.ignoresMerges)
        #expect(tokenizer.prefixIDs == [50256] && tokenizer.bosID == 50256 && tokenizer.suffixIDs == [])
        for (index, golden) in try BPESupport.goldenCases("gpt2-llama3-split.out").enumerated() {
            #expect(tokenizer.encode(golden.text) == [50256] + golden.ids, "case \(index): \(golden.text.debugDescription)")
            #expect(tokenizer.decode(golden.ids) == golden.text, "case \(index)")
        }
    }

    @Test("SmolLM2's tokenizer from its GGUF gives Hugging Face's ids for the 46 texts")
    func matchesSmolLM2GoldenIDs() throws {
        let tokenizer = try BPESupport.smollm2Tokenizer()
        for (index, golden) in try BPESupport.goldenCases("smollm2-135m.out").enumerated() {
            #expect(tokenizer.encode(golden.text) == golden.ids, "case \(index): \(golden.text.debugDescription)")
            #expect(tokenizer.decode(golden.ids) == golden.text, "case \(index)")
        }
    }

    @Test("SmolLM2's tokenizer.json gives the same ids as its GGUF")
    func loadsSmolLM2FromTokenizerJSON() throws {
        let path = try BPESupport.filledShell("smollm2-135m.shell.json", with: try BPESupport.smollm2())
        let tokenizer = try ByteLevelBPETokenizer(tokenizerJSONPath: path, bosToken: "<|im_start|>", eosToken: "<|im_end|>")
        #expect(tokenizer.preTokenizer == .smolLM)
        #expect(tokenizer.bosID == 1 && tokenizer.eosID == 2 && tokenizer.prefixIDs == [])
        for golden in try BPESupport.goldenCases("smollm2-135m.out") + BPESupport.smollm2Cases() {
            #expect(tokenizer.encode(golden.text) == golden.ids, "\(golden.text.debugDescription)")
        }
    }

    @Test("400 random texts of the regexes' corner characters give Hugging Face's ids under all three pre-tokenisers")
    func matchesRandomCases() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Support.fixture("bpe-random-cases.json")))
        let rows = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(rows.count == 400)
        let gpt2 = try BPESupport.gpt2Tokenizer()
        let llama3 = try BPESupport.llama3JSONTokenizer()
        let smollm2 = try BPESupport.smollm2Tokenizer()
        for (index, row) in rows.enumerated() {
            let text = try #require(row["text"] as? String)
            for (name, tokenizer) in [("gpt2", gpt2), ("llama3", llama3), ("smollm2", smollm2)] {
                let expected = try #require(row[name] as? [Int]).map { Int32($0) }
                let ids = tokenizer.encode(text, addSpecialTokens: false)
                #expect(ids == expected, "\(name) case \(index): \(text.debugDescription)")
                #expect(tokenizer.decode(ids) == text, "\(name) case \(index)")
            }
        }
    }
}
