extension WordPieceTokenizer {
    /// Loads a Hugging Face `tokenizers` file (`tokenizer.json`) describing a BERT WordPiece pipeline.
    ///
    /// Reads `model` (type `WordPiece`: `vocab`, `unk_token`, `continuing_subword_prefix`,
    /// `max_input_chars_per_word`), `normalizer` (`BertNormalizer` or null), `pre_tokenizer`
    /// (`BertPreTokenizer`), `post_processor` (`TemplateProcessing`, `BertProcessing` or null: no special
    /// tokens around the pieces), `added_tokens`, and from `truncation` / `padding` the declared
    /// `max_length` and the pad token. The `decoder` is not read.
    /// - Throws: `.fileNotFound`, `.unreadable`, `.malformedTokenizerJSON`, `.unsupported` (another
    ///   model, normaliser, pre-tokeniser or post-processor; added tokens with `normalized` or
    ///   `single_word`), `.missingSpecialToken`.
    public init(tokenizerJSONPath path: String) throws(TokenizerError) {
        let malformed: (String) -> TokenizerError = { .malformedTokenizerJSON(path: path, reason: $0) }
        let root = JSONFields(object: try FileAccess.jsonObject(at: path, malformed: malformed), location: "",
                              malformed: malformed)

        let model = try root.object("model")
        if let type = try model.optionalString("type"), type != "WordPiece" {
            throw .unsupported(path: path, feature: "model type \(type)")
        }
        let tokens = try Self.modelVocabulary(model)
        var names = SpecialTokenNames()
        names.unk = try model.optionalString("unk_token") ?? names.unk
        let continuationPrefix = try model.optionalString("continuing_subword_prefix") ?? "##"
        let maxInputCharactersPerWord = try model.optionalInteger("max_input_chars_per_word") ?? 100

        let normalization = try Self.normalization(root, path: path)
        let preTokenizer = try root.optionalObject("pre_tokenizer")
        let preTokenizerType = try preTokenizer?.optionalString("type")
        guard preTokenizerType == "BertPreTokenizer" else {
            throw .unsupported(path: path, feature: "pre_tokenizer \(preTokenizerType ?? "null")")
        }

        let added = try Self.addedTokens(root, wordPieceCount: tokens.count, path: path)
        let vocabulary = WordPieceVocabulary(tokens: tokens, continuationPrefix: continuationPrefix,
                                             addedTokens: added.beyondVocabulary)
        let template = try Self.template(root, path: path)
        guard (template.prefix + template.suffix).allSatisfy({ (0..<Int32(vocabulary.tokens.count)).contains($0) }) else {
            throw malformed("post_processor names an id outside the vocabulary")
        }

        let padding = try root.optionalObject("padding")
        names.pad = try padding?.optionalString("pad_token") ?? names.pad
        let padID = try padding?.optionalInteger("pad_id")
        if let padID, !vocabulary.tokens.indices.contains(padID) {
            throw malformed("padding.pad_id \(padID) is outside the vocabulary")
        }
        let truncation = try root.optionalObject("truncation")

        try self.init(
            vocabulary: vocabulary, names: names, padID: padID.map(Int32.init), template: template, addedTokens: added.all,
            normalization: normalization, maxInputCharactersPerWord: maxInputCharactersPerWord,
            configuredMaxLength: try truncation?.optionalInteger("max_length"), path: path)
    }

    /// `model.vocab` as token text by id; the ids must be exactly 0..<count.
    private static func modelVocabulary(_ model: JSONFields) throws(TokenizerError) -> [String] {
        let vocab = try model.object("vocab")
        var tokens = [String?](repeating: nil, count: vocab.object.count)
        for (token, value) in vocab.object {
            guard let id = value as? Int else { throw model.malformed("model.vocab['\(token)'] is not an integer id") }
            guard tokens.indices.contains(id) else {
                throw model.malformed("model.vocab['\(token)'] has id \(id), outside 0..<\(tokens.count)")
            }
            guard tokens[id] == nil else { throw model.malformed("model.vocab gives id \(id) to two tokens") }
            guard !token.isEmpty else { throw model.malformed("model.vocab has an empty token") }
            tokens[id] = token
        }
        guard !tokens.isEmpty else { throw model.malformed("model.vocab is empty") }
        return tokens.compactMap { $0 }
    }

