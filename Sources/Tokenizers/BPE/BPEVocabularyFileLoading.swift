import Foundation

extension ByteLevelBPETokenizer {
    /// What `vocab.json` + `merges.txt` do not say and `tokenizer_config.json` would: the special tokens
    /// and whether BOS starts every encoding.
    public struct VocabularyFileOptions: Sendable, Equatable {
        /// Special tokens, matched whole in text; each must be in `vocab.json`.
        public var bosToken: String?
        public var eosToken: String?
        public var unknownToken: String?
        /// Whether `encode(_:addSpecialTokens:)` puts `bosToken`'s id first (transformers'
        /// `add_bos_token`): true for OPT, whose every encoding starts with `</s>` (id 2); false for GPT-2.
        public var prependBOS: Bool
        /// Whether `encode(_:addSpecialTokens:)` puts `eosToken`'s id last.
        public var appendEOS: Bool
        /// More tokens matched whole in text (`<pad>`, `[HistoryEmb]`, ...). One already in `vocab.json`
        /// keeps its id; the others take the ids after the vocabulary, in this order, as transformers'
        /// `add_tokens` gives them. transformers 4.32's slow tokenizer strips the whitespace around
        /// special tokens registered as plain strings: set `stripLeft` and `stripRight` for those.
        public var addedTokens: [AddedToken]
        public var preTokenizer: PreTokenizer
        public var addPrefixSpace: Bool

        public init(bosToken: String?, eosToken: String?, unknownToken: String?, prependBOS: Bool = false,
                    appendEOS: Bool = false, addedTokens: [AddedToken] = [], preTokenizer: PreTokenizer = .gpt2,
                    addPrefixSpace: Bool = false) {
            self.bosToken = bosToken
            self.eosToken = eosToken
            self.unknownToken = unknownToken
            self.prependBOS = prependBOS
            self.appendEOS = appendEOS
            self.addedTokens = addedTokens
            self.preTokenizer = preTokenizer
            self.addPrefixSpace = addPrefixSpace
        }

        /// GPT-2: `<|endoftext|>` is BOS, EOS and unknown token; nothing is added around the text.
        public static let gpt2 = VocabularyFileOptions(
            bosToken: "<|endoftext|>", eosToken: "<|endoftext|>", unknownToken: "<|endoftext|>")

        /// OPT (`facebook/opt-*`'s `tokenizer_config.json`): `</s>` (id 2) is BOS, EOS and unknown token
        /// and starts every encoding; `<pad>` (id 1) is special too.
        public static let opt = VocabularyFileOptions(
            bosToken: "</s>", eosToken: "</s>", unknownToken: "</s>", prependBOS: true, addedTokens: [AddedToken("<pad>")])
    }

