import Testing
import Tokenizers

/// llama.cpp's 46 bert-base-uncased cases (whitespace runs, accents, Cyrillic, Khmer, emoji, CJK,
/// digits, apostrophes), whose ids came from Hugging Face's tokenizer; see `Fixtures/README.md`.
@Suite("Golden ids from Hugging Face")
struct GoldenTests {
    @Test("The golden file holds 46 cases, the third the empty text")
    func goldenFileHasFortySixCases() throws {
        let cases = try Support.goldenCases()
        #expect(cases.count == 46)
        #expect(cases[2].text == "")
        #expect(cases[2].ids == [])
    }

    @Test("Every golden case gives Hugging Face's ids", arguments: Support.Loader.allCases)
    func matchesHuggingFaceIDs(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        for (index, golden) in try Support.goldenCases().enumerated() {
            let ids = tokenizer.encode(golden.text, addSpecialTokens: false)
            #expect(ids == golden.ids, "case \(index): \(golden.text.debugDescription)")
        }
    }

    @Test("With special tokens every golden case is [CLS] ids [SEP]", arguments: Support.Loader.allCases)
    func wrapsGoldenIDsInClsAndSep(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        for (index, golden) in try Support.goldenCases().enumerated() {
            #expect(tokenizer.encode(golden.text) == [101] + golden.ids + [102], "case \(index)")
        }
    }
}
