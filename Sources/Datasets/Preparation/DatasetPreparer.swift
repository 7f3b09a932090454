import Foundation
import JSON
import Support

/// Everything `prepare` needs to know.
public struct PrepareOptions: Sendable {
    public var format: DatasetFormat
    /// Reviews (interactions) file: JSONL for Amazon, `.inter` for RecBole; plain or gzip.
    public var reviewsPath: String
    /// Optional metadata file: JSONL for Amazon, `.item` for RecBole; plain or gzip.
    public var metaPath: String?
    /// Output directory; replaced atomically when the run succeeds, untouched when it fails.
    public var outputDirectory: String
    public var filters: FilterOptions
    public var cleaner: TextCleaner
    /// Print progress and ETA on stderr.
    public var showProgress: Bool
    /// A seeded share of the items held out of every split (strict cold start): they stay in the
    /// catalog and in `interactions.tsv`, listed in `cold-items.tsv`, and no user's training,
    /// validation or test sequence holds them. 0 holds none out. Cases of `eval --protocol cold20`
    /// on the test split draw their targets and negatives from them.
    public var coldItemFraction: Double = 0
    /// A further seeded share of the items held out of every split in the same way, for the
    /// validation split's cold20 cases (where `tune` chooses the weighting for items without
    /// interactions): never the same items as the test share, drawn after it, so adding them leaves
    /// the test share's items as they were. 0 holds none out.
    public var coldValidationItemFraction: Double = 0
    public var coldItemSeed: UInt64 = 1

    public init(
        format: DatasetFormat, reviewsPath: String, metaPath: String? = nil, outputDirectory: String,
        filters: FilterOptions = .init(), cleaner: TextCleaner = .init(), showProgress: Bool = true
    ) {
        self.format = format
        self.reviewsPath = reviewsPath
        self.metaPath = metaPath
        self.outputDirectory = outputDirectory
        self.filters = filters
        self.cleaner = cleaner
        self.showProgress = showProgress
    }
}

/// Errors of the preparation pipeline itself (input errors come as `InputError`).
public enum PrepareError: Error, Sendable, Equatable, CustomStringConvertible {
    case nothingLeft(stage: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .nothingLeft(let stage): return "no interactions left after \(stage); loosen the filters"
        case .cannotWrite(let path, let reason): return "\(path): cannot write (\(reason))"
        }
    }
}

