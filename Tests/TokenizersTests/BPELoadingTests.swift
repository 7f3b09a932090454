import Foundation
import Testing
import Tokenizers

/// Loading byte-level BPE tokenizers from `vocab.json` + `merges.txt`, `tokenizer.json` and GGUF
/// metadata: the settings each carries, and a typed error for each way an input can be wrong.
@Suite("Byte-level BPE loading")
struct BPELoadingTests {
    private typealias Tokenizer = ByteLevelBPETokenizer

    // MARK: vocab.json + merges.txt

    @Test("OPT's options put </s> (id 2) first; merges apply by rank")
    func prependsBOSForOPT() throws {
        let (vocabulary, merges) = try BPESupport.writeTinyVocabularyFiles()
        let tokenizer = try Tokenizer(vocabularyPath: vocabulary, mergesPath: merges, options: .opt)
        let (r, l, d) = (BPESupport.tinyByteID("r"), BPESupport.tinyByteID("l"), BPESupport.tinyByteID("d"))
        #expect(tokenizer.encode("hello world") == [2, 263, 265, r, l, d])
        #expect(tokenizer.encode("hello world", addSpecialTokens: false) == [263, 265, r, l, d])
        #expect(tokenizer.bosID == 2 && tokenizer.eosID == 2 && tokenizer.unknownID == 2 && tokenizer.prefixIDs == [2])
        #expect(tokenizer.encode("</s>hello<pad>") == [2, 2, 263, 1])
        // <s> and <unk> are not special for OPT: they are spelled out byte by byte.
        #expect(tokenizer.encode("<s>", addSpecialTokens: false).count == 3)
        #expect(tokenizer.decode(tokenizer.encode("hello world"), skipSpecialTokens: true) == "hello world")
    }

    @Test("Added tokens new to vocab.json take the ids after it; stripping eats the whitespace around them")
    func appendsAddedTokensWithStripping() throws {
        let (vocabulary, merges) = try BPESupport.writeTinyVocabularyFiles()
        var options = Tokenizer.VocabularyFileOptions.opt
        options.addedTokens += [Tokenizer.AddedToken("[HistoryEmb]", stripLeft: true, stripRight: true),
                                Tokenizer.AddedToken("[Plain]", special: false), Tokenizer.AddedToken("<pad>")]
        let tokenizer = try Tokenizer(vocabularyPath: vocabulary, mergesPath: merges, options: options)
        let count = Int32(BPESupport.tinyTokens.count)
        #expect(tokenizer.vocabularySize == Int(count) + 2)
        #expect(tokenizer.id(of: "[HistoryEmb]") == count && tokenizer.id(of: "[Plain]") == count + 1)
        let (h, e, o) = (BPESupport.tinyByteID("h"), BPESupport.tinyByteID("e"), BPESupport.tinyByteID("o"))
        // "hello \u{3000}[HistoryEmb]\t hello": no "Ġ" before either "hello".
        #expect(tokenizer.encode("hello \u{3000}[HistoryEmb]\t hello", addSpecialTokens: false) == [263, count, 263])
        // A plain added token strips nothing: "he " and " o" keep their spaces ("Ġ").
        let space = BPESupport.tinyByteID(" ")
        #expect(tokenizer.encode("he [Plain] o", addSpecialTokens: false) == [260, space, count + 1, space, o])
        #expect(tokenizer.decode([count, count + 1, h, e]) == "[HistoryEmb][Plain]he")
        #expect(tokenizer.decode([count, count + 1], skipSpecialTokens: true) == "[Plain]")
    }

