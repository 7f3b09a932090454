import Datasets
import Foundation
import JSON
import Testing

/// Fixtures: `scripts/make-amazon-fixtures.py` (regenerate with
/// `python3 scripts/make-amazon-fixtures.py Tests/DatasetsTests/Fixtures`); the counts below follow
/// from the records listed there.
@Suite struct AmazonPreparationTests {
    @Test func readsAmazon2023AndReportsEveryMalformedLine() throws {
        let (report, dataset, _) = try Support.prepare(
            .amazon2023, reviews: Support.fixture("amazon2023_reviews.jsonl"), meta: Support.fixture("amazon2023_meta.jsonl"))
        #expect(report.reviews.lines == 16)
        #expect(report.reviews.records == 12)
        #expect(report.reviews.ignored == 1)
        #expect(report.reviews.malformed == 3)
        #expect(report.reviews.malformedSamples.map(\.line) == [9, 10, 15])
        #expect(report.reviews.malformedSamples[1].reason == "missing user_id")
        #expect(report.reviews.malformedSamples[2].reason == "not a JSON object")
        #expect(report.meta?.malformed == 1)
        #expect(report.meta?.malformedSamples.first?.line == 4)
        #expect(report.final == StageCount(stage: "read", users: 4, items: 5, interactions: 12))
        #expect(dataset.userCount == 4)
        #expect(dataset.itemCount == 5)
    }

    @Test func cleansTitlesAndDescriptions() throws {
        let (report, dataset, _) = try Support.prepare(
            .amazon2023, reviews: Support.fixture("amazon2023_reviews.jsonl"), meta: Support.fixture("amazon2023_meta.jsonl"))
        let perfume = try #require(dataset.catalog[1])
        #expect(perfume.originalId == "B0PARENT01")
        #expect(perfume.title == "Rose & Oud Eau de Parfum 50ml")
        #expect(perfume.description == "A warm, woody scent. Made in France ™")
        #expect(perfume.metadata["store"] == .string("Maison Exemple"))
        #expect(perfume.metadata["price"] == .double(49.99))
        #expect(perfume.metadata["details"]?["Item Form"] == .string("Spray"))
        // Empty description list: the features stand in; null price and store are left out.
        let cleanser = try #require(dataset.catalog[2])
        #expect(cleanser.description == "Fragrance free For dry skin")
        #expect(cleanser.metadata["price"] == nil)
        #expect(cleanser.metadata["categories"] == ["Beauty", "Skin Care"])
        // Empty title gets the placeholder; the last of two valid metadata records wins; escaped markup stays text.
        #expect(dataset.catalog[3]?.title == "No Title")
        #expect(dataset.catalog[4]?.title == "日本の化粧水 (Lotion)")
        #expect(dataset.catalog[4]?.description == "保湿 <moist>")
        // Reviewed but absent from the metadata file.
        #expect(dataset.catalog[5]?.title == "No Title")
        #expect(dataset.catalog[5]?.description == "No Description")
        #expect(report.itemsWithoutMetadata == 1)
        #expect(report.placeholderTitles == 2)
        #expect(report.placeholderDescriptions == 1)
    }

    @Test func ordersByTimeAndBreaksTiesByInputLine() throws {
        let (report, dataset, directory) = try Support.prepare(
            .amazon2023, reviews: Support.fixture("amazon2023_reviews.jsonl"), meta: nil)
        // User A (id 1) reviewed 01, 02, 03 in file order, but 02 is the earliest.
        #expect(dataset.train[1] == [2])
        #expect(dataset.valid[1] == 1)
        #expect(dataset.test[1] == 3)
        // User B (id 2): 01 and 02 share a timestamp, so file order decides; the duplicate line stays.
        #expect(dataset.train[2] == [1, 2])
        #expect(dataset.valid[2] == 4)
        #expect(dataset.test[2] == 4)
        // User D has a single interaction: all of it is training data.
        #expect(dataset.train[4] == [2])
        #expect(dataset.test[4] == 0)
        #expect(report.interactionsWithTiedTimestamps == 4)
        #expect(report.usersWithHeldOutItems == 3)
        let interactions = Support.read(directory + "/interactions.tsv").split(separator: "\n")
        #expect(interactions.first == "user\titem\ttimestamp_ms\trating")
        #expect(interactions[1] == "1\t2\t1600086400000\t4")
        #expect(Support.read(directory + "/users.tsv").hasPrefix("id\toriginal_id\n1\tAF_USER_A\n2\tAF_USER_B\n"))
    }

