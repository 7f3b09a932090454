/// A byte-level BPE tokenizer of the GPT-2 family (GPT-2, OPT, Llama 3, SmolLM2), giving the ids
/// Hugging Face's `tokenizers` and llama.cpp give.
///
/// The pipeline: added tokens (`<|im_start|>`, `</s>`, ...) are cut whole out of the raw text; each
/// stretch between them is cut into pieces by the `preTokenizer`; each piece's UTF-8 bytes start as
/// one symbol per byte (spelled with GPT-2's `bytes_to_unicode`, so a space is `Ġ`) and merge pair by
/// pair, lowest merge rank first, until no listed merge applies. With `ignoresMerges` (Llama 3) a
/// piece the vocabulary holds whole is that one token. There is no normaliser and no unknown token in
/// practice: every byte is in a byte-level vocabulary.
///
/// Decoding maps ids back to bytes and the bytes to UTF-8, with U+FFFD for what is not valid UTF-8
/// (`decodeIncrementally` holds back an unfinished character instead, for streaming).
///
/// Loaders: `init(vocabularyPath:mergesPath:options:)` (GPT-2/OPT `vocab.json` + `merges.txt`),
/// `init(tokenizerJSONPath:bosToken:eosToken:)` (Hugging Face `tokenizer.json`),
/// `init(ggufTokens:merges:tokenTypes:preTokenizer:bosID:eosID:unknownID:addBOS:addEOS:)` (GGUF metadata).
///
/// Immutable once loaded apart from a cache of merged pieces behind a lock; any thread may call any
/// method at the same time, and copies share the cache.
public struct ByteLevelBPETokenizer: Sendable {
    /// A token matched whole in raw text before pre-tokenisation.
    public struct AddedToken: Sendable, Hashable {
        /// The text matched, case-sensitively and anywhere (not only at word boundaries).
        public var content: String
        /// Special tokens (`<|im_start|>`, `</s>`) are skipped by `decode(_:skipSpecialTokens:)`, and
        /// left as plain text by `encode(_:parseSpecialTokens:)` when it is false.
        public var special: Bool
        /// Hugging Face's `lstrip`: whitespace right before the token is dropped with it.
        public var stripLeft: Bool
        /// Hugging Face's `rstrip`: whitespace right after the token is dropped with it.
        public var stripRight: Bool

        public init(_ content: String, special: Bool = true, stripLeft: Bool = false, stripRight: Bool = false) {
            self.content = content
            self.special = special
            self.stripLeft = stripLeft
            self.stripRight = stripRight
        }
    }

    public let preTokenizer: PreTokenizer
    /// Whether a space is put before each stretch of text that does not start with one (Hugging Face's
    /// `ByteLevel(add_prefix_space)`); false for GPT-2, OPT, Llama 3 and SmolLM2.
    public let addPrefixSpace: Bool
    /// Whether a piece the vocabulary holds whole becomes that token without merging (Llama 3).
    public let ignoresMerges: Bool
    public let bosID: Int32?
    public let eosID: Int32?
    /// The id a byte missing from the vocabulary becomes; with none, such a byte is dropped.
    public let unknownID: Int32?
    /// Put before the pieces by `encode(_:addSpecialTokens:)`: `[bosID]` for OPT and Llama 3, empty
    /// for GPT-2 and SmolLM2.
    public let prefixIDs: [Int32]
    /// Put after the pieces by `encode(_:addSpecialTokens:)`; usually empty.
    public let suffixIDs: [Int32]

    /// Token texts by id as the vocabulary spells them (byte-level; added tokens as their content).
    let spellings: [String]
    let ids: [String: Int32]
    /// The id of each single-byte token, -1 where the vocabulary lacks it; indexed by byte value.
    let byteIDs: [Int32]
    let merges: BPEMerges
    let cache: BPECache
    /// The bytes token `id` decodes to are `tokenBytes[tokenByteStarts[id]..<tokenByteStarts[id + 1]]`.
    let tokenBytes: [UInt8]
    let tokenByteStarts: [Int]
    let specialIDs: Set<Int32>
    /// Every added token, and the added tokens that are not special.
    let addedTokens: AddedTokenMatcher
    let plainAddedTokens: AddedTokenMatcher
    let stripsLeft: Set<Int32>
    let stripsRight: Set<Int32>