    @Test("A missing file is .fileNotFound; a special token vocab.json lacks is .missingSpecialToken")
    func reportsMissingFilesAndTokens() throws {
        let (vocabulary, merges) = try BPESupport.writeTinyVocabularyFiles()
        #expect(throws: ByteLevelBPEError.fileNotFound(path: "/nonexistent/vocab.json")) {
            try Tokenizer(vocabularyPath: "/nonexistent/vocab.json", mergesPath: merges)
        }
        #expect(throws: ByteLevelBPEError.fileNotFound(path: "/nonexistent/merges.txt")) {
            try Tokenizer(vocabularyPath: vocabulary, mergesPath: "/nonexistent/merges.txt")
        }
        #expect(throws: ByteLevelBPEError.missingSpecialToken(name: "<|endoftext|>", source: vocabulary)) {
            try Tokenizer(vocabularyPath: vocabulary, mergesPath: merges, options: .gpt2)
        }
    }

    @Test("A bad merges.txt line is reported with its number")
    func reportsBadMergeLines() throws {
        let (vocabulary, _) = try BPESupport.writeTinyVocabularyFiles()
        let directory = Support.scratchDirectory()
        let threeParts = Support.write("#version: 0.2\nh e\r\nl l x\n", to: directory, name: "three.txt")
        #expect(throws: ByteLevelBPEError.malformedMerges(
            source: threeParts, reason: "line 3: 'l l x' is not two tokens separated by a space")) {
            try Tokenizer(vocabularyPath: vocabulary, mergesPath: threeParts, options: .opt)
        }
        let unknown = Support.write("h e\nq z\n", to: directory, name: "unknown.txt")
        #expect(throws: ByteLevelBPEError.malformedMerges(
            source: unknown, reason: "line 2: the merged token 'qz' is not in the vocabulary")) {
            try Tokenizer(vocabularyPath: vocabulary, mergesPath: unknown, options: .opt)
        }
    }

    @Test("A vocab.json with a gap in its ids is .malformedVocabulary")
    func rejectsVocabularyGaps() throws {
        let directory = Support.scratchDirectory()
        let vocabulary = try Support.writeJSON(["a": 0, "b": 2], to: directory, name: "vocab.json")
        let merges = Support.write("", to: directory, name: "merges.txt")
        #expect(throws: ByteLevelBPEError.malformedVocabulary(source: vocabulary, reason: "'b' has id 2, outside 0..<2")) {
            try Tokenizer(vocabularyPath: vocabulary, mergesPath: merges, options: .init(bosToken: nil, eosToken: nil, unknownToken: nil))
        }
    }

    @Test("A byte the vocabulary lacks becomes the unknown token, or is dropped without one")
    func handlesBytesMissingFromTheVocabulary() throws {
        let tokens = ["<unk>", "a", "b"]
        let withUnknown = try Tokenizer(ggufTokens: tokens, merges: [], tokenTypes: nil, preTokenizer: "gpt-2",
                                        bosID: nil, eosID: nil, unknownID: 0, addBOS: false)
        #expect(withUnknown.encode("abc ba") == [1, 2, 0, 0, 2, 1])
        let without = try Tokenizer(ggufTokens: tokens, merges: [], tokenTypes: nil, preTokenizer: "gpt-2",
                                    bosID: nil, eosID: nil, addBOS: false)
        #expect(without.encode("abc ba") == [1, 2, 2, 1])
    }

    // MARK: tokenizer.json

    @Test("add_prefix_space puts a space before every stretch between added tokens")
    func addsPrefixSpace() throws {
        let path = try BPESupport.filledShell("gpt2.shell.json", with: try BPESupport.gpt2()) { object in
            var preTokenizer = object["pre_tokenizer"] as! [String: Any]
            preTokenizer["add_prefix_space"] = true
            object["pre_tokenizer"] = preTokenizer
        }
        let tokenizer = try Tokenizer(tokenizerJSONPath: path)
        #expect(tokenizer.addPrefixSpace)
        // Hugging Face tokenizers 0.23.3 gives these ids.
        #expect(tokenizer.encode("Hello") == [18435])
        #expect(tokenizer.encode(" Hello") == [18435])
        #expect(tokenizer.encode("<|endoftext|>Hello world<|endoftext|> x") == [50256, 18435, 995, 50256, 2124])
    }

    @Test("tokenizer.json added tokens with lstrip/rstrip strip like Hugging Face's")
    func stripsAroundAddedTokensFromTokenizerJSON() throws {
        let path = try BPESupport.filledShell("gpt2.shell.json", with: try BPESupport.gpt2()) { object in
            var added = object["added_tokens"] as! [[String: Any]]
            added.append(["id": 50257, "content": "[HistoryEmb]", "single_word": false, "lstrip": true, "rstrip": true,
                          "normalized": false, "special": false])
            object["added_tokens"] = added
        }
        let tokenizer = try Tokenizer(tokenizerJSONPath: path)
        #expect(tokenizer.vocabularySize == 50258)
        // Hugging Face tokenizers 0.23.3 gives these ids.
        #expect(tokenizer.encode(#"bought "A" [HistoryEmb] in the"#) == [65, 2917, 366, 32, 1, 50257, 259, 262])
        #expect(tokenizer.encode("x\u{3000} [HistoryEmb]\u{A0}\ty") == [87, 50257, 88])
    }

    @Test("A tokenizer.json asking for what this tokenizer lacks is .unsupported")
    func rejectsUnsupportedTokenizerJSON() throws {
        func expectUnsupported(_ feature: String, _ change: @escaping (inout [String: Any]) -> Void) throws {
            let path = try BPESupport.tinyShell(change: change)
            #expect(throws: ByteLevelBPEError.unsupported(source: path, feature: feature)) {
                try Tokenizer(tokenizerJSONPath: path)
            }
        }
        try expectUnsupported("normalizer NFC") { $0["normalizer"] = ["type": "NFC"] }
        try expectUnsupported("model type WordPiece") { object in
            var model = object["model"] as! [String: Any]
            model["type"] = "WordPiece"
            object["model"] = model
        }
        try expectUnsupported("byte_fallback") { object in
            var model = object["model"] as! [String: Any]
            model["byte_fallback"] = true
            object["model"] = model
        }
        try expectUnsupported(#"pre_tokenizer Split pattern '\s+'"#) { object in
            object["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": #"\s+"#], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            ]]
        }
        try expectUnsupported("decoder WordPiece") { $0["decoder"] = ["type": "WordPiece"] }
    }

    @Test("Added tokens past model.vocab must follow it without gaps")
    func rejectsAddedTokenGaps() throws {
        let path = try BPESupport.tinyShell { object in
            object["added_tokens"] = [["id": BPESupport.tinyTokens.count + 1, "content": "[X]", "special": true]]
        }
        #expect(throws: ByteLevelBPEError.malformedTokenizerJSON(
            path: path, reason: "added_tokens outside model.vocab must take the ids right after it, without gaps")) {
            try Tokenizer(tokenizerJSONPath: path)
        }
    }

    @Test("A merge that is neither a string nor a pair is .malformedMerges")
    func rejectsMalformedMergeEntries() throws {
        let path = try BPESupport.tinyShell { object in
            var model = object["model"] as! [String: Any]
            model["merges"] = [["h", "e"], 7]
            object["model"] = model
        }
        #expect(throws: ByteLevelBPEError.malformedMerges(
            source: path, reason: "model.merges[1] is neither a string nor a pair of strings")) {
            try Tokenizer(tokenizerJSONPath: path)
        }
    }

    // MARK: GGUF metadata

    @Test("GGUF metadata: an unknown pre-tokeniser, mismatched types or a bad id is reported with its key")
    func rejectsBadGGUFMetadata() throws {
        let tokens = BPESupport.tinyTokens
        #expect(throws: ByteLevelBPEError.unsupported(source: "GGUF tokenizer.ggml.pre", feature: "pre-tokenizer 'deepseek-llm'")) {
            try Tokenizer(ggufTokens: tokens, merges: [], tokenTypes: nil, preTokenizer: "deepseek-llm", bosID: nil, eosID: nil,
                          addBOS: false)
        }
        #expect(throws: ByteLevelBPEError.malformedMetadata(
            key: "tokenizer.ggml.token_type", reason: "2 types for \(tokens.count) tokens")) {
            try Tokenizer(ggufTokens: tokens, merges: [], tokenTypes: [1, 1], preTokenizer: "gpt-2", bosID: nil, eosID: nil,
                          addBOS: false)
        }
        #expect(throws: ByteLevelBPEError.malformedMetadata(
            key: "tokenizer.ggml.bos_token_id", reason: "id 9999 is outside 0..<\(tokens.count)")) {
            try Tokenizer(ggufTokens: tokens, merges: [], tokenTypes: nil, preTokenizer: "gpt-2", bosID: 9999, eosID: nil,
                          addBOS: true)
        }
        #expect(throws: ByteLevelBPEError.malformedMerges(
            source: "GGUF tokenizer.ggml.merges", reason: "entry 1: 'll' is not two tokens separated by a space")) {
            try Tokenizer(ggufTokens: tokens, merges: ["h e", "ll"], tokenTypes: nil, preTokenizer: "gpt-2", bosID: nil,
                          eosID: nil, addBOS: false)
        }
    }

    @Test("GGUF add_bos_token puts BOS first; llama-bpe ignores merges for whole pieces")
    func appliesGGUFFlags() throws {
        var types = [Int32](repeating: 1, count: BPESupport.tinyTokens.count)
        types[0...3] = [3, 3, 3, 2]
        let tokenizer = try Tokenizer(
            ggufTokens: BPESupport.tinyTokens, merges: BPESupport.tinyMerges, tokenTypes: types, preTokenizer: "gpt-2",
            bosID: 0, eosID: 2, unknownID: 3, addBOS: true, addEOS: true)
        #expect(tokenizer.encode("hello") == [0, 263, 2])
        #expect(tokenizer.encode("<unk><s>") == [0, 3, 0, 2])
        #expect(tokenizer.isSpecial(3))

        // Without merges, only ignore_merges can make "hello" one token.
        let noMerges = { (pre: String) in
            try Tokenizer(ggufTokens: BPESupport.tinyTokens, merges: [], tokenTypes: types, preTokenizer: pre,
                          bosID: 0, eosID: 2, addBOS: false)
        }
        #expect(try noMerges("llama-bpe").encode("hello") == [263])
        #expect(try noMerges("gpt-2").encode("hello").count == 5)
    }

    // MARK: Robustness

    @Test("A 100 000-digit piece merges in O(n log n) and decodes back")
    func encodesLongPiecesQuickly() throws {
        let tokenizer = try BPESupport.gpt2Tokenizer()
        let digits = String(repeating: "1234567890", count: 10_000)
        let start = ContinuousClock.now
        let ids = tokenizer.encode(digits)
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(tokenizer.decode(ids) == digits)
    }

    @Test("Encoding from many tasks at once gives the golden ids, the shared cache filling meanwhile")
    func encodesConcurrently() async throws {
        let tokenizer = try BPESupport.freshGPT2Tokenizer()
        let cases = try BPESupport.goldenCases()
        let results = await withTaskGroup(of: (Int, [Int32]).self) { group in
            for _ in 0..<8 {
                for (index, golden) in cases.enumerated() {
                    group.addTask { (index, tokenizer.encode(golden.text)) }
                }
            }
            var results: [(Int, [Int32])] = []
            for await result in group { results.append(result) }
            return results
        }
        #expect(results.count == 8 * cases.count)
        for (index, ids) in results {
            #expect(ids == cases[index].ids, "case \(index)")
        }
    }
}
