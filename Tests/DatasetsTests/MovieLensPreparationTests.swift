import Datasets
import Testing

/// Real MovieLens-100K (fetched by `scripts/fetch-assets.sh ml100k`). Expected counts come from an
/// independent plain-Python implementation: `python3 scripts/reference-ml100k-filters.py`.
@Suite struct MovieLensPreparationTests {
    @Test func preparesTheWholeDataset() throws {
        let files = try Support.movieLensFiles()
        let (report, dataset, _) = try Support.prepare(.recbole, reviews: files.inter, meta: files.item)
        #expect(report.final == StageCount(stage: "read", users: 943, items: 1682, interactions: 100_000))
        #expect(report.reviews.malformed == 0)
        #expect(report.meta?.records == 1682)
        #expect(report.interactionsWithTiedTimestamps == 75_772)
        #expect(dataset.testUsers.count == 943)
        #expect(dataset.train.reduce(0) { $0 + $1.count } == 100_000 - 2 * 943)
        // User 1 is MovieLens user 196 (first line of the file): 39 ratings.
        let trainOriginals = dataset.train[1].prefix(5).map { dataset.catalog[$0]!.originalId }
        #expect(trainOriginals == ["242", "286", "269", "306", "340"])
        #expect(dataset.catalog[dataset.valid[1]]?.originalId == "94")
        #expect(dataset.catalog[dataset.test[1]]?.originalId == "110")
        #expect(dataset.train[1].count == 37)
        let toyStory = try #require(dataset.catalog.id(forOriginalId: "1").flatMap { dataset.catalog[$0] })
        #expect(toyStory.title == "Toy Story")
        #expect(toyStory.description == "Year: 1995. Genres: Animation, Children's, Comedy.")
    }

    @Test(arguments: [
        (FilterOptions(minUserInteractions: 20, minItemInteractions: 20), [943, 939, 94_968]),
        (FilterOptions(minUserInteractions: 20, minItemInteractions: 20, countMode: .iterative), [917, 937, 94_443]),
        (FilterOptions(minUserInteractions: 50, minItemInteractions: 30, countMode: .iterative), [550, 767, 79_010]),
        (FilterOptions(minRating: 4), [942, 1447, 55_375]),
        (FilterOptions(minYear: 1998, maxYear: 1998), [551, 1618, 47_101]),
    ])
    func filterCountsMatchThePythonReference(filters: FilterOptions, expected: [Int]) throws {
        let files = try Support.movieLensFiles()
        let (report, dataset, _) = try Support.prepare(.recbole, reviews: files.inter, meta: files.item, filters: filters)
        #expect([report.final.users, report.final.items, report.final.interactions] == expected)
        #expect([dataset.userCount, dataset.itemCount] == Array(expected.prefix(2)))
    }
}
