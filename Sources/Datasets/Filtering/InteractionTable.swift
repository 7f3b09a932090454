/// Interactions during preparation, column-wise and compact: memory grows with the number of
/// interactions (28 bytes each), never with the size of the review text.
///
/// Users and items are interned indices into `userKeys` / `itemKeys` (0-based, in order of first
/// appearance in the reviews file); rows stay in file order until `prepare` sorts them.
struct InteractionTable {
    var users: [Int32] = []
    var items: [Int32] = []
    var timestampsMs: [Int64] = []
    /// NaN where the file had no rating.
    var ratings: [Float] = []
    /// 1-based line number in the reviews file; breaks timestamp ties deterministically.
    var lines: [Int64] = []

    var count: Int { users.count }

    /// One flag per row: `predicate(row)`.
    func rows(where predicate: (Int) -> Bool) -> [Bool] {
        (0..<count).map(predicate)
    }

    mutating func append(user: Int32, item: Int32, timestampMs: Int64, rating: Float?, line: Int) {
        users.append(user)
        items.append(item)
        timestampsMs.append(timestampMs)
        ratings.append(rating ?? .nan)
        lines.append(Int64(line))
    }

    /// Keeps the rows whose entry in `keep` (one per row) is true, preserving order.
    mutating func retain(_ keep: [Bool]) {
        var write = 0
        for read in 0..<count where keep[read] {
            users[write] = users[read]
            items[write] = items[read]
            timestampsMs[write] = timestampsMs[read]
            ratings[write] = ratings[read]
            lines[write] = lines[read]
            write += 1
        }
        users.removeLast(count - write)
        items.removeLast(items.count - write)
        timestampsMs.removeLast(timestampsMs.count - write)
        ratings.removeLast(ratings.count - write)
        lines.removeLast(lines.count - write)
    }

    /// Number of distinct users and items present.
    func distinctCounts(userSpace: Int, itemSpace: Int) -> (users: Int, items: Int) {
        var seenUsers = [Bool](repeating: false, count: userSpace)
        var seenItems = [Bool](repeating: false, count: itemSpace)
        var userCount = 0
        var itemCount = 0
        for row in 0..<count {
            if !seenUsers[Int(users[row])] { seenUsers[Int(users[row])] = true; userCount += 1 }
            if !seenItems[Int(items[row])] { seenItems[Int(items[row])] = true; itemCount += 1 }
        }
        return (userCount, itemCount)
    }
}

/// Maps string keys (user ids, ASINs) to dense 0-based indices in order of first appearance.
struct KeyInterner {
    private(set) var keys: [String] = []
    private var indices: [String: Int32] = [:]

    mutating func intern(_ key: String) -> Int32 {
        if let index = indices[key] { return index }
        let index = Int32(keys.count)
        keys.append(key)
        indices[key] = index
        return index
    }

    func lookup(_ key: String) -> Int32? { indices[key] }

    var count: Int { keys.count }
}
