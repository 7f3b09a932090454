extension WordPieceTokenizer {
    /// Loads the tokenizer the Python `BertTokenizer` builds from `vocab.txt` and, when given,
    /// `tokenizer_config.json`. Characters are classed as the fast tokenizer classes them (see
    /// `BertCharacterClasses`), so both loaders give the same ids for the same settings.
    ///
    /// - vocabularyPath: one token per line, UTF-8, id = line index from 0; `\r\n` line ends allowed.
    /// - configurationPath: `tokenizer_config.json`; it sets `do_lower_case` (default true),
    ///   `strip_accents` (default null: follow `do_lower_case`), `tokenize_chinese_chars` (default true),
    ///   `model_max_length` and the special tokens' texts (`unk_token`, `cls_token`, `sep_token`,
    ///   `pad_token`, `mask_token`). Without it, BERT's defaults apply (lower-case, strip accents).
    /// - Throws: `.fileNotFound`, `.unreadable`, `.malformedVocabulary` (line not UTF-8, empty or
    ///   repeated), `.malformedConfiguration`, `.unsupported` (`do_basic_tokenize: false`),
    ///   `.missingSpecialToken`.
    public init(vocabularyPath: String, configurationPath: String? = nil) throws(TokenizerError) {
        let tokens = try Self.readVocabulary(at: vocabularyPath)
        var names = SpecialTokenNames()
        var normalization = BertNormalization()
        var modelMaxLength: Int?
        if let configurationPath {
            let fields = JSONFields(
                object: try FileAccess.jsonObject(at: configurationPath) { .malformedConfiguration(path: configurationPath, reason: $0) },
                location: "", malformed: { .malformedConfiguration(path: configurationPath, reason: $0) })
            if try !fields.bool("do_basic_tokenize", default: true) {
                throw .unsupported(path: configurationPath, feature: "do_basic_tokenize: false")
            }
            let lowercase = try fields.bool("do_lower_case", default: true)
            normalization = BertNormalization(
                handleChineseCharacters: try fields.bool("tokenize_chinese_chars", default: true),
                stripAccents: try fields.optionalBool("strip_accents"), lowercase: lowercase)
            modelMaxLength = try Self.modelMaxLength(fields)
            names.unk = try Self.tokenText(fields, "unk_token") ?? names.unk
            names.cls = try Self.tokenText(fields, "cls_token") ?? names.cls
            names.sep = try Self.tokenText(fields, "sep_token") ?? names.sep
            names.pad = try Self.tokenText(fields, "pad_token") ?? names.pad
            names.mask = try Self.tokenText(fields, "mask_token") ?? names.mask
        }
        let vocabulary = WordPieceVocabulary(tokens: tokens, continuationPrefix: "##")
        // BertTokenizer never splits its special tokens: they are cut out of the raw text as added tokens.
        let special = [names.unk, names.cls, names.sep, names.pad, names.mask]
        try self.init(
            vocabulary: vocabulary, names: names, padID: nil, template: nil,
            addedTokens: special.compactMap { name in vocabulary.ids[name].map { (name, $0) } },
            normalization: normalization, maxInputCharactersPerWord: 100, configuredMaxLength: modelMaxLength,
            path: vocabularyPath)
    }

    /// The lines of `vocab.txt`, checked: UTF-8, not empty, no repeats.
    private static func readVocabulary(at path: String) throws(TokenizerError) -> [String] {
        let data = try FileAccess.contents(of: path)
        var lines = Array(data).split(separator: 0x0A, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        var tokens: [String] = []
        tokens.reserveCapacity(lines.count)
        var firstLine: [String: Int] = [:]
        for (index, var line) in lines.enumerated() {
            if line.last == 0x0D { line.removeLast() }
            guard let token = String(validating: line, as: UTF8.self) else {
                throw .malformedVocabulary(path: path, line: index + 1, reason: "not valid UTF-8")
            }
            guard !token.isEmpty else {
                throw .malformedVocabulary(path: path, line: index + 1, reason: "empty line")
            }
            if let earlier = firstLine[token] {
                throw .malformedVocabulary(path: path, line: index + 1, reason: "'\(token)' repeats line \(earlier)")
            }
            firstLine[token] = index + 1
            tokens.append(token)
        }
        guard !tokens.isEmpty else { throw .malformedVocabulary(path: path, line: 1, reason: "the file has no tokens") }
        return tokens
    }

    /// `model_max_length`, or nil when absent or transformers' "no limit" placeholder (1e30).
    private static func modelMaxLength(_ fields: JSONFields) throws(TokenizerError) -> Int? {
        if fields.isNull("model_max_length") { return nil }
        guard let value = fields.object["model_max_length"] as? Double, value >= 1, value.rounded() == value else {
            throw fields.malformed("model_max_length must be a positive integer")
        }
        return value <= Double(Int32.max) ? Int(value) : nil
    }

    /// A special token's text: a string, or an `AddedToken` object with a `content` string.
    private static func tokenText(_ fields: JSONFields, _ key: String) throws(TokenizerError) -> String? {
        if fields.isNull(key) { return nil }
        if let text = fields.object[key] as? String { return text }
        return try fields.object(key).string("content")
    }
}
