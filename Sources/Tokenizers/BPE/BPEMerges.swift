import Synchronization

/// A BPE vocabulary's merges by rank, and the merging of one pre-tokenised piece.
struct BPEMerges: Sendable {
    struct Merge: Sendable {
        /// Position in the merges list, from 0; the lowest rank merges first.
        let rank: Int32
        /// The id of the concatenated token.
        let result: Int32
    }

    /// Keyed by `pairKey(left, right)`.
    private let table: [UInt64: Merge]

    var count: Int { table.count }

    /// Resolves `pairs` (token texts, in rank order) to ids; a pair listed twice keeps its first rank.
    ///
    /// - entryName: says where entry `i` is in its source ("line 5", "entry 4"), for error messages.
    /// - Throws: `.malformedMerges` when a pair names a token, or a concatenation, that `ids` lacks.
    init(pairs: [(String, String)], ids: [String: Int32], source: String, entryName: (Int) -> String)
        throws(ByteLevelBPEError)
    {
        var table: [UInt64: Merge] = [:]
        table.reserveCapacity(pairs.count)
        for (index, (left, right)) in pairs.enumerated() {
            guard let leftID = ids[left], let rightID = ids[right] else {
                let missing = ids[left] == nil ? left : right
                throw .malformedMerges(source: source, reason: "\(entryName(index)): '\(missing)' is not in the vocabulary")
            }
            guard let result = ids[left + right] else {
                throw .malformedMerges(
                    source: source, reason: "\(entryName(index)): the merged token '\(left + right)' is not in the vocabulary")
            }
            let key = Self.pairKey(leftID, rightID)
            if table[key] == nil { table[key] = Merge(rank: Int32(index), result: result) }
        }
        self.table = table
    }

    private static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    func merge(_ left: Int32, _ right: Int32) -> Merge? {
        table[Self.pairKey(left, right)]
    }

    /// Merges `symbols` (token ids, one per byte to begin with; negative for a byte the vocabulary
    /// lacks, which never merges) until no adjacent pair has a merge: each step merges the pair of
    /// lowest rank, the leftmost of equal ones, as Hugging Face's `tokenizers` does. O(n log n) in the
    /// number of symbols, so a long run of digits or punctuation stays cheap.
    func apply(to symbols: inout [Int32]) {
        let count = symbols.count
        guard count > 1 else { return }
        // A doubly linked list over the symbols; `count` and -1 mark the ends.
        var next = Array(1...count)
        var previous = Array(-1..<(count - 1))
        var alive = [Bool](repeating: true, count: count)
        var queue = MergeQueue()
        for position in 0..<(count - 1) {
            if let merge = merge(symbols[position], symbols[position + 1]) { queue.push(rank: merge.rank, position: position) }
        }
        while let top = queue.pop() {
            let (rank, position) = top
            // Entries go stale when a neighbour merges first; the pair now at `position` decides.
            guard alive[position] else { continue }
            let right = next[position]
            guard right < count, let merge = merge(symbols[position], symbols[right]), merge.rank == rank else { continue }
            symbols[position] = merge.result
            alive[right] = false
            next[position] = next[right]
            if next[right] < count { previous[next[right]] = position }
            let before = previous[position]
            if before >= 0, let merge = self.merge(symbols[before], symbols[position]) {
                queue.push(rank: merge.rank, position: before)
            }
            let after = next[position]
            if after < count, let merge = self.merge(symbols[position], symbols[after]) {
                queue.push(rank: merge.rank, position: position)
            }
        }
        var kept = 0
        var position = 0
        while position < count {
            symbols[kept] = symbols[position]
            kept += 1
            position = next[position]
        }
        symbols.removeSubrange(kept...)
    }
}

/// A binary min-heap of (rank, position), ordered by rank, then position.
private struct MergeQueue {
    private var keys: [UInt64] = []

    mutating func push(rank: Int32, position: Int) {
        keys.append(UInt64(UInt32(rank)) << 32 | UInt64(position))
        var child = keys.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard keys[child] < keys[parent] else { break }
            keys.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (rank: Int32, position: Int)? {
        guard let top = keys.first else { return nil }
        let last = keys.removeLast()
        if !keys.isEmpty {
            keys[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < keys.count else { break }
                let smaller = left + 1 < keys.count && keys[left + 1] < keys[left] ? left + 1 : left
                guard keys[smaller] < keys[parent] else { break }
                keys.swapAt(smaller, parent)
                parent = smaller
            }
        }
        return (Int32(top >> 32), Int(top & 0xFFFF_FFFF))
    }
}

/// The ids of pieces seen before, shared by every copy of a tokenizer and safe to use from any
/// thread. Holds at most `capacity` pieces of at most `maxPieceLength` bytes; once full it keeps what
/// it has and stops adding, as Hugging Face's cache does.
final class BPECache: Sendable {
    static let capacity = 10_000
    static let maxPieceLength = 64

    private let entries = Mutex<[[UInt8]: [Int32]]>([:])

    func ids(for piece: [UInt8]) -> [Int32]? {
        entries.withLock { $0[piece] }
    }

    func store(_ ids: [Int32], for piece: [UInt8]) {
        guard piece.count <= Self.maxPieceLength else { return }
        entries.withLock { entries in
            if entries.count < Self.capacity { entries[piece] = ids }
        }
    }
}
