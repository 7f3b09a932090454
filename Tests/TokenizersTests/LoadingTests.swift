import Foundation
import Testing
import Tokenizers

/// Loading from `vocab.txt` + `tokenizer_config.json` and from `tokenizer.json`: the settings each file
/// carries, and a typed error for each way a file can be wrong.
@Suite("Loading")
struct LoadingTests {
    /// The smallest vocabulary with all five special tokens, plus "hello" and "##s".
    private static let tinyVocabulary = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\n"

    /// The fixture `tokenizer.json` with `change` applied, written to a scratch file.
    private func alteredTokenizerJSON(_ change: (inout [String: Any]) -> Void) throws -> String {
        var object = try Support.tokenizerJSONObject()
        change(&object)
        return try Support.writeJSON(object, to: Support.scratchDirectory(), name: "tokenizer.json")
    }

    /// The fixture `tokenizer.json` with `change` applied to its `key` object.
    private func alteredTokenizerJSON(_ key: String, _ change: @escaping (inout [String: Any]) -> Void) throws -> String {
        try alteredTokenizerJSON { object in
            var inner = object[key] as? [String: Any] ?? [:]
            change(&inner)
            object[key] = inner
        }
    }

    @Test("The declared max length comes from model_max_length or truncation.max_length")
    func readsConfiguredMaxLength() throws {
        #expect(try Support.Loader.vocabularyFile.tokenizer().configuredMaxLength == 512)
        #expect(try Support.Loader.tokenizerJSON.tokenizer().configuredMaxLength == 128)
        let directory = Support.scratchDirectory()
        let vocabulary = Support.write(Self.tinyVocabulary, to: directory, name: "vocab.txt")
        #expect(try WordPieceTokenizer(vocabularyPath: vocabulary).configuredMaxLength == nil)
        // transformers writes int(1e30) for "no limit".
        let unlimited = Support.write(#"{"model_max_length": 1000000000000000019884624838656}"#, to: directory,
                                      name: "tokenizer_config.json")
        #expect(try WordPieceTokenizer(vocabularyPath: vocabulary, configurationPath: unlimited).configuredMaxLength == nil)
    }

    @Test("vocab.txt alone loads with BERT's defaults; \\r\\n line ends are accepted")
    func loadsVocabularyWithoutConfiguration() throws {
        let directory = Support.scratchDirectory()
        let vocabulary = Support.write(Self.tinyVocabulary.replacing("\n", with: "\r\n"), to: directory, name: "vocab.txt")
        let tokenizer = try WordPieceTokenizer(vocabularyPath: vocabulary)
        #expect(tokenizer.vocabularySize == 7)
        #expect(tokenizer.specialTokens == .init(cls: 2, sep: 3, pad: 0, unk: 1, mask: 4))
        #expect(tokenizer.encode("HELLOS hello?") == [2, 5, 6, 5, 1, 3])
    }

