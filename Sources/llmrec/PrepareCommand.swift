import ArgumentParser
import Datasets
import Foundation

extension DatasetFormat: ExpressibleByArgument {}
extension CountFilterMode: ExpressibleByArgument {}
extension MissingTextPolicy: ExpressibleByArgument {}

struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Turn review dumps into a prepared dataset directory.",
        discussion: """
            Filters run in this order: --min-rating, --min-year/--max-year, --dedup, missing text \
            (--missing-title/--missing-description drop), then the interaction counts. The output \
            directory is replaced only when the run succeeds; stats.json records the counts after every \
            step and the malformed input lines (which are skipped, never fatal).
            """
    )

    @Option(help: "Input format: \(DatasetFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: DatasetFormat

    @Option(help: "Reviews/interactions file (JSONL or RecBole .inter; plain or gzip).")
    var reviews: String

    @Option(help: "Item metadata file (JSONL or RecBole .item; plain or gzip).")
    var meta: String?

    @Option(help: "Output dataset directory.")
    var out: String

    @Option(help: "Keep interactions rated at least this much.")
    var minRating: Float?

    @Option(help: "Keep interactions from this UTC year on.")
    var minYear: Int?

    @Option(help: "Keep interactions up to this UTC year.")
    var maxYear: Int?

    @Flag(help: "Keep only the earliest interaction of each (user, item) pair.")
    var dedup = false

    @Option(help: "Minimum interactions per user.")
    var minUserInteractions = 0

    @Option(help: "Minimum interactions per item.")
    var minItemInteractions = 0

    @Option(help: "single-pass (A-LLMRec's filter) or iterative (k-core).")
    var countMode: CountFilterMode = .singlePass

    @Option(help: "Items without a title: drop or placeholder (\"No Title\").")
    var missingTitle: MissingTextPolicy = .placeholder

    @Option(help: "Items without a description: drop or placeholder (\"No Description\").")
    var missingDescription: MissingTextPolicy = .placeholder

    @Option(help: "Cap on a cleaned title, in characters.")
    var maxTitleLength = 300

    @Option(help: "Cap on a cleaned description, in characters (bounds later embedding memory).")
    var maxDescriptionLength = 2000

    @Option(help: "Hold this share of the items (seeded) out of every split, kept in the catalog: strict cold start, for `eval --protocol cold20`.")
    var coldItems: Double = 0

    @Option(help: "Hold a further share of the items out of every split, for the validation split's cold20 cases (`tune` chooses the weighting for items without interactions on them).")
    var coldValidationItems: Double = 0

    @Option(help: "Seed of the held-out items.")
    var coldSeed: UInt64 = 1

    @Flag(help: "No progress on stderr.")
    var quiet = false

    func validate() throws {
        guard (0..<1).contains(coldItems), (0..<1).contains(coldValidationItems), coldItems + coldValidationItems < 1 else {
            throw ValidationError("--cold-items and --cold-validation-items must be at least 0, and below 1 together")
        }
        guard maxTitleLength >= 8, maxDescriptionLength >= 8 else {
            throw ValidationError("--max-title-length and --max-description-length must be at least 8")
        }
        if let minYear, let maxYear, minYear > maxYear { throw ValidationError("--min-year is after --max-year") }
    }

    func run() throws {
        var options = PrepareOptions(
            format: format, reviewsPath: reviews, metaPath: meta, outputDirectory: out,
            filters: FilterOptions(
                minRating: minRating, minYear: minYear, maxYear: maxYear, deduplicate: dedup,
                minUserInteractions: minUserInteractions, minItemInteractions: minItemInteractions,
                countMode: countMode, missingTitle: missingTitle, missingDescription: missingDescription),
            cleaner: TextCleaner(maxTitleLength: maxTitleLength, maxDescriptionLength: maxDescriptionLength),
            showProgress: !quiet)
        options.coldItemFraction = coldItems
        options.coldValidationItemFraction = coldValidationItems
        options.coldItemSeed = coldSeed
        let report: PrepareReport
        do { report = try DatasetPreparer.run(options) } catch { throw fail(error) }
        var summary = ""
        for stage in report.stages {
            summary += "\(stage.stage): \(stage.users) users, \(stage.items) items, \(stage.interactions) interactions\n"
        }
        let malformed = report.reviews.malformed + (report.meta?.malformed ?? 0)
        if malformed > 0 { summary += "malformed lines skipped: \(malformed) (see stats.json)\n" }
        if report.coldItemsForTest + report.coldItemsForValidation > 0 {
            summary += "held out of every split: \(report.coldItemsForTest) items for the test split's cold20 cases, "
                + "\(report.coldItemsForValidation) for the validation split's\n"
        }
        summary += "wrote \(out)\n"
        FileHandle.standardError.write(Data(summary.utf8))
    }
}