    /// Assembles a tokenizer from what a loader read, checking ids.
    ///
    /// - tokens: the text of every id, the added tokens included.
    /// - addedTokens: each with its id; ids must be below `tokens.count`.
    /// - source: names the input in error messages.
    /// - Throws: `.malformedVocabulary` for an empty vocabulary or an id outside it.
    init(tokens: [String], merges: BPEMerges, addedTokens: [(token: AddedToken, id: Int32)], preTokenizer: PreTokenizer,
         addPrefixSpace: Bool, ignoresMerges: Bool, bosID: Int32?, eosID: Int32?, unknownID: Int32?,
         prefixIDs: [Int32], suffixIDs: [Int32], source: String) throws(ByteLevelBPEError)
    {
        guard !tokens.isEmpty, tokens.count < Int(Int32.max) else {
            throw .malformedVocabulary(source: source, reason: "the vocabulary has \(tokens.count) tokens")
        }
        let named: [Int32?] = [bosID, eosID, unknownID] + prefixIDs + suffixIDs + addedTokens.map(\.id)
        for case let id? in named where !tokens.indices.contains(Int(id)) {
            throw .malformedVocabulary(source: source, reason: "id \(id) is outside the vocabulary of \(tokens.count)")
        }
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() where ids[token] == nil { ids[token] = Int32(id) }
        var addedContent: [Int32: String] = [:]
        for (token, id) in addedTokens { addedContent[id] = token.content }

        var tokenBytes: [UInt8] = []
        var tokenByteStarts: [Int] = [0]
        tokenByteStarts.reserveCapacity(tokens.count + 1)
        for (id, token) in tokens.enumerated() {
            if let content = addedContent[Int32(id)] {
                tokenBytes.append(contentsOf: content.utf8)
            } else {
                // As Hugging Face's ByteLevel decoder: a token not in the byte alphabet is its own UTF-8.
                tokenBytes.append(contentsOf: ByteLevelAlphabet.bytes(spelledBy: token) ?? Array(token.utf8))
            }
            tokenByteStarts.append(tokenBytes.count)
        }

        self.spellings = tokens
        self.ids = ids
        self.byteIDs = ByteLevelAlphabet.scalars.map { ids[String($0)] ?? -1 }
        self.merges = merges
        self.cache = BPECache()
        self.tokenBytes = tokenBytes
        self.tokenByteStarts = tokenByteStarts
        self.specialIDs = Set(addedTokens.filter(\.token.special).map(\.id))
        self.addedTokens = AddedTokenMatcher(tokens: addedTokens.map { ($0.token.content, $0.id) })
        self.plainAddedTokens = AddedTokenMatcher(tokens: addedTokens.filter { !$0.token.special }.map { ($0.token.content, $0.id) })
        self.stripsLeft = Set(addedTokens.filter(\.token.stripLeft).map(\.id))
        self.stripsRight = Set(addedTokens.filter(\.token.stripRight).map(\.id))
        self.preTokenizer = preTokenizer
        self.addPrefixSpace = addPrefixSpace
        self.ignoresMerges = ignoresMerges
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.prefixIDs = prefixIDs
        self.suffixIDs = suffixIDs
    }

    /// Number of ids, including added tokens; every id `encode` returns is below it.
    public var vocabularySize: Int { spellings.count }

    /// The id of a token spelled exactly so (byte-level: `Ġworld` for " world"), or of an added token.
    public func id(of token: String) -> Int32? {
        ids[token]
    }

    /// The spelling of token `id` (byte-level, as `tokens(_:)` gives it), nil outside the vocabulary.
    public func token(for id: Int32) -> String? {
        spellings.indices.contains(Int(id)) ? spellings[Int(id)] : nil
    }

    /// Whether `id` is a special added token (`<|im_end|>`, `</s>`, ...).
    public func isSpecial(_ id: Int32) -> Bool {
        specialIDs.contains(id)
    }

    // MARK: Encoding