    /// The `normalizer`: `BertNormalizer` with its four flags, or null for none at all.
    private static func normalization(_ root: JSONFields, path: String) throws(TokenizerError) -> BertNormalization {
        guard let normalizer = try root.optionalObject("normalizer") else {
            return BertNormalization(cleanText: false, handleChineseCharacters: false, stripAccents: false,
                                     lowercase: false)
        }
        let type = try normalizer.optionalString("type")
        guard type == "BertNormalizer" else { throw .unsupported(path: path, feature: "normalizer \(type ?? "untyped")") }
        return BertNormalization(
            cleanText: try normalizer.bool("clean_text", default: true),
            handleChineseCharacters: try normalizer.bool("handle_chinese_chars", default: true),
            stripAccents: try normalizer.optionalBool("strip_accents"),
            lowercase: try normalizer.bool("lowercase", default: true))
    }

    /// `added_tokens`: all of them with their ids (for cutting out of raw text), and the texts of those
    /// whose ids follow the WordPiece vocabulary, in id order.
    private static func addedTokens(_ root: JSONFields, wordPieceCount: Int, path: String) throws(TokenizerError)
        -> (all: [(content: String, id: Int32)], beyondVocabulary: [String])
    {
        var all: [(content: String, id: Int32)] = []
        var beyond: [Int: String] = [:]
        for token in try root.objects("added_tokens") {
            let content = try token.string("content")
            guard let id = try token.optionalInteger("id"), (0..<Int(Int32.max)).contains(id) else {
                throw token.malformed("\(token.location).id must be an integer from 0 to 2^31-2")
            }
            if try token.bool("normalized", default: false) {
                throw .unsupported(path: path, feature: "added token '\(content)' with normalized: true")
            }
            if try token.bool("single_word", default: false) {
                throw .unsupported(path: path, feature: "added token '\(content)' with single_word: true")
            }
            all.append((content, Int32(id)))
            if id >= wordPieceCount { beyond[id] = content }
        }
        let beyondIDs = beyond.keys.sorted()
        guard beyondIDs.elementsEqual(wordPieceCount..<(wordPieceCount + beyondIDs.count)) else {
            throw root.malformed("added_tokens outside model.vocab must take the ids right after it, without gaps")
        }
        return (all, beyondIDs.compactMap { beyond[$0] })
    }

    /// The ids the `post_processor` puts around a single sequence; ([], []) when it is null.
    private static func template(_ root: JSONFields, path: String)
        throws(TokenizerError) -> (prefix: [Int32], suffix: [Int32])
    {
        guard let processor = try root.optionalObject("post_processor") else { return ([], []) }
        switch try processor.optionalString("type") {
        case "BertProcessing":
            return ([try bertProcessingID(processor, "cls")], [try bertProcessingID(processor, "sep")])
        case "TemplateProcessing":
            return try templateProcessing(processor)
        case let type:
            throw .unsupported(path: path, feature: "post_processor \(type ?? "untyped")")
        }
    }

    /// `cls` or `sep` of a `BertProcessing`: a `[text, id]` pair.
    private static func bertProcessingID(_ processor: JSONFields, _ key: String) throws(TokenizerError) -> Int32 {
        let pair = try processor.array(key)
        guard pair.count == 2, pair[0] is String, let id = pair[1] as? Int, (0..<Int(Int32.max)).contains(id) else {
            throw processor.malformed("post_processor.\(key) must be a [token, id] pair")
        }
        return Int32(id)
    }

    /// The `single` template of a `TemplateProcessing`: special tokens, then sequence A once, then
    /// special tokens; each special token's ids come from `special_tokens`.
    private static func templateProcessing(_ processor: JSONFields) throws(TokenizerError)
        -> (prefix: [Int32], suffix: [Int32])
    {
        let specialTokens = try processor.optionalObject("special_tokens")
        var prefix: [Int32] = []
        var suffix: [Int32] = []
        var seenSequence = false
        for piece in try processor.objects("single") {
            if let sequence = try piece.optionalObject("Sequence") {
                guard try sequence.string("id") == "A", !seenSequence else {
                    throw piece.malformed("post_processor.single must hold sequence A exactly once")
                }
                seenSequence = true
            } else if let special = try piece.optionalObject("SpecialToken") {
                let name = try special.string("id")
                guard let entry = try specialTokens?.optionalObject(name) else {
                    throw piece.malformed("post_processor.special_tokens has no entry for '\(name)'")
                }
                let ids = try entry.array("ids")
                let converted = ids.compactMap { ($0 as? Int).flatMap(Int32.init(exactly:)) }
                guard !ids.isEmpty, converted.count == ids.count else {
                    throw entry.malformed("\(entry.location).ids must be a non-empty array of integers")
                }
                if seenSequence { suffix += converted } else { prefix += converted }
            } else {
                throw piece.malformed("\(piece.location) is neither a Sequence nor a SpecialToken")
            }
        }
        guard seenSequence else { throw processor.malformed("post_processor.single has no sequence A") }
        return (prefix, suffix)
    }
}
