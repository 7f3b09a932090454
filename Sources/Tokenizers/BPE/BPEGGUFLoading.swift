extension ByteLevelBPETokenizer {
    /// GGUF token types (`tokenizer.ggml.token_type`), as llama.cpp numbers them.
    public enum GGUFTokenType: Int32, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// Builds the tokenizer a GGUF file describes with `tokenizer.ggml.model = "gpt2"`, from its
    /// metadata values (the caller reads the file and checks the model name).
    ///
    /// - tokens: `tokenizer.ggml.tokens`, byte-level spellings by id (control and user-defined tokens
    ///   are plain text, e.g. `<|im_start|>`).
    /// - merges: `tokenizer.ggml.merges`, "left right" by rank.
    /// - tokenTypes: `tokenizer.ggml.token_type`, one per token. Control and unknown tokens become
    ///   special added tokens, user-defined ones plain added tokens (matched whole in text, as
    ///   llama.cpp matches them). Without types, the BOS, EOS and unknown tokens are the special ones.
    /// - preTokenizer: `tokenizer.ggml.pre`; see `PreTokenizer.init(ggufName:)`. Llama 3's
    ///   ("llama-bpe") also ignores merges for pieces the vocabulary holds whole, as llama.cpp does.
    /// - bosID, eosID, unknownID: `tokenizer.ggml.bos_token_id`, `eos_token_id`, `unknown_token_id`.
    /// - addBOS, addEOS: `tokenizer.ggml.add_bos_token`, `add_eos_token` (false for SmolLM2).
    /// - Throws: `.unsupported` for a `preTokenizer` name it does not implement; `.malformedMetadata`
    ///   for an empty vocabulary, token types not one per token, an id outside the vocabulary, or
    ///   `addBOS`/`addEOS` without the id; `.malformedMerges` for a merge that is not two tokens of
    ///   the vocabulary whose concatenation is one too.
    public init(ggufTokens tokens: [String], merges: [String], tokenTypes: [Int32]?, preTokenizer name: String,
                bosID: Int32?, eosID: Int32?, unknownID: Int32? = nil, addBOS: Bool, addEOS: Bool = false)
        throws(ByteLevelBPEError)
    {
        guard let preTokenizer = PreTokenizer(ggufName: name) else {
            throw .unsupported(source: "GGUF tokenizer.ggml.pre", feature: "pre-tokenizer '\(name)'")
        }
        guard !tokens.isEmpty else { throw .malformedMetadata(key: "tokenizer.ggml.tokens", reason: "no tokens") }
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw .malformedMetadata(
                key: "tokenizer.ggml.token_type", reason: "\(tokenTypes.count) types for \(tokens.count) tokens")
        }
        for (key, id) in [("bos_token_id", bosID), ("eos_token_id", eosID), ("unknown_token_id", unknownID)] {
            if let id, !tokens.indices.contains(Int(id)) {
                throw .malformedMetadata(key: "tokenizer.ggml.\(key)", reason: "id \(id) is outside 0..<\(tokens.count)")
            }
        }
        var prefix: [Int32] = []
        var suffix: [Int32] = []
        if addBOS {
            guard let bosID else { throw .malformedMetadata(key: "tokenizer.ggml.add_bos_token", reason: "true without a bos_token_id") }
            prefix = [bosID]
        }
        if addEOS {
            guard let eosID else { throw .malformedMetadata(key: "tokenizer.ggml.add_eos_token", reason: "true without an eos_token_id") }
            suffix = [eosID]
        }

        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() where ids[token] == nil { ids[token] = Int32(id) }
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(merges.count)
        for (index, merge) in merges.enumerated() {
            // Split at the first space after the first byte, as llama.cpp does.
            let bytes = Array(merge.utf8)
            guard let space = bytes.dropFirst().firstIndex(of: 0x20), space + 1 < bytes.count else {
                throw .malformedMerges(
                    source: "GGUF tokenizer.ggml.merges", reason: "entry \(index): '\(merge)' is not two tokens separated by a space")
            }
            pairs.append((String(decoding: bytes[..<space], as: UTF8.self), String(decoding: bytes[(space + 1)...], as: UTF8.self)))
        }
        let table = try BPEMerges(pairs: pairs, ids: ids, source: "GGUF tokenizer.ggml.merges", entryName: { "entry \($0)" })

        var added: [(token: AddedToken, id: Int32)] = []
        if let tokenTypes {
            for (id, type) in tokenTypes.enumerated() {
                switch GGUFTokenType(rawValue: type) {
                case .control, .unknown: added.append((AddedToken(tokens[id], special: true), Int32(id)))
                case .userDefined: added.append((AddedToken(tokens[id], special: false), Int32(id)))
                default: continue
                }
            }
        } else {
            for id in Set([bosID, eosID, unknownID].compactMap({ $0 })).sorted() {
                added.append((AddedToken(tokens[Int(id)], special: true), id))
            }
        }

        try self.init(
            tokens: tokens, merges: table, addedTokens: added, preTokenizer: preTokenizer, addPrefixSpace: false,
            ignoresMerges: preTokenizer == .llama3, bosID: bosID, eosID: eosID, unknownID: unknownID,
            prefixIDs: prefix, suffixIDs: suffix, source: "GGUF tokenizer.ggml.tokens")
    }
}