    /// The ids of `text`: `prefixIDs`, the tokens, `suffixIDs` (without those two when
    /// `addSpecialTokens` is false).
    ///
    /// With `parseSpecialTokens` false, special added tokens in `text` are not recognised and are
    /// encoded as the plain text they spell (what to do with untrusted text); non-special added tokens
    /// are still matched, as in llama.cpp.
    public func encode(_ text: String, addSpecialTokens: Bool = true, parseSpecialTokens: Bool = true) -> [Int32] {
        var ids = addSpecialTokens ? prefixIDs : []
        ids.reserveCapacity(ids.count + text.utf8.count / 3 + suffixIDs.count)
        appendTokens(of: text, matcher: parseSpecialTokens ? addedTokens : plainAddedTokens, to: &ids)
        if addSpecialTokens { ids.append(contentsOf: suffixIDs) }
        return ids
    }

    /// The tokens of `text` as the vocabulary spells them, without prefix or suffix:
    /// "Hello world" gives `["Hello", "Ġworld"]` with GPT-2's vocabulary.
    public func tokens(_ text: String) -> [String] {
        encode(text, addSpecialTokens: false).map { spellings[Int($0)] }
    }

    /// Cuts the added tokens out of `text` and appends their ids, and the ids of the stretches between.
    private func appendTokens(of text: String, matcher: AddedTokenMatcher, to ids: inout [Int32]) {
        var text = text
        text.withUTF8 { bytes in
            var scratch = ScalarText()
            var segmentStart = 0
            var position = 0
            while position < bytes.count {
                guard let added = matcher.match(in: bytes, at: position) else {
                    position += 1
                    continue
                }
                let segmentEnd = stripsLeft.contains(added.id)
                    ? UTF8Scanning.trimmedEnd(of: bytes, from: segmentStart, to: position) : position
                appendSegment(UnsafeBufferPointer(rebasing: bytes[segmentStart..<segmentEnd]), scratch: &scratch, to: &ids)
                ids.append(added.id)
                position += added.length
                if stripsRight.contains(added.id) { position = UTF8Scanning.skipped(in: bytes, from: position) }
                segmentStart = position
            }
            appendSegment(UnsafeBufferPointer(rebasing: bytes[segmentStart...]), scratch: &scratch, to: &ids)
        }
    }

    /// Pre-tokenises one stretch of text between added tokens and appends the ids of its pieces.
    /// `scratch` is reused across stretches.
    private func appendSegment(_ segment: UnsafeBufferPointer<UInt8>, scratch: inout ScalarText, to ids: inout [Int32]) {
        guard !segment.isEmpty else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(segment.count + 1)
        if addPrefixSpace, segment[0] != 0x20 { bytes.append(0x20) }
        bytes.append(contentsOf: segment)
        bytes.withUnsafeBufferPointer { scratch.load($0) }
        let offsets = scratch.byteOffsets
        preTokenizer.split(scratch) { start, end in
            appendPiece(bytes[offsets[start]..<offsets[end]], to: &ids)
        }
    }

    /// Appends the ids of one pre-tokenised piece.
    private func appendPiece(_ piece: ArraySlice<UInt8>, to ids: inout [Int32]) {
        if piece.count == 1, byteIDs[Int(piece[piece.startIndex])] >= 0 {
            ids.append(byteIDs[Int(piece[piece.startIndex])])
            return
        }
        if ignoresMerges, let whole = self.ids[ByteLevelAlphabet.spelling(of: piece)] {
            ids.append(whole)
            return
        }
        let key = Array(piece)
        if let cached = cache.ids(for: key) {
            ids.append(contentsOf: cached)
            return
        }
        var symbols = piece.map { byteIDs[Int($0)] }
        merges.apply(to: &symbols)
        if symbols.contains(where: { $0 < 0 }) {
            symbols = symbols.compactMap { $0 >= 0 ? $0 : unknownID }
        }
        cache.store(symbols, for: key)
        ids.append(contentsOf: symbols)
    }

    // MARK: Decoding

