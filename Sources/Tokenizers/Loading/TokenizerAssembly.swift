/// The special tokens' texts as a file names them; BERT's defaults unless the file says otherwise.
struct SpecialTokenNames {
    var unk = "[UNK]"
    var cls = "[CLS]"
    var sep = "[SEP]"
    var pad = "[PAD]"
    var mask = "[MASK]"
}

extension WordPieceTokenizer {
    /// Assembles a tokenizer from what a loader read out of `path`.
    ///
    /// - vocabulary: the WordPiece vocabulary, with any added tokens outside it already appended.
    /// - names: special tokens, looked up by text; `.missingSpecialToken` names the first one absent.
    /// - template: ids the post-processor puts around the pieces; nil means `[CLS]` ... `[SEP]`.
    ///   `specialTokens.cls` and `.sep` are its first prefix and suffix ids when it has them.
    /// - addedTokens: texts cut out of raw text before normalisation, with their ids.
    init(vocabulary: WordPieceVocabulary, names: SpecialTokenNames, padID: Int32?,
         template: (prefix: [Int32], suffix: [Int32])?, addedTokens: [(content: String, id: Int32)],
         normalization: BertNormalization, maxInputCharactersPerWord: Int, configuredMaxLength: Int?,
         path: String) throws(TokenizerError) {
        func lookUp(_ name: String) throws(TokenizerError) -> Int32 {
            guard let id = vocabulary.ids[name] else { throw .missingSpecialToken(name: name, path: path) }
            return id
        }
        let unk = try lookUp(names.unk)
        let cls = if let first = template?.prefix.first { first } else { try lookUp(names.cls) }
        let sep = if let first = template?.suffix.first { first } else { try lookUp(names.sep) }
        let pad = if let padID { padID } else { try lookUp(names.pad) }
        let mask = try lookUp(names.mask)
        specialTokens = SpecialTokenIDs(cls: cls, sep: sep, pad: pad, unk: unk, mask: mask)
        prefixIDs = template?.prefix ?? [cls]
        suffixIDs = template?.suffix ?? [sep]
        self.vocabulary = vocabulary
        self.addedTokens = AddedTokenMatcher(tokens: addedTokens)
        self.normalization = normalization
        self.maxInputCharactersPerWord = maxInputCharactersPerWord
        self.configuredMaxLength = configuredMaxLength
    }
}