/// Turns review dumps into a prepared dataset directory (see `PreparedDataset` for the layout).
///
/// Streams the reviews once into a compact table, applies the filters, streams the metadata once
/// keeping only the surviving items, re-indexes users and items densely in order of first
/// appearance in the reviews file, sorts each user's interactions by (timestamp, input line) and
/// writes the leave-one-out split. Peak memory is proportional to the kept interactions, users and
/// items; review text is never held.
public enum DatasetPreparer {
    public static func run(_ options: PrepareOptions) throws -> PrepareReport {
        try checkReplaceable(options.outputDirectory)
        var report = PrepareReport(format: options.format, reviews: InputFileReport(path: options.reviewsPath))
        var userKeys = KeyInterner()
        var itemKeys = KeyInterner()
        var table = InteractionTable()

        let reviews = try LineReader(path: options.reviewsPath)
        let meter = ProgressMeter(
            label: "prepare: reading \(URL(fileURLWithPath: options.reviewsPath).lastPathComponent)",
            total: reviews.expectedBytes, unit: .bytes, enabled: options.showProgress)
        var parser = InteractionParser(format: options.format)
        var lastBytes: Int64 = 0
        try reviews.forEachLine { line, number, bytes in
            report.reviews.lines = number
            lastBytes = bytes
            switch parser.parse(line) {
            case .record(let record):
                report.reviews.records += 1
                table.append(
                    user: userKeys.intern(record.userKey), item: itemKeys.intern(record.itemKey),
                    timestampMs: record.timestampMs, rating: record.rating, line: number)
            case .ignored: report.reviews.ignored += 1
            case .malformed(let reason): report.reviews.recordMalformed(line: number, reason: reason)
            }
            if number & 0x3FFF == 0 { meter.update(bytes) }
        }
        meter.finish(lastBytes)

        func record(_ stage: String) throws {
            let distinct = table.distinctCounts(userSpace: userKeys.count, itemSpace: itemKeys.count)
            report.stages.append(StageCount(stage: stage, users: distinct.users, items: distinct.items, interactions: table.count))
            if table.count == 0 { throw PrepareError.nothingLeft(stage: stage) }
        }
        try record("read")

        let filters = options.filters
        if let minRating = filters.minRating {
            Filters.byRating(&table, min: minRating)
            try record("rating >= \(minRating)")
        }
        if filters.minYear != nil || filters.maxYear != nil {
            Filters.byYear(&table, min: filters.minYear, max: filters.maxYear)
            try record("year in \(filters.minYear.map(String.init) ?? "*")...\(filters.maxYear.map(String.init) ?? "*")")
        }
        if filters.deduplicate {
            Filters.deduplicate(&table)
            try record("deduplicate (user, item)")
        }

        var texts = try readItemTexts(options, itemKeys: itemKeys, table: table, report: &report)
        let dropTitles = filters.missingTitle == .drop
        let dropDescriptions = filters.missingDescription == .drop
        if dropTitles || dropDescriptions {
            let keep = table.rows { row in
                let text = texts[Int(table.items[row])]
                return !(dropTitles && text.title == nil) && !(dropDescriptions && text.description == nil)
            }
            table.retain(keep)
            try record("drop items missing \([dropTitles ? "title" : nil, dropDescriptions ? "description" : nil].compactMap { $0 }.joined(separator: " or "))")
        }
        if filters.minUserInteractions > 1 || filters.minItemInteractions > 1 {
            Filters.byCounts(
                &table, userSpace: userKeys.count, itemSpace: itemKeys.count, minUser: filters.minUserInteractions,
                minItem: filters.minItemInteractions, mode: filters.countMode)
            try record("\(filters.countMode.rawValue) counts (users >= \(filters.minUserInteractions), items >= \(filters.minItemInteractions))")
        }

        try DatasetWriter.write(
            table: table, userKeys: userKeys, itemKeys: itemKeys, texts: &texts, options: options, report: &report)
        return report
    }

    /// Cleaned title and description of an item (nil when missing or empty after cleaning).
    struct ItemText {
        var title: String?
        var description: String?
        var metadata = JSONObject()
        var hasRecord = false
    }

    /// Streams the metadata file, keeping only items that still occur in `table`; last record wins.
    private static func readItemTexts(
        _ options: PrepareOptions, itemKeys: KeyInterner, table: InteractionTable, report: inout PrepareReport
    ) throws -> [ItemText] {
        var texts = [ItemText](repeating: ItemText(), count: itemKeys.count)
        guard let metaPath = options.metaPath else { return texts }
        var wanted = [Bool](repeating: false, count: itemKeys.count)
        for item in table.items { wanted[Int(item)] = true }
        var fileReport = InputFileReport(path: metaPath)
        let meta = try LineReader(path: metaPath)
        let meter = ProgressMeter(
            label: "prepare: reading \(URL(fileURLWithPath: metaPath).lastPathComponent)",
            total: meta.expectedBytes, unit: .bytes, enabled: options.showProgress)
        var parser = ItemParser(format: options.format)
        var lastBytes: Int64 = 0
        try meta.forEachLine { line, number, bytes in
            fileReport.lines = number
            lastBytes = bytes
            switch parser.parse(line) {
            case .record(let item):
                fileReport.records += 1
                if let index = itemKeys.lookup(item.itemKey), wanted[Int(index)] {
                    texts[Int(index)] = ItemText(
                        title: item.title.flatMap(options.cleaner.title),
                        description: options.cleaner.description(item.descriptionParts),
                        metadata: item.metadata, hasRecord: true)
                }
            case .ignored: fileReport.ignored += 1
            case .malformed(let reason): fileReport.recordMalformed(line: number, reason: reason)
            }
            if number & 0xFFF == 0 { meter.update(bytes) }
        }
        meter.finish(lastBytes)
        report.meta = fileReport
        return texts
    }
}