    /// The text of `ids`: each token's bytes, decoded as UTF-8 with U+FFFD for each invalid or
    /// unfinished sequence. Ids outside the vocabulary are skipped; so are special tokens when
    /// `skipSpecialTokens` is true. No clean-up of spaces is done. An added token gives its content's
    /// UTF-8 (Hugging Face reads an added token written only in byte-alphabet characters as bytes;
    /// the two differ only for added tokens with Latin-1 letters such as `é`).
    public func decode(_ ids: some Sequence<Int32>, skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids { appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Streaming decode: appends the bytes of `ids` to `pending` and returns the text of all of them
    /// except an unfinished UTF-8 character at the end, which stays in `pending` for the next call.
    /// Start with an empty `pending`; at the end of the stream `finishIncrementalDecoding(_:)` gives
    /// the rest. The pieces concatenate to `decode` of all the ids, so a multi-byte character split
    /// across tokens (an emoji over three byte tokens) comes out once, whole, not as U+FFFDs.
    public func decodeIncrementally(_ ids: some Sequence<Int32>, pending: inout [UInt8],
                                    skipSpecialTokens: Bool = false) -> String {
        for id in ids { appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &pending) }
        let complete = UTF8Scanning.completePrefixLength(of: pending)
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeSubrange(..<complete)
        return text
    }

    /// What `decodeIncrementally` held back, decoded (U+FFFD for an unfinished character); empties
    /// `pending`.
    public func finishIncrementalDecoding(_ pending: inout [UInt8]) -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    private func appendBytes(of id: Int32, skipSpecialTokens: Bool, to bytes: inout [UInt8]) {
        guard spellings.indices.contains(Int(id)), !(skipSpecialTokens && specialIDs.contains(id)) else { return }
        bytes.append(contentsOf: tokenBytes[tokenByteStarts[Int(id)]..<tokenByteStarts[Int(id) + 1]])
    }
}

/// Scanning UTF-8 (valid, from a Swift `String`, or a decoder's pending bytes) for whitespace and for
/// character boundaries.
enum UTF8Scanning {
    /// The end of `bytes[from..<to]` without the whitespace (Unicode White_Space) at its end.
    static func trimmedEnd(of bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Int {
        var end = end
        while end > start {
            var scalarStart = end - 1
            while scalarStart > start, bytes[scalarStart] & 0xC0 == 0x80 { scalarStart -= 1 }
            guard let scalar = scalar(in: bytes, at: scalarStart), scalar.properties.isWhitespace else { break }
            end = scalarStart
        }
        return end
    }

    /// The position after the whitespace that starts at `start`.
    static func skipped(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var position = start
        while position < bytes.count, let scalar = scalar(in: bytes, at: position), scalar.properties.isWhitespace {
            position += UTF8.width(scalar)
        }
        return position
    }

    private static func scalar(in bytes: UnsafeBufferPointer<UInt8>, at position: Int) -> Unicode.Scalar? {
        var iterator = bytes[position...].makeIterator()
        var decoder = UTF8()
        if case .scalarValue(let scalar) = decoder.decode(&iterator) { return scalar }
        return nil
    }

    /// The length of the longest prefix of `bytes` that does not end inside a character that later
    /// bytes could still complete: an unfinished but so far valid sequence at the end is left out;
    /// invalid bytes are kept (they decode to U+FFFD whatever follows).
    static func completePrefixLength(of bytes: [UInt8]) -> Int {
        var lead = bytes.count - 1
        while lead >= 0, lead >= bytes.count - 4, bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
        guard lead >= 0, lead >= bytes.count - 4 else { return bytes.count }
        let first = bytes[lead]
        let length: Int
        switch first {
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return bytes.count
        }
        let present = bytes.count - lead
        guard present < length else { return bytes.count }
        if present >= 2 {
            let second = bytes[lead + 1]
            let allowed: ClosedRange<UInt8> = switch first {
            case 0xE0: 0xA0...0xBF
            case 0xED: 0x80...0x9F
            case 0xF0: 0x90...0xBF
            case 0xF4: 0x80...0x8F
            default: 0x80...0xBF
            }
            guard allowed.contains(second) else { return bytes.count }
        }
        return lead
    }
}
