/// How the minimum-interaction thresholds are applied.
public enum CountFilterMode: String, CaseIterable, Sendable {
    /// Count once, then drop every interaction whose user or item is under its threshold, as
    /// A-LLMRec's preprocessing does. Users and items can end below the threshold afterwards.
    case singlePass = "single-pass"
    /// Repeat the single pass until nothing changes (k-core): every kept user and item meets its threshold.
    case iterative
}

/// What to do with an item whose cleaned title or description is missing or empty.
public enum MissingTextPolicy: String, CaseIterable, Sendable {
    /// Drop the item and its interactions (before the count filter, so counts reflect the drop).
    case drop
    /// Keep the item with a placeholder text ("No Title" / "No Description", the defaults A-LLMRec uses).
    case placeholder
}

/// The filters of `prepare`, applied in this order: minimum rating, year range, de-duplication,
/// missing text, interaction counts. Defaults keep everything.
public struct FilterOptions: Sendable {
    /// Keep interactions rated at least this much; interactions without a rating are dropped when set.
    public var minRating: Float?
    /// Keep interactions whose UTC calendar year lies in this range (inclusive).
    public var minYear: Int?
    public var maxYear: Int?
    /// Keep only the earliest interaction of each (user, item) pair.
    public var deduplicate: Bool
    public var minUserInteractions: Int
    public var minItemInteractions: Int
    public var countMode: CountFilterMode
    public var missingTitle: MissingTextPolicy
    public var missingDescription: MissingTextPolicy

    public init(
        minRating: Float? = nil, minYear: Int? = nil, maxYear: Int? = nil, deduplicate: Bool = false,
        minUserInteractions: Int = 0, minItemInteractions: Int = 0, countMode: CountFilterMode = .singlePass,
        missingTitle: MissingTextPolicy = .placeholder, missingDescription: MissingTextPolicy = .placeholder
    ) {
        self.minRating = minRating
        self.minYear = minYear
        self.maxYear = maxYear
        self.deduplicate = deduplicate
        self.minUserInteractions = minUserInteractions
        self.minItemInteractions = minItemInteractions
        self.countMode = countMode
        self.missingTitle = missingTitle
        self.missingDescription = missingDescription
    }
}

enum Filters {
    static func byRating(_ table: inout InteractionTable, min: Float) {
        let keep = table.rows { row in
            let rating = table.ratings[row]
            return !rating.isNaN && rating >= min
        }
        table.retain(keep)
    }

    static func byYear(_ table: inout InteractionTable, min: Int?, max: Int?) {
        let keep = table.rows { row in
            let year = utcYear(millisecondsSinceEpoch: table.timestampsMs[row])
            return year >= (min ?? Int.min) && year <= (max ?? Int.max)
        }
        table.retain(keep)
    }

    /// Keeps, for each (user, item) pair, the row with the earliest (timestamp, line).
    static func deduplicate(_ table: inout InteractionTable) {
        var best: [Int64: Int] = [:]
        for row in 0..<table.count {
            let pair = Int64(table.users[row]) << 32 | Int64(table.items[row])
            if let kept = best[pair] {
                let earlier = (table.timestampsMs[row], table.lines[row]) < (table.timestampsMs[kept], table.lines[kept])
                if earlier { best[pair] = row }
            } else {
                best[pair] = row
            }
        }
        var keep = [Bool](repeating: false, count: table.count)
        for row in best.values { keep[row] = true }
        table.retain(keep)
    }

    /// Applies the count thresholds; returns the number of passes made.
    @discardableResult
    static func byCounts(
        _ table: inout InteractionTable, userSpace: Int, itemSpace: Int, minUser: Int, minItem: Int, mode: CountFilterMode
    ) -> Int {
        guard minUser > 1 || minItem > 1 else { return 0 }
        var passes = 0
        while true {
            passes += 1
            var userCounts = [Int32](repeating: 0, count: userSpace)
            var itemCounts = [Int32](repeating: 0, count: itemSpace)
            for row in 0..<table.count {
                userCounts[Int(table.users[row])] += 1
                itemCounts[Int(table.items[row])] += 1
            }
            let before = table.count
            let keep = table.rows { row in
                userCounts[Int(table.users[row])] >= minUser && itemCounts[Int(table.items[row])] >= minItem
            }
            table.retain(keep)
            if mode == .singlePass || table.count == before { return passes }
        }
    }

    /// The proleptic Gregorian year (UTC) of a Unix time in milliseconds.
    static func utcYear(millisecondsSinceEpoch ms: Int64) -> Int {
        let days = Int(floorDivide(ms, 86_400_000))
        // Civil-from-days (H. Hinnant), exact for every representable day.
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let quotient = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient
    }
}
