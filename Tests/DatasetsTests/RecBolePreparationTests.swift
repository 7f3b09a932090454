import Datasets
import JSON
import Testing

@Suite struct RecBolePreparationTests {
    @Test func readsTypedColumnsAndReportsBadRows() throws {
        let (report, dataset, _) = try Support.prepare(
            .recbole, reviews: Support.fixture("tiny.inter"), meta: Support.fixture("tiny.item"))
        #expect(report.reviews.ignored == 1, "the typed header")
        #expect(report.reviews.records == 5)
        #expect(report.reviews.malformedSamples.map(\.line) == [6, 7])
        #expect(report.reviews.malformedSamples[0].reason == "expected 4 tab-separated fields, got 2")
        #expect(report.reviews.malformedSamples[1].reason == "rating 'five' is not a number")
        // u1: i2 (t=90), i1 (100), i3 (110).
        #expect(dataset.train[1] == [2])
        #expect(dataset.valid[1] == 1)
        #expect(dataset.test[1] == 3)
        let toyStory = try #require(dataset.catalog[1])
        #expect(toyStory.title == "Toy Story")
        #expect(toyStory.description == "Year: 1995. Genres: Animation, Children's, Comedy.")
        #expect(toyStory.metadata["class"] == ["Animation", "Children's", "Comedy"])
        #expect(dataset.catalog[3]?.title == "No Title")
        #expect(dataset.catalog[3]?.description == "No Description")
    }
}
