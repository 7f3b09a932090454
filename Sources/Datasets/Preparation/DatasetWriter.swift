import Foundation
import JSON
import Numerics

/// Writes the prepared dataset directory from the filtered table (layout: `PreparedDataset`).
enum DatasetWriter {
    static let placeholderTitle = "No Title"
    static let placeholderDescription = "No Description"

    static func write(
        table: InteractionTable, userKeys: KeyInterner, itemKeys: KeyInterner, texts: inout [DatasetPreparer.ItemText],
        options: PrepareOptions, report: inout PrepareReport
    ) throws {
        // Dense 1-based ids in order of first appearance in the reviews file (rows are in file order).
        var userIds = [Int32](repeating: 0, count: userKeys.count)
        var itemIds = [Int32](repeating: 0, count: itemKeys.count)
        var userOriginals: [Int32] = []
        var itemOriginals: [Int32] = []
        for row in 0..<table.count {
            let user = Int(table.users[row])
            if userIds[user] == 0 {
                userOriginals.append(Int32(user))
                userIds[user] = Int32(userOriginals.count)
            }
            let item = Int(table.items[row])
            if itemIds[item] == 0 {
                itemOriginals.append(Int32(item))
                itemIds[item] = Int32(itemOriginals.count)
            }
        }

        // Rows grouped by dense user id (counting sort), then each user's rows by (timestamp, line).
        var starts = [Int](repeating: 0, count: userOriginals.count + 2)
        for row in 0..<table.count { starts[Int(userIds[Int(table.users[row])]) + 1] += 1 }
        for user in 1..<starts.count { starts[user] += starts[user - 1] }
        var order = [Int](repeating: 0, count: table.count)
        var next = starts
        for row in 0..<table.count {
            let user = Int(userIds[Int(table.users[row])])
            order[next[user]] = row
            next[user] += 1
        }

        // Held-out items: a seeded shuffle of the dense ids, its first share for the test split's
        // cold cases, the next share for the validation split's.
        var cold = [Bool](repeating: false, count: itemOriginals.count + 1)
        var coldForValidation = cold
        if options.coldItemFraction > 0 || options.coldValidationItemFraction > 0 {
            var ids = Array(1...max(1, itemOriginals.count))
            var generator = SplitMix64(seed: options.coldItemSeed, stream: 0xC01D)
            ids.shuffle(using: &generator)
            let count = Int((options.coldItemFraction * Double(itemOriginals.count)).rounded())
            let validationCount = Int((options.coldValidationItemFraction * Double(itemOriginals.count)).rounded())
            for (position, id) in ids.prefix(count + validationCount).enumerated() where id <= itemOriginals.count {
                cold[id] = true
                coldForValidation[id] = position >= count
            }
        }

        let manager = FileManager.default
        let destination = options.outputDirectory
        let staged = destination + ".partial"
        try? manager.removeItem(atPath: staged)
        do { try manager.createDirectory(atPath: staged, withIntermediateDirectories: true) } catch {
            throw PrepareError.cannotWrite(path: staged, reason: error.localizedDescription)
        }

        let interactions = try TextFileWriter(path: staged + "/interactions.tsv")
        let train = try TextFileWriter(path: staged + "/train.tsv")
        let valid = try TextFileWriter(path: staged + "/valid.tsv")
        let test = try TextFileWriter(path: staged + "/test.tsv")
        try interactions.write("user\titem\ttimestamp_ms\trating\n")
        for split in [train, valid, test] { try split.write("user\titem\ttimestamp_ms\n") }

        for user in 1...max(userOriginals.count, 1) where user <= userOriginals.count {
            var rows = order[starts[user]..<starts[user + 1]]
            rows.sort { (table.timestampsMs[$0], table.lines[$0]) < (table.timestampsMs[$1], table.lines[$1]) }
            let timeline = Array(rows)
            // The split runs over the user's interactions with items that are not held out.
            let kept = timeline.filter { !cold[Int(itemIds[Int(table.items[$0])])] }
            var keptPosition: [Int: Int] = [:]
            for (position, row) in kept.enumerated() { keptPosition[row] = position }
            for (position, row) in timeline.enumerated() {
                let time = table.timestampsMs[row]
                let tiedBefore = position > 0 && table.timestampsMs[timeline[position - 1]] == time
                let tiedAfter = position + 1 < timeline.count && table.timestampsMs[timeline[position + 1]] == time
                if tiedBefore || tiedAfter { report.interactionsWithTiedTimestamps += 1 }
                let item = itemIds[Int(table.items[row])]
                let rating = table.ratings[row]
                try interactions.write("\(user)\t\(item)\t\(time)\t\(rating.isNaN ? "" : formatRating(rating))\n")
                guard let index = keptPosition[row] else { continue }
                let split: TextFileWriter
                if kept.count < 3 || index < kept.count - 2 {
                    split = train
                } else {
                    split = index == kept.count - 2 ? valid : test
                }
                try split.write("\(user)\t\(item)\t\(time)\n")
            }
            if kept.count >= 3 { report.usersWithHeldOutItems += 1 }
        }
        for file in [interactions, train, valid, test] { try file.close() }
        let fingerprint = String(train.hash ^ (valid.hash &* 31) ^ (test.hash &* 961), radix: 16)

        let coldCount = cold.filter { $0 }.count
        let coldValidationCount = coldForValidation.filter { $0 }.count
        report.coldItemsForTest = coldCount - coldValidationCount
        report.coldItemsForValidation = coldValidationCount
        if coldCount > 0 {
            let coldFile = try TextFileWriter(path: staged + "/cold-items.tsv")
            try coldFile.write("item\tsplit\n")
            for id in cold.indices where cold[id] { try coldFile.write("\(id)\t\(coldForValidation[id] ? "valid" : "test")\n") }
            try coldFile.close()
        }

        let users = try TextFileWriter(path: staged + "/users.tsv")
        try users.write("id\toriginal_id\n")
        for (index, original) in userOriginals.enumerated() {
            try users.write("\(index + 1)\t\(sanitizedField(userKeys.keys[Int(original)]))\n")
        }
        try users.close()

        let items = try TextFileWriter(path: staged + "/items.tsv")
        let catalog = try TextFileWriter(path: staged + "/catalog.jsonl")
        try items.write("id\toriginal_id\n")
        for (index, original) in itemOriginals.enumerated() {
            let key = itemKeys.keys[Int(original)]
            let text = texts[Int(original)]
            if !text.hasRecord { report.itemsWithoutMetadata += 1 }
            if text.title == nil { report.placeholderTitles += 1 }
            if text.description == nil { report.placeholderDescriptions += 1 }
            let item = CatalogItem(
                id: Int32(index + 1), originalId: key, title: text.title ?? placeholderTitle,
                description: text.description ?? placeholderDescription, metadata: text.metadata)
            try items.write("\(index + 1)\t\(sanitizedField(key))\n")
            try catalog.write(JSONWriter.compact(item.json) + "\n")
        }
        try items.close()
        try catalog.close()
        texts.removeAll()

        let final = report.final
        let manifest: JSONValue = [
            "formatVersion": .int(PreparedDataset.formatVersion),
            "users": .integer(final.users), "items": .integer(final.items), "interactions": .integer(final.interactions),
            "fingerprint": .string(fingerprint),
            "source": [
                "format": .string(options.format.rawValue), "reviews": .string(options.reviewsPath),
                "meta": options.metaPath.map { .string($0) } ?? .null,
            ],
            "filters": filterJSON(options.filters),
            "text": [
                "maxTitleLength": .integer(options.cleaner.maxTitleLength),
                "maxDescriptionLength": .integer(options.cleaner.maxDescriptionLength),
                "placeholderTitle": .string(placeholderTitle), "placeholderDescription": .string(placeholderDescription),
            ],
            "order": "users by first appearance in the reviews file; each user's interactions by timestamp, ties by input line",
            "split": "leave-one-out: last interaction = test, second to last = valid, for users with >= 3 interactions",
            "coldItems": coldCount > 0
                ? [
                    "count": .integer(coldCount), "fraction": .double(options.coldItemFraction),
                    "validationCount": .integer(coldValidationCount), "validationFraction": .double(options.coldValidationItemFraction),
                    "seed": .string(String(options.coldItemSeed)),
                    "rule": "held out of every split; in the catalog, interactions.tsv and cold-items.tsv (split: which cold20 cases draw on the item)",
                ] : .null,
        ]
        try writeWhole(JSONWriter.pretty(manifest) + "\n", to: staged + "/dataset.json")
        try writeWhole(JSONWriter.pretty(report.json) + "\n", to: staged + "/stats.json")
        try replaceDirectory(destination, with: staged)
    }

