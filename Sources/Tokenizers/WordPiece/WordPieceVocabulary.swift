/// A WordPiece vocabulary as a trie over Unicode code points, so that the longest vocabulary entry
/// starting at a position is found in one walk without building any substring.
///
/// Immutable after `init`; safe to share between threads.
struct WordPieceVocabulary: Sendable {
    /// Token text by id; `tokens.count` is the vocabulary size.
    let tokens: [String]
    /// Id by token text, for special-token lookups.
    let ids: [String: Int32]
    /// Trie edges: key `node << 21 | code point` (code points fit in 21 bits), value the child node.
    private let edges: [UInt64: Int32]
    /// Token id ending at each trie node, or -1.
    private let terminal: [Int32]
    /// The node reached from the root by the continuation prefix (`##`), or nil when no token has it.
    private let continuationRoot: Int32?

    /// - tokens: WordPiece token text by id, no repeats (callers check and report them against their file).
    /// - continuationPrefix: what marks a piece that continues a word, `##` for BERT.
    /// - addedTokens: texts of the ids after `tokens` (added tokens outside the WordPiece vocabulary);
    ///   they have ids and texts but are never word pieces.
    init(tokens: [String], continuationPrefix: String, addedTokens: [String] = []) {
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count + addedTokens.count)
        var edges: [UInt64: Int32] = [:]
        edges.reserveCapacity(tokens.count * 4)
        var terminal: [Int32] = [-1]
        for (offset, token) in addedTokens.enumerated() where ids[token] == nil {
            ids[token] = Int32(tokens.count + offset)
        }
        for (id, token) in tokens.enumerated() {
            ids[token] = Int32(id)
            var node: Int32 = 0
            for scalar in token.unicodeScalars {
                let key = UInt64(node) << 21 | UInt64(scalar.value)
                if let child = edges[key] {
                    node = child
                } else {
                    let child = Int32(terminal.count)
                    terminal.append(-1)
                    edges[key] = child
                    node = child
                }
            }
            terminal[Int(node)] = Int32(id)
        }
        var continuationRoot: Int32? = 0
        for scalar in continuationPrefix.unicodeScalars {
            continuationRoot = continuationRoot.flatMap { edges[UInt64($0) << 21 | UInt64(scalar.value)] }
        }
        self.tokens = tokens + addedTokens
        self.ids = ids
        self.edges = edges
        self.terminal = terminal
        self.continuationRoot = continuationRoot
    }

    /// The longest token matching a prefix of `word[start...]`, with the continuation prefix in front
    /// when `continuation` is true: its id and the index just past it; nil when no token matches.
    func longestMatch(in word: ArraySlice<Unicode.Scalar>, from start: Int, continuation: Bool)
        -> (id: Int32, end: Int)?
    {
        guard var node = continuation ? continuationRoot : 0 else { return nil }
        var best: (id: Int32, end: Int)?
        var index = start
        while index < word.endIndex, let child = edges[UInt64(node) << 21 | UInt64(word[index].value)] {
            node = child
            index += 1
            let id = terminal[Int(node)]
            if id >= 0 { best = (id, index) }
        }
        return best
    }
}