    /// Loads GPT-2 style files: `vocab.json` (`{"token": id, ...}`, byte-level spellings, ids exactly
    /// 0..<count) and `merges.txt` (an optional `#version` line, then one merge "left right" a line,
    /// lowest rank first).
    ///
    /// - Throws: `.fileNotFound`, `.unreadable`, `.malformedVocabulary`, `.malformedMerges` (the line
    ///   is named), `.missingSpecialToken` (an option names a token `vocab.json` lacks).
    public init(vocabularyPath: String, mergesPath: String, options: VocabularyFileOptions = .gpt2)
        throws(ByteLevelBPEError)
    {
        let object: [String: Any]
        do {
            object = try FileAccess.jsonObject(at: vocabularyPath) {
                .malformedVocabulary(path: vocabularyPath, line: 1, reason: $0)
            }
        } catch {
            throw ByteLevelBPEError(error)
        }
        var tokens = try Self.tokensByID(object, source: vocabularyPath)
        var ids: [String: Int32] = [:]
        for (id, token) in tokens.enumerated() { ids[token] = Int32(id) }
        let (pairs, lines) = try Self.readMerges(at: mergesPath)
        let merges = try BPEMerges(pairs: pairs, ids: ids, source: mergesPath, entryName: { "line \(lines[$0])" })

        func specialID(_ name: String?) throws(ByteLevelBPEError) -> Int32? {
            guard let name else { return nil }
            guard let id = ids[name] else { throw .missingSpecialToken(name: name, source: vocabularyPath) }
            return id
        }
        let bosID = try specialID(options.bosToken)
        let eosID = try specialID(options.eosToken)
        let unknownID = try specialID(options.unknownToken)
        var added: [(token: AddedToken, id: Int32)] = []
        for case let (name?, id?) in [(options.bosToken, bosID), (options.eosToken, eosID), (options.unknownToken, unknownID)]
        where !added.contains(where: { $0.token.content == name }) {
            added.append((AddedToken(name), id))
        }
        for token in options.addedTokens where !added.contains(where: { $0.token.content == token.content }) {
            let id = ids[token.content] ?? Int32(tokens.count)
            if id == tokens.count {
                tokens.append(token.content)
                ids[token.content] = id
            }
            added.append((token, id))
        }
        var prefix: [Int32] = []
        var suffix: [Int32] = []
        if options.prependBOS {
            guard let bosID else { throw .missingSpecialToken(name: "BOS (prependBOS)", source: vocabularyPath) }
            prefix = [bosID]
        }
        if options.appendEOS {
            guard let eosID else { throw .missingSpecialToken(name: "EOS (appendEOS)", source: vocabularyPath) }
            suffix = [eosID]
        }

        try self.init(
            tokens: tokens, merges: merges, addedTokens: added, preTokenizer: options.preTokenizer,
            addPrefixSpace: options.addPrefixSpace, ignoresMerges: false, bosID: bosID, eosID: eosID, unknownID: unknownID,
            prefixIDs: prefix, suffixIDs: suffix, source: vocabularyPath)
    }

    /// A `{"token": id}` object as token texts by id; the ids must be exactly 0..<count.
    static func tokensByID(_ object: [String: Any], source: String) throws(ByteLevelBPEError) -> [String] {
        var tokens = [String?](repeating: nil, count: object.count)
        for (token, value) in object {
            guard let id = value as? Int else {
                throw .malformedVocabulary(source: source, reason: "'\(token)' has no integer id")
            }
            guard tokens.indices.contains(id) else {
                throw .malformedVocabulary(source: source, reason: "'\(token)' has id \(id), outside 0..<\(tokens.count)")
            }
            guard tokens[id] == nil else {
                throw .malformedVocabulary(source: source, reason: "id \(id) is given to two tokens")
            }
            tokens[id] = token
        }
        guard !tokens.isEmpty else { throw .malformedVocabulary(source: source, reason: "the vocabulary is empty") }
        // Every id is in range and none repeats, so all `count` slots are filled.
        return tokens.compactMap { $0 }
    }

    /// The merges of `merges.txt`, with the line each came from (from 1).
    private static func readMerges(at path: String) throws(ByteLevelBPEError) -> (pairs: [(String, String)], lines: [Int]) {
        let data: Data
        do {
            data = try FileAccess.contents(of: path)
        } catch {
            throw ByteLevelBPEError(error)
        }
        var pairs: [(String, String)] = []
        var lines: [Int] = []
        // Split bytes, not Characters: "\r\n" is one Character.
        for (index, var line) in Array(data).split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            if line.last == 0x0D { line.removeLast() }
            guard let text = String(validating: line, as: UTF8.self) else {
                throw .malformedMerges(source: path, reason: "line \(index + 1) is not valid UTF-8")
            }
            if text.isEmpty || (index == 0 && text.hasPrefix("#version")) { continue }
            let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw .malformedMerges(source: path, reason: "line \(index + 1): '\(text)' is not two tokens separated by a space")
            }
            pairs.append((String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self)))
            lines.append(index + 1)
        }
        return (pairs, lines)
    }
}