    @Test("tokenizer_config.json names the special tokens, as strings or AddedToken objects")
    func readsSpecialTokenNamesFromConfiguration() throws {
        let directory = Support.scratchDirectory()
        let vocabulary = Support.write("<pad>\n<unk>\n<s>\n</s>\n<mask>\nhello\n", to: directory, name: "vocab.txt")
        let configuration = Support.write(
            #"{"unk_token": "<unk>", "cls_token": {"content": "<s>", "__type": "AddedToken"}, "sep_token": "</s>", "#
                + #""pad_token": "<pad>", "mask_token": "<mask>"}"#, to: directory, name: "tokenizer_config.json")
        let tokenizer = try WordPieceTokenizer(vocabularyPath: vocabulary, configurationPath: configuration)
        #expect(tokenizer.specialTokens == .init(cls: 2, sep: 3, pad: 0, unk: 1, mask: 4))
        #expect(tokenizer.encode("hello <mask> bye") == [2, 5, 4, 1, 3])
    }

    @Test("strip_accents: false keeps accents, so café has no pieces")
    func keepsAccentsWhenConfigured() throws {
        let directory = Support.scratchDirectory()
        let configuration = Support.write(#"{"do_lower_case": true, "strip_accents": false}"#, to: directory,
                                          name: "tokenizer_config.json")
        let fromConfiguration = try WordPieceTokenizer(
            vocabularyPath: Support.fixture("vocab.txt"), configurationPath: configuration)
        #expect(fromConfiguration.encode("Café cafe", addSpecialTokens: false) == [100, 7668])

        let fromJSON = try WordPieceTokenizer(tokenizerJSONPath: alteredTokenizerJSON("normalizer") {
            $0["strip_accents"] = false
        })
        #expect(fromJSON.encode("Café cafe", addSpecialTokens: false) == [100, 7668])
    }

    @Test("do_lower_case: false keeps capitals, which the uncased vocabulary mostly lacks")
    func keepsCaseWhenConfigured() throws {
        let directory = Support.scratchDirectory()
        let configuration = Support.write(#"{"do_lower_case": false}"#, to: directory, name: "tokenizer_config.json")
        let tokenizer = try WordPieceTokenizer(vocabularyPath: Support.fixture("vocab.txt"), configurationPath: configuration)
        #expect(tokenizer.normalization == BertNormalization(stripAccents: false, lowercase: false))
        #expect(tokenizer.encode("hello Hello", addSpecialTokens: false) == [7592, 100])
    }

    @Test("tokenize_chinese_chars: false leaves CJK runs as one word")
    func keepsChineseRunsWhenConfigured() throws {
        let directory = Support.scratchDirectory()
        let configuration = Support.write(#"{"tokenize_chinese_chars": false}"#, to: directory,
                                          name: "tokenizer_config.json")
        let tokenizer = try WordPieceTokenizer(vocabularyPath: Support.fixture("vocab.txt"), configurationPath: configuration)
        #expect(tokenizer.encode("我想 我", addSpecialTokens: false) == [100, 1855])
    }

    @Test("A BertProcessing post-processor wraps like TemplateProcessing; a null one adds nothing")
    func readsPostProcessorVariants() throws {
        let bert = try WordPieceTokenizer(tokenizerJSONPath: alteredTokenizerJSON {
            $0["post_processor"] = ["type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]]
        })
        #expect(bert.encode("hello", maxLength: 2) == [101, 102])
        #expect(bert.encode("hello") == [101, 7592, 102])
        let none = try WordPieceTokenizer(tokenizerJSONPath: alteredTokenizerJSON { $0["post_processor"] = NSNull() })
        #expect(none.encode("hello") == [7592])
        #expect(none.specialTokens.cls == 101)
    }

    @Test("A missing file is .fileNotFound; a directory is .unreadable")
    func reportsMissingFiles() throws {
        let directory = Support.scratchDirectory()
        #expect(throws: TokenizerError.fileNotFound(path: directory + "/vocab.txt")) {
            try WordPieceTokenizer(vocabularyPath: directory + "/vocab.txt")
        }
        #expect(throws: TokenizerError.fileNotFound(path: directory + "/tokenizer.json")) {
            try WordPieceTokenizer(tokenizerJSONPath: directory + "/tokenizer.json")
        }
        #expect(throws: TokenizerError.unreadable(path: directory, reason: "not a regular file")) {
            try WordPieceTokenizer(vocabularyPath: directory)
        }
        let vocabulary = Support.write(Self.tinyVocabulary, to: directory, name: "vocab.txt")
        #expect(throws: TokenizerError.fileNotFound(path: directory + "/tokenizer_config.json")) {
            try WordPieceTokenizer(vocabularyPath: vocabulary, configurationPath: directory + "/tokenizer_config.json")
        }
    }

    @Test("A vocab.txt line that is not UTF-8, empty or repeated is reported with its number")
    func reportsMalformedVocabularyLines() throws {
        let directory = Support.scratchDirectory()
        let invalid = Support.write(Array("[PAD]\n[UNK]\n".utf8) + [0x61, 0xFF, 0x0A], to: directory, name: "invalid.txt")
        #expect(throws: TokenizerError.malformedVocabulary(path: invalid, line: 3, reason: "not valid UTF-8")) {
            try WordPieceTokenizer(vocabularyPath: invalid)
        }
        let empty = Support.write("[PAD]\n\n[UNK]\n", to: directory, name: "empty.txt")
        #expect(throws: TokenizerError.malformedVocabulary(path: empty, line: 2, reason: "empty line")) {
            try WordPieceTokenizer(vocabularyPath: empty)
        }
        let repeated = Support.write("[PAD]\nhello\n[UNK]\nhello\n", to: directory, name: "repeated.txt")
        #expect(throws: TokenizerError.malformedVocabulary(path: repeated, line: 4, reason: "'hello' repeats line 2")) {
            try WordPieceTokenizer(vocabularyPath: repeated)
        }
        let nothing = Support.write("", to: directory, name: "nothing.txt")
        #expect(throws: TokenizerError.malformedVocabulary(path: nothing, line: 1, reason: "the file has no tokens")) {
            try WordPieceTokenizer(vocabularyPath: nothing)
        }
        #expect(TokenizerError.malformedVocabulary(path: "v.txt", line: 3, reason: "empty line").description
            == "v.txt:3: malformed vocabulary line: empty line")
    }

    @Test("A vocabulary without a special token is .missingSpecialToken")
    func reportsMissingSpecialTokens() throws {
        let directory = Support.scratchDirectory()
        let vocabulary = Support.write("[PAD]\n[CLS]\n[SEP]\n[MASK]\nhello\n", to: directory, name: "vocab.txt")
        #expect(throws: TokenizerError.missingSpecialToken(name: "[UNK]", path: vocabulary)) {
            try WordPieceTokenizer(vocabularyPath: vocabulary)
        }
        let path = try alteredTokenizerJSON("model") { $0["unk_token"] = "<unk>" }
        #expect(throws: TokenizerError.missingSpecialToken(name: "<unk>", path: path)) {
            try WordPieceTokenizer(tokenizerJSONPath: path)
        }
    }

    @Test("A tokenizer_config.json that is not an object or has mistyped fields is .malformedConfiguration")
    func reportsMalformedConfiguration() throws {
        let directory = Support.scratchDirectory()
        let vocabulary = Support.write(Self.tinyVocabulary, to: directory, name: "vocab.txt")
        let notJSON = Support.write("{do_lower_case: true", to: directory, name: "broken.json")
        let notJSONError = #expect(throws: TokenizerError.self) {
            try WordPieceTokenizer(vocabularyPath: vocabulary, configurationPath: notJSON)
        }
        guard case .malformedConfiguration(let path, let reason)? = notJSONError else {
            Issue.record("expected .malformedConfiguration, got \(String(describing: notJSONError))")
            return
        }
        #expect(path == notJSON)
        #expect(reason.hasPrefix("not valid JSON"))
        let array = Support.write("[1, 2]", to: directory, name: "array.json")
        #expect(throws: TokenizerError.malformedConfiguration(path: array, reason: "the top level is not a JSON object")) {
            try WordPieceTokenizer(vocabularyPath: vocabulary, configurationPath: array)
        }
        let mistyped = Support.write(#"{"do_lower_case": "yes"}"#, to: directory, name: "mistyped.json")
        #expect(throws: TokenizerError.malformedConfiguration(path: mistyped, reason: "do_lower_case must be true, false or null")) {
            try WordPieceTokenizer(vocabularyPath: vocabulary, configurationPath: mistyped)
        }
        let noBasic = Support.write(#"{"do_basic_tokenize": false}"#, to: directory, name: "nobasic.json")
        #expect(throws: TokenizerError.unsupported(path: noBasic, feature: "do_basic_tokenize: false")) {
            try WordPieceTokenizer(vocabularyPath: vocabulary, configurationPath: noBasic)
        }
    }

    @Test("A tokenizer.json that is not JSON or lacks its model is .malformedTokenizerJSON")
    func reportsMalformedTokenizerJSON() throws {
        let directory = Support.scratchDirectory()
        let notJSON = Support.write(#"{"model": "#, to: directory, name: "broken.json")
        let notJSONError = #expect(throws: TokenizerError.self) {
            try WordPieceTokenizer(tokenizerJSONPath: notJSON)
        }
        guard case .malformedTokenizerJSON(let path, let reason)? = notJSONError else {
            Issue.record("expected .malformedTokenizerJSON, got \(String(describing: notJSONError))")
            return
        }
        #expect(path == notJSON)
        #expect(reason.hasPrefix("not valid JSON"))
        let noModel = try alteredTokenizerJSON { $0["model"] = nil }
        #expect(throws: TokenizerError.malformedTokenizerJSON(path: noModel, reason: "model is missing")) {
            try WordPieceTokenizer(tokenizerJSONPath: noModel)
        }
        let badID = try alteredTokenizerJSON("model") { model in
            var vocab = model["vocab"] as? [String: Any] ?? [:]
            vocab["hello"] = "7592"
            model["vocab"] = vocab
        }
        #expect(throws: TokenizerError.malformedTokenizerJSON(path: badID, reason: "model.vocab['hello'] is not an integer id")) {
            try WordPieceTokenizer(tokenizerJSONPath: badID)
        }
        let gap = try alteredTokenizerJSON("model") { model in
            var vocab = model["vocab"] as? [String: Any] ?? [:]
            vocab["hello"] = 40000
            model["vocab"] = vocab
        }
        #expect(throws: TokenizerError.malformedTokenizerJSON(path: gap, reason: "model.vocab['hello'] has id 40000, outside 0..<30522")) {
            try WordPieceTokenizer(tokenizerJSONPath: gap)
        }
        let badTemplate = try alteredTokenizerJSON("post_processor") { $0["single"] = [["Sequence": ["id": "B", "type_id": 0]]] }
        #expect(throws: TokenizerError.malformedTokenizerJSON(path: badTemplate, reason: "post_processor.single must hold sequence A exactly once")) {
            try WordPieceTokenizer(tokenizerJSONPath: badTemplate)
        }
    }

    @Test("A tokenizer.json for another pipeline is .unsupported")
    func reportsUnsupportedPipelines() throws {
        let bpe = try alteredTokenizerJSON("model") { $0["type"] = "BPE" }
        #expect(throws: TokenizerError.unsupported(path: bpe, feature: "model type BPE")) {
            try WordPieceTokenizer(tokenizerJSONPath: bpe)
        }
        let whitespace = try alteredTokenizerJSON("pre_tokenizer") { $0["type"] = "Whitespace" }
        #expect(throws: TokenizerError.unsupported(path: whitespace, feature: "pre_tokenizer Whitespace")) {
            try WordPieceTokenizer(tokenizerJSONPath: whitespace)
        }
        let nfc = try alteredTokenizerJSON { $0["normalizer"] = ["type": "NFC"] }
        #expect(throws: TokenizerError.unsupported(path: nfc, feature: "normalizer NFC")) {
            try WordPieceTokenizer(tokenizerJSONPath: nfc)
        }
        let normalizedAdded = try alteredTokenizerJSON { object in
            object["added_tokens"] = [["id": 30522, "content": "<new>", "special": false, "single_word": false,
                                       "lstrip": false, "rstrip": false, "normalized": true]]
        }
        #expect(throws: TokenizerError.unsupported(path: normalizedAdded, feature: "added token '<new>' with normalized: true")) {
            try WordPieceTokenizer(tokenizerJSONPath: normalizedAdded)
        }
    }

    @Test("Added tokens after the vocabulary get their ids and are kept whole")
    func appendsAddedTokensBeyondTheVocabulary() throws {
        let path = try alteredTokenizerJSON { object in
            var added = object["added_tokens"] as? [[String: Any]] ?? []
            added.append(["id": 30522, "content": "<item>", "special": true, "single_word": false,
                          "lstrip": false, "rstrip": false, "normalized": false])
            object["added_tokens"] = added
        }
        let tokenizer = try WordPieceTokenizer(tokenizerJSONPath: path)
        #expect(tokenizer.vocabularySize == 30523)
        #expect(tokenizer.token(for: 30522) == "<item>")
        #expect(tokenizer.encode("hello<item>world") == [101, 7592, 30522, 2088, 102])
    }
}
