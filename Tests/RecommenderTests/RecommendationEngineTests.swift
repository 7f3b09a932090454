import Datasets
import JSON
import Models
import Recommender
import Testing

@Suite struct RecommendationEngineTests {
    private let engine: RecommendationEngine = {
        let titles = ["Toy Story", "Toy Story 2", "Heat", "The Heat", "Story of Toys"]
        let items = titles.enumerated().map { index, title in
            CatalogItem(id: Int32(index + 1), originalId: "m\(index + 1)", title: title, description: "", metadata: [:])
        }
        return RecommendationEngine(recommender: IdentityScores(), catalog: Catalog(items: items))
    }()

    @Test func ranksTheWholeCatalogMinusExclusions() throws {
        let ranked = try engine.recommend(history: [1], k: 3, candidates: nil, excluded: [5, 1, 1, 99])
        #expect(ranked.map(\.itemId) == [4, 3, 2])
        #expect(ranked.map(\.score) == [4, 3, 2])
    }

    @Test func ranksOnlyGivenCandidatesWithoutRepeats() throws {
        let ranked = try engine.recommend(history: [], k: 10, candidates: [2, 5, 2, 1], excluded: [1])
        #expect(ranked.map(\.itemId) == [5, 2])
    }

    @Test func refusesUnknownCandidates() {
        #expect(throws: EngineError.unknownItems([9, 7])) {
            try engine.recommend(history: [], k: 3, candidates: [1, 9, 7, 9], excluded: [])
        }
    }

    @Test func searchPrefersExactThenPrefixThenWordOverlap() {
        let results = engine.search("toy story", limit: 10)
        #expect(results.map(\.item.id) == [1, 2, 5])
        #expect(results.map(\.score) == [3, 2, 0.5])
        #expect(engine.search("HEAT", limit: 1).map(\.item.id) == [3])
        #expect(engine.search("nothing here", limit: 5).isEmpty)
        #expect(engine.search("   ", limit: 5).isEmpty)
    }
}
