import Testing
import Tokenizers

/// The hand-written pre-tokeniser regexes against the pieces Hugging Face `tokenizers` 0.23.3 (Oniguruma)
/// gives: `Split(Regex(...), behavior="isolated").pre_tokenize_str(text)` for GPT-2 and Llama 3, and
/// `Sequence([Digits(individual_digits=True), Split(GPT-2 regex)])` for SmolLM2.
@Suite("Byte-level BPE pre-tokenisers")
struct BPEPreTokenizerTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let text: String
        let gpt2: [String]
        let smolLM: [String]
        let llama3: [String]

        var testDescription: String { text.debugDescription }
    }

    static let cases: [Case] = [
        Case(text: "Hello world", gpt2: ["Hello", " world"], smolLM: ["Hello", " world"], llama3: ["Hello", " world"]),
        Case(text: "  a\t\tb   ",
             gpt2: [" ", " a", "\t", "\t", "b", "   "],
             smolLM: [" ", " a", "\t", "\t", "b", "   "],
             llama3: [" ", " a", "\t", "\tb", "   "]),
        Case(text: "I've 'tis can't''s",
             gpt2: ["I", "'ve", " '", "tis", " can", "'t", "''", "s"],
             smolLM: ["I", "'ve", " '", "tis", " can", "'t", "''", "s"],
             llama3: ["I", "'ve", " '", "tis", " can", "'t", "''", "s"]),
        Case(text: "x  1234567 ,,!!  \n\n y",
             gpt2: ["x", " ", " 1234567", " ,,!!", "  \n\n", " y"],
             smolLM: ["x", "  ", "1", "2", "3", "4", "5", "6", "7", " ,,!!", "  \n\n", " y"],
             llama3: ["x", " ", " ", "123", "456", "7", " ,,!!", "  \n\n", " y"]),
        Case(text: "\u{A0}\u{3000}word\u{2028}",
             gpt2: ["\u{A0}", "\u{3000}", "word", "\u{2028}"],
             smolLM: ["\u{A0}", "\u{3000}", "word", "\u{2028}"],
             llama3: ["\u{A0}", "\u{3000}word", "\u{2028}"]),
        Case(text: "Ⅻ²¾ ٣", gpt2: ["Ⅻ²¾", " ٣"], smolLM: ["Ⅻ", "²", "¾", " ", "٣"], llama3: ["Ⅻ²¾", " ", "٣"]),
        Case(text: "'S'LL'Ve \tcase\r\n\r\n  x",
             gpt2: ["'", "S", "'", "LL", "'", "Ve", " ", "\t", "case", "\r\n\r\n ", " x"],
             smolLM: ["'", "S", "'", "LL", "'", "Ve", " ", "\t", "case", "\r\n\r\n ", " x"],
             llama3: ["'S", "'LL", "'Ve", " ", "\tcase", "\r\n\r\n", " ", " x"]),
        Case(text: "a\u{301}b (c)\n\n",
             gpt2: ["a", "\u{301}", "b", " (", "c", ")", "\n\n"],
             smolLM: ["a", "\u{301}", "b", " (", "c", ")", "\n\n"],
             llama3: ["a", "\u{301}b", " (", "c", ")\n\n"]),
        // Oniguruma's (?i) folds ſ (U+017F) to s.
        Case(text: "x'\u{17F}x 'Sx",
             gpt2: ["x", "'", "\u{17F}x", " '", "Sx"],
             smolLM: ["x", "'", "\u{17F}x", " '", "Sx"],
             llama3: ["x", "'\u{17F}", "x", " '", "Sx"]),
        Case(text: "\u{1C}\u{85}x\u{85}",
             gpt2: ["\u{1C}", "\u{85}", "x", "\u{85}"],
             smolLM: ["\u{1C}", "\u{85}", "x", "\u{85}"],
             llama3: ["\u{1C}", "\u{85}x", "\u{85}"]),
        Case(text: "\u{1C}\u{1F} x", gpt2: ["\u{1C}\u{1F}", " x"], smolLM: ["\u{1C}\u{1F}", " x"], llama3: ["\u{1C}\u{1F}", " x"]),
        Case(text: "\u{200B}\u{2060} x", gpt2: ["\u{200B}\u{2060}", " x"], smolLM: ["\u{200B}\u{2060}", " x"],
             llama3: ["\u{200B}\u{2060}", " x"]),
        Case(text: "\r\n\t\n a\n\n\t",
             gpt2: ["\r\n\t\n", " a", "\n\n\t"],
             smolLM: ["\r\n\t\n", " a", "\n\n\t"],
             llama3: ["\r\n\t\n", " a", "\n\n", "\t"]),
        Case(text: "A\u{2028}\u{2028}b",
             gpt2: ["A", "\u{2028}", "\u{2028}", "b"],
             smolLM: ["A", "\u{2028}", "\u{2028}", "b"],
             llama3: ["A", "\u{2028}", "\u{2028}b"]),
        Case(text: "", gpt2: [], smolLM: [], llama3: []),
    ]

    @Test("Each pre-tokeniser cuts as Hugging Face's regex does", arguments: cases)
    func cutsAsHuggingFaceDoes(example: Case) {
        #expect(ByteLevelBPETokenizer.PreTokenizer.gpt2.pieces(of: example.text) == example.gpt2)
        #expect(ByteLevelBPETokenizer.PreTokenizer.smolLM.pieces(of: example.text) == example.smolLM)
        #expect(ByteLevelBPETokenizer.PreTokenizer.llama3.pieces(of: example.text) == example.llama3)
    }

    /// Qwen2's regex (Llama 3's with single digits) against `tokenizers` 0.23.3:
    /// `Split(Regex(qwen2Pattern), behavior="isolated").pre_tokenize_str(text)`.
    @Test("Qwen2 cuts as Hugging Face's regex does")
    func qwen2CutsAsHuggingFaceDoes() {
        let cases: [(String, [String])] = [
            ("x  1234567 ,,!!  \n\n y", ["x", " ", " ", "1", "2", "3", "4", "5", "6", "7", " ,,!!", "  \n\n", " y"]),
            ("Ⅻ²¾ ٣", ["Ⅻ", "²", "¾", " ", "٣"]),
            ("'S'LL'Ve \tcase\r\n\r\n  x", ["'S", "'LL", "'Ve", " ", "\tcase", "\r\n\r\n", " ", " x"]),
            ("In 2024, 3.14159 and 1,000,000 items cost $42.", [
                "In", " ", "2", "0", "2", "4", ",", " ", "3", ".", "1", "4", "1", "5", "9", " and", " ", "1", ",", "0", "0", "0", ",", "0",
                "0", "0", " items", " cost", " $", "4", "2", ".",
            ]),
            ("a\u{301}b (c)\n\n", ["a", "\u{301}b", " (", "c", ")\n\n"]),
            ("\u{A0}\u{3000}word\u{2028}", ["\u{A0}", "\u{3000}word", "\u{2028}"]),
        ]
        for (text, expected) in cases {
            #expect(ByteLevelBPETokenizer.PreTokenizer.qwen2.pieces(of: text) == expected, "\(text.debugDescription)")
        }
    }

    @Test("GGUF pre-tokeniser names map as llama.cpp's table does")
    func mapsGGUFNames() {
        #expect(ByteLevelBPETokenizer.PreTokenizer(ggufName: "gpt-2") == .gpt2)
        #expect(ByteLevelBPETokenizer.PreTokenizer(ggufName: "smollm") == .smolLM)
        #expect(ByteLevelBPETokenizer.PreTokenizer(ggufName: "llama-bpe") == .llama3)
        #expect(ByteLevelBPETokenizer.PreTokenizer(ggufName: "qwen2") == .qwen2)
        #expect(ByteLevelBPETokenizer.PreTokenizer(ggufName: "deepseek-llm") == nil)
        #expect(ByteLevelBPETokenizer.PreTokenizer(ggufName: "default") == nil)
    }
}