    private static func writeWhole(_ text: String, to path: String) throws {
        let file = try TextFileWriter(path: path)
        try file.write(text)
        try file.close()
    }

    /// Ratings are written without a trailing ".0" when whole ("5", "4.5").
    private static func formatRating(_ rating: Float) -> String {
        rating.rounded() == rating ? String(Int(rating)) : "\(rating)"
    }

    /// Tabs and newlines in a source id would break the TSV; they become spaces.
    private static func sanitizedField(_ text: String) -> String {
        guard text.contains(where: { $0 == "\t" || $0.isNewline }) else { return text }
        return String(text.map { $0 == "\t" || $0.isNewline ? " " : $0 })
    }

    private static func filterJSON(_ filters: FilterOptions) -> JSONValue {
        [
            "minRating": filters.minRating.map { .double(Double($0)) } ?? .null,
            "minYear": filters.minYear.map { .integer($0) } ?? .null,
            "maxYear": filters.maxYear.map { .integer($0) } ?? .null,
            "deduplicate": .bool(filters.deduplicate),
            "minUserInteractions": .integer(filters.minUserInteractions),
            "minItemInteractions": .integer(filters.minItemInteractions),
            "countMode": .string(filters.countMode.rawValue),
            "missingTitle": .string(filters.missingTitle.rawValue),
            "missingDescription": .string(filters.missingDescription.rawValue),
        ]
    }
}
