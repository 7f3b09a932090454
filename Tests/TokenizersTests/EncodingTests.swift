import Testing
import Tokenizers

/// Encoding behaviour on all-MiniLM-L6-v2's tokenizer, loaded both ways. Expected ids are
/// bert-base-uncased's (`[PAD]` 0, `[UNK]` 100, `[CLS]` 101, `[SEP]` 102, `[MASK]` 103).
@Suite("Encoding")
struct EncodingTests {
    @Test("Special token ids and vocabulary size are bert-base-uncased's", arguments: Support.Loader.allCases)
    func reportsSpecialTokensAndVocabularySize(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        #expect(tokenizer.specialTokens == .init(cls: 101, sep: 102, pad: 0, unk: 100, mask: 103))
        #expect(tokenizer.vocabularySize == 30522)
        #expect(tokenizer.id(of: "##ization") == 3989)
        #expect(tokenizer.token(for: 7592) == "hello")
        #expect(tokenizer.token(for: 30522) == nil)
        #expect(tokenizer.maxInputCharactersPerWord == 100)
        #expect(tokenizer.normalization == BertNormalization(stripAccents: nil, lowercase: true))
    }

    @Test("encode wraps the pieces in [CLS] and [SEP] unless told not to", arguments: Support.Loader.allCases)
    func addsClsAndSep(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        #expect(tokenizer.encode("Hello world!") == [101, 7592, 2088, 999, 102])
        #expect(tokenizer.encode("Hello world!", addSpecialTokens: false) == [7592, 2088, 999])
        #expect(tokenizer.encode("") == [101, 102])
    }

    @Test("tokens gives the word pieces as text, continuations with ##", arguments: Support.Loader.allCases)
    func returnsWordPiecesAsText(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        #expect(tokenizer.tokens("Unaffable tokenization, y'all!")
            == ["una", "##ffa", "##ble", "token", "##ization", ",", "y", "'", "all", "!"])
    }

    @Test("Truncation keeps the first maxLength-2 pieces, then [SEP]", arguments: Support.Loader.allCases)
    func truncatesToMaxLength(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        let text = Array(repeating: "hello world", count: 200).joined(separator: " ")
        let ids = tokenizer.encode(text, maxLength: 256)
        #expect(ids.count == 256)
        #expect(ids.first == 101)
        #expect(ids.last == 102)
        #expect(Array(ids[1..<255]) == Array(tokenizer.encode(text, addSpecialTokens: false).prefix(254)))
        #expect(tokenizer.encode(text, addSpecialTokens: false, maxLength: 3) == [7592, 2088, 7592])
        #expect(tokenizer.encode("hello", maxLength: 256) == [101, 7592, 102])
    }

    @Test("Truncation can cut a word between its pieces", arguments: Support.Loader.allCases)
    func truncatesInsideAWord(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        #expect(tokenizer.encode("tokenization rocks", maxLength: 3) == [101, 19204, 102])
    }

    @Test("A maxLength below the special tokens' count still gives [CLS] [SEP]", arguments: Support.Loader.allCases)
    func keepsSpecialTokensBelowTheirCount(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        #expect(tokenizer.encode("hello", maxLength: 1) == [101, 102])
    }

    @Test("A word over 100 characters becomes [UNK]; one of 100 does not", arguments: Support.Loader.allCases)
    func replacesOverlongWordsWithUnknown(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        #expect(tokenizer.encode(String(repeating: "a", count: 101) + " hello", addSpecialTokens: false) == [100, 7592])
        let pieces = tokenizer.tokens(String(repeating: "a", count: 100))
        #expect(pieces.count == 50)
        #expect(pieces.map { $0.replacing("##", with: "") }.joined() == String(repeating: "a", count: 100))
    }

    @Test("A word with a part no piece matches becomes one [UNK]", arguments: Support.Loader.allCases)
    func replacesUnspellableWordsWithUnknown(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        // Khmer: the vocabulary has no pieces for it.
        #expect(tokenizer.encode("hello កាន់តែ world", addSpecialTokens: false) == [7592, 100, 2088])
    }

    @Test("CJK ideographs are split into words of one character", arguments: Support.Loader.allCases)
    func splitsChineseCharacters(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        #expect(tokenizer.tokens("我想在apple工作天") == ["我", "[UNK]", "[UNK]", "apple", "[UNK]", "[UNK]", "天"])
    }

    @Test("Accents are stripped and text lower-cased", arguments: Support.Loader.allCases)
    func stripsAccentsAndLowercases(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        #expect(tokenizer.tokens("Café NAÏVE Äpfel") == ["cafe", "naive", "ap", "##fe", "##l"])
        // Decomposed input (e + U+0301) gives the same as precomposed.
        #expect(tokenizer.tokens("Cafe\u{301}") == ["cafe"])
    }

    @Test("Control characters are dropped and odd whitespace separates words", arguments: Support.Loader.allCases)
    func cleansText(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        #expect(tokenizer.tokens("hel\u{0}lo\u{200B}\u{FFFD}\u{7}\u{00A0}world\u{3000}again")
            == ["hello", "world", "again"])
    }

    @Test("Special tokens written in the text are kept whole", arguments: Support.Loader.allCases)
    func keepsSpecialTokensInText(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        #expect(tokenizer.encode("hello [MASK] world[SEP]again", addSpecialTokens: false)
            == [7592, 103, 2088, 102, 2153])
        // Matching is case-sensitive: lower-case brackets are ordinary text.
        #expect(tokenizer.tokens("[mask]") == ["[", "mask", "]"])
    }

    @Test("encodeBatch pads every row with [PAD] to the longest", arguments: Support.Loader.allCases)
    func padsBatchesToTheLongestRow(loader: Support.Loader) throws {
        let tokenizer = try loader.tokenizer()
        let batch = tokenizer.encodeBatch(["Hello world!", "hello", String(repeating: "word ", count: 50)], maxLength: 8)
        #expect(batch.lengths == [5, 3, 8])
        #expect(batch.ids[0] == [101, 7592, 2088, 999, 102, 0, 0, 0])
        #expect(batch.ids[1] == [101, 7592, 102, 0, 0, 0, 0, 0])
        #expect(batch.ids[2] == [101] + Array(repeating: 2773, count: 6) + [102])
        #expect(tokenizer.encodeBatch([], maxLength: 8).ids.isEmpty)
    }

    @Test("Both loaders give the same ids on mixed text")
    func loadersAgree() throws {
        let fromVocabulary = try Support.Loader.vocabularyFile.tokenizer()
        let fromJSON = try Support.Loader.tokenizerJSON.tokenizer()
        let text = "The Matrix (1999) — Sci-Fi | Ça ira! 東京 naïve [CLS] e-mail: a.b@c.de 3.14 ½"
        #expect(fromVocabulary.encode(text) == fromJSON.encode(text))
        #expect(fromVocabulary.encode(text).count > 20)
    }
}
