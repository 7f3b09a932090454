/// BERT's WordPiece tokenizer, giving the ids Hugging Face's (fast) `BertTokenizer` gives for
/// bert-base-uncased style vocabularies such as all-MiniLM-L6-v2's and nq-distilbert-base-v1's.
///
/// The pipeline: added tokens (`[CLS]`, `[SEP]`, ...) are cut out of the raw text; the rest is
/// normalised (`BertNormalization`), split on whitespace, with every punctuation character a word of
/// its own; each word becomes its greedy longest-match-first WordPiece pieces (`##` marks a piece that
/// continues a word), or one `[UNK]` when some part of it matches nothing or it is longer than
/// `maxInputCharactersPerWord` code points.
///
/// Immutable once loaded; any thread may call any method at the same time.
public struct WordPieceTokenizer: Sendable {
    /// Ids of the tokens BERT models treat specially.
    public struct SpecialTokenIDs: Sendable, Equatable {
        /// Starts every sequence.
        public let cls: Int32
        /// Ends every sequence.
        public let sep: Int32
        /// Fills rows of a batch up to its longest row.
        public let pad: Int32
        /// Stands for a word the vocabulary cannot spell.
        public let unk: Int32
        public let mask: Int32

        public init(cls: Int32, sep: Int32, pad: Int32, unk: Int32, mask: Int32) {
            self.cls = cls
            self.sep = sep
            self.pad = pad
            self.unk = unk
            self.mask = mask
        }
    }

    public let specialTokens: SpecialTokenIDs
    public let normalization: BertNormalization
    /// Words longer than this many code points (after normalisation) become one `[UNK]`.
    public let maxInputCharactersPerWord: Int
    /// The length limit the files declare, nil when they declare none: `model_max_length` of
    /// `tokenizer_config.json`, or `truncation.max_length` of `tokenizer.json`. `encode` does not apply
    /// it; a caller passes it (or its model's own limit, e.g. sentence-transformers' `max_seq_length`)
    /// as `maxLength`.
    public let configuredMaxLength: Int?

    let vocabulary: WordPieceVocabulary
    let addedTokens: AddedTokenMatcher
    /// Ids the post-processor puts before and after the word pieces: `[CLS]` and `[SEP]` for BERT.
    let prefixIDs: [Int32]
    let suffixIDs: [Int32]

    /// Number of ids, including added tokens; every id `encode` returns is below it.
    public var vocabularySize: Int { vocabulary.tokens.count }

    /// The id of a token spelled exactly so (word-initial pieces bare, continuations with `##`).
    public func id(of token: String) -> Int32? {
        vocabulary.ids[token]
    }

    /// The text of token `id`, nil when `id` is outside the vocabulary.
    public func token(for id: Int32) -> String? {
        vocabulary.tokens.indices.contains(Int(id)) ? vocabulary.tokens[Int(id)] : nil
    }

    /// The ids of `text`: `[CLS]`, the word pieces, `[SEP]` (without the two when `addSpecialTokens` is
    /// false).
    ///
    /// With `maxLength`, keeps the first `maxLength` ids minus the special tokens' count of word
    /// pieces, then the closing `[SEP]`, so the result has at most `maxLength` ids; a `maxLength` below
    /// the number of special tokens still yields the special tokens.
    public func encode(_ text: String, addSpecialTokens: Bool = true, maxLength: Int? = nil) -> [Int32] {
        let prefix = addSpecialTokens ? prefixIDs : []
        let suffix = addSpecialTokens ? suffixIDs : []
        // The most ids `prefix` plus the pieces may take, leaving room for `suffix`.
        let limit = maxLength.map { max(prefix.count, $0 - suffix.count) } ?? Int.max
        var ids = prefix
        ids.reserveCapacity(min(limit, prefix.count + text.utf8.count) + suffix.count)
        appendPieces(of: text, to: &ids, limit: limit)
        ids.append(contentsOf: suffix)
        return ids
    }

