/// Finds added tokens (`[CLS]`, `[SEP]`, `[MASK]`, ...) in raw text before normalisation, the way
/// `tokenizers`' added vocabulary does for tokens with `normalized: false`: leftmost match first, and of
/// the tokens matching there the longest, case-sensitive and anywhere in the text (not only at word
/// boundaries). A matched token is emitted as its id and never reaches the normaliser.
struct AddedTokenMatcher: Sendable {
    private struct Pattern: Sendable {
        let bytes: [UInt8]
        let id: Int32
    }

    /// Longest first, so the first pattern that matches at a position is the longest one.
    private let patterns: [Pattern]
    /// Whether some pattern starts with this byte; indexed by byte value.
    private let startsPattern: [Bool]

    /// - tokens: text and id of each added token; empty texts are ignored.
    init(tokens: [(content: String, id: Int32)]) {
        let patterns = tokens.filter { !$0.content.isEmpty }.map { Pattern(bytes: Array($0.content.utf8), id: $0.id) }
        self.patterns = patterns.sorted { $0.bytes.count > $1.bytes.count }
        var startsPattern = [Bool](repeating: false, count: 256)
        for pattern in patterns { startsPattern[Int(pattern.bytes[0])] = true }
        self.startsPattern = startsPattern
    }

    /// The added token starting at byte `position` of `text` (UTF-8), if any: its id and length in bytes.
    func match(in text: UnsafeBufferPointer<UInt8>, at position: Int) -> (id: Int32, length: Int)? {
        guard startsPattern[Int(text[position])] else { return nil }
        let remaining = text.count - position
        for pattern in patterns where pattern.bytes.count <= remaining {
            var index = 0
            while index < pattern.bytes.count, pattern.bytes[index] == text[position + index] { index += 1 }
            if index == pattern.bytes.count { return (pattern.id, index) }
        }
        return nil
    }
}