    @Test func gzipInputGivesTheSameDatasetAsPlainInput() throws {
        let plain = try Support.prepare(
            .amazon2023, reviews: Support.fixture("amazon2023_reviews.jsonl"), meta: Support.fixture("amazon2023_meta.jsonl"))
        let compressed = try Support.prepare(
            .amazon2023, reviews: Support.fixture("amazon2023_reviews.jsonl.gz"),
            meta: Support.fixture("amazon2023_meta.jsonl.gz"))
        #expect(plain.dataset.fingerprint == compressed.dataset.fingerprint)
        #expect(plain.dataset.catalog.items == compressed.dataset.catalog.items)
        #expect(compressed.report.reviews.malformed == 3)
    }

    @Test func filtersRunInOrderAndEachStageIsCounted() throws {
        let filters = FilterOptions(
            minRating: 3, minYear: 2015, deduplicate: true, minUserInteractions: 2, minItemInteractions: 2,
            missingTitle: .drop)
        let (report, dataset, _) = try Support.prepare(
            .amazon2023, reviews: Support.fixture("amazon2023_reviews.jsonl"), meta: Support.fixture("amazon2023_meta.jsonl"),
            filters: filters)
        let stages = report.stages.map { [$0.users, $0.items, $0.interactions] }
        #expect(report.stages.map(\.stage) == [
            "read", "rating >= 3.0", "year in 2015...*", "deduplicate (user, item)", "drop items missing title",
            "single-pass counts (users >= 2, items >= 2)",
        ])
        #expect(stages == [
            [4, 5, 12],  // as read
            [4, 5, 11],  // A's 2-star review of 03 goes
            [4, 4, 10],  // C's 2012 review of 05 goes
            [4, 4, 8],  // B's duplicate of 04 and C's later repeat of 01 go
            [4, 3, 7],  // 03 has an empty title: C's review of it goes
            [2, 2, 4],  // A(01, 02) and B(01, 02) remain; C and D had one review left, 04 one reviewer
        ])
        #expect(dataset.userCount == 2)
        #expect(dataset.catalog.items.map(\.originalId) == ["B0PARENT01", "B0PARENT02"])
    }

    @Test func iterativeCoreFilterCanEmptyTheDataAndSaysSo() throws {
        let directory = Support.scratchDirectory() + "/out"
        let options = PrepareOptions(
            format: .amazon2023, reviewsPath: Support.fixture("amazon2023_reviews.jsonl"), outputDirectory: directory,
            filters: FilterOptions(minUserInteractions: 3, minItemInteractions: 3, countMode: .iterative), showProgress: false)
        #expect(throws: PrepareError.nothingLeft(stage: "iterative counts (users >= 3, items >= 3)")) {
            try DatasetPreparer.run(options)
        }
        #expect(!FileManager.default.fileExists(atPath: directory), "a failed run leaves no output behind")
        var singlePass = options
        singlePass.filters.countMode = .singlePass
        #expect(try DatasetPreparer.run(singlePass).final.interactions == 6)
    }

    @Test func readsAmazon2018() throws {
        let (report, dataset, _) = try Support.prepare(
            .amazon2018, reviews: Support.fixture("amazon2018_reviews.json"), meta: Support.fixture("amazon2018_meta.json.gz"))
        #expect(report.reviews.records == 6)
        #expect(report.reviews.malformedSamples.map(\.line) == [6, 7])
        #expect(report.reviews.malformedSamples[0].reason == "missing or non-integer unixReviewTime")
        #expect(dataset.train[1] == [2])
        #expect(dataset.valid[1] == 1)
        #expect(dataset.test[1] == 3)
        let cream = try #require(dataset.catalog[1])
        #expect(cream.title == "Hydra Cream Deluxe")
        #expect(cream.description == "Hydrating cream. Use daily & nightly.")
        #expect(cream.metadata["brand"] == .string("Acme"))
        #expect(cream.metadata["price"] == .string("$12.99"))
        #expect(cream.metadata["categories"] == ["Beauty", "Skin Care"])
        #expect(cream.metadata["mainCategory"] == .string("Luxury Beauty"))
        #expect(dataset.catalog[2]?.description == "No Description")
        #expect(dataset.catalog[2]?.metadata.isEmpty == true)
        #expect(dataset.catalog[3]?.title == "Café Scrub")
        #expect(dataset.catalog[3]?.description == "A single string description")
        #expect(dataset.catalog[4]?.title == "No Title")
    }

    @Test func replacesAnExistingDatasetAtomically() throws {
        let directory = Support.scratchDirectory() + "/dataset"
        var options = PrepareOptions(
            format: .amazon2018, reviewsPath: Support.fixture("amazon2018_reviews.json"), outputDirectory: directory,
            showProgress: false)
        _ = try DatasetPreparer.run(options)
        options.format = .amazon2023
        options.reviewsPath = Support.fixture("amazon2023_reviews.jsonl")
        _ = try DatasetPreparer.run(options)
        #expect(try PreparedDataset(directory: directory).userCount == 4)
        #expect(!FileManager.default.fileExists(atPath: directory + ".partial"))
        #expect(!FileManager.default.fileExists(atPath: directory + ".previous"))
    }
}