    /// The word pieces of `text` as strings, without special tokens: "Hello, y'all!" gives
    /// `["hello", ",", "y", "'", "all", "!"]`.
    public func tokens(_ text: String) -> [String] {
        encode(text, addSpecialTokens: false).map { vocabulary.tokens[Int($0)] }
    }

    /// Encodes each text with special tokens, truncated to `maxLength`, and pads every row with
    /// `specialTokens.pad` to the longest row of the batch.
    ///
    /// - Returns: `ids`: one row per text, all of the same length; `lengths`: each row's length before
    ///   padding (the attention mask is 1 on the first `lengths[i]` positions).
    public func encodeBatch(_ texts: [String], maxLength: Int) -> (ids: [[Int32]], lengths: [Int]) {
        var rows = texts.map { encode($0, maxLength: maxLength) }
        let lengths = rows.map(\.count)
        let width = lengths.max() ?? 0
        for index in rows.indices where rows[index].count < width {
            rows[index].append(contentsOf: repeatElement(specialTokens.pad, count: width - rows[index].count))
        }
        return (rows, lengths)
    }

    /// Appends the ids of `text`'s added tokens and word pieces to `ids` until it holds `limit` ids.
    private func appendPieces(of text: String, to ids: inout [Int32], limit: Int) {
        var text = text
        text.withUTF8 { bytes in
            var scalars: [Unicode.Scalar] = []
            scalars.reserveCapacity(bytes.count)
            var segmentStart = 0
            var position = 0
            while position < bytes.count, ids.count < limit {
                guard let added = addedTokens.match(in: bytes, at: position) else {
                    position += 1
                    continue
                }
                appendSegment(UnsafeBufferPointer(rebasing: bytes[segmentStart..<position]), scalars: &scalars,
                              to: &ids, limit: limit)
                if ids.count < limit { ids.append(added.id) }
                position += added.length
                segmentStart = position
            }
            if segmentStart < bytes.count {
                appendSegment(UnsafeBufferPointer(rebasing: bytes[segmentStart...]), scalars: &scalars, to: &ids,
                              limit: limit)
            }
        }
    }

    /// Normalises one stretch of text between added tokens and appends its word pieces, stopping at
    /// `limit` ids. `scalars` is scratch space, reused across segments.
    private func appendSegment(_ segment: UnsafeBufferPointer<UInt8>, scalars: inout [Unicode.Scalar],
                               to ids: inout [Int32], limit: Int) {
        guard ids.count < limit, !segment.isEmpty else { return }
        scalars.removeAll(keepingCapacity: true)
        normalization.normalize(segment, into: &scalars)
        var wordStart = 0
        for index in scalars.indices {
            let scalar = scalars[index]
            if BertCharacterClasses.isWhitespace(scalar) {
                appendWord(scalars[wordStart..<index], to: &ids, limit: limit)
                wordStart = index + 1
            } else if BertCharacterClasses.isPunctuation(scalar) {
                appendWord(scalars[wordStart..<index], to: &ids, limit: limit)
                appendWord(scalars[index...index], to: &ids, limit: limit)
                wordStart = index + 1
            }
        }
        appendWord(scalars[wordStart...], to: &ids, limit: limit)
    }

    /// Appends the WordPiece pieces of one word (or one `[UNK]`), keeping at most `limit` ids in all.
    private func appendWord(_ word: ArraySlice<Unicode.Scalar>, to ids: inout [Int32], limit: Int) {
        guard !word.isEmpty, ids.count < limit else { return }
        let wordStart = ids.count
        var start = word.startIndex
        if word.count <= maxInputCharactersPerWord {
            while start < word.endIndex {
                guard let piece = vocabulary.longestMatch(in: word, from: start, continuation: start > word.startIndex)
                else { break }
                ids.append(piece.id)
                start = piece.end
            }
        }
        if start < word.endIndex {
            ids.removeSubrange(wordStart...)
            ids.append(specialTokens.unk)
        } else if ids.count > limit {
            ids.removeSubrange(limit...)
        }
    }
}
