import Datasets
import Foundation
import Models
import Recommender
import Support
import Testing

@Suite struct ConversationRankerTests {
    private func ranker(encoder: SentenceEncoder? = nil) throws -> ConversationRanker {
        let catalog = MovieFixture.catalog
        var semantic: SemanticSearch?
        var embeddings: [Float]?
        if let encoder {
            let texts = catalog.items.map { CatalogEmbeddings.text(of: $0, field: .text) }
            embeddings = [Float](repeating: 0, count: encoder.dimension) + encoder.embed(texts).flatMap { $0 }
            semantic = SemanticSearch(encoder: encoder, catalog: catalog, embeddings: embeddings!)
        }
        let models = try ConversationModels(
            engine: RecommendationEngine(recommender: IdentityScores(), catalog: catalog, semanticSearch: semantic),
            source: .init(), allmrec: nil, languageModel: nil, itemTextEmbeddings: embeddings)
        return ConversationRanker(models: models, catalog: LiveCatalog(base: catalog))
    }

    private func memory(_ messages: String...) -> ConversationMemory {
        let interpreter = MessageInterpreter(vocabulary: FacetVocabulary(catalog: MovieFixture.catalog))
        var memory = ConversationMemory()
        for message in messages { memory.record(.init(text: message, understood: interpreter.interpret(message))) }
        return memory
    }

    private func request(_ memory: ConversationMemory, history: [Int32] = [], excluded: [Int32] = [], k: Int = 8) -> BlendRequest {
        BlendRequest(history: history, memory: memory, excluded: excluded, candidates: nil, k: k, weights: BlendWeights())
    }

    @Test func withoutWordsTheCollaborativeOrderStands() throws {
        let outcome = try #require(try ranker().rank(request(ConversationMemory(), excluded: [8])))
        #expect(outcome.items.map(\.itemId) == [7, 6, 5, 4, 3, 2, 1])
        #expect(outcome.items.allSatisfy { $0.text == nil && $0.languageModel == nil && $0.collaborative != nil })
        #expect(outcome.languageModelRanked == 0)
    }

    @Test func excludedFacetsAndTitlesNeverComeBack() throws {
        let outcome = try #require(try ranker().rank(request(memory("no more horror", "nothing with star wars"))))
        let titles = outcome.items.compactMap { MovieFixture.catalog[$0.itemId]?.title }
        #expect(!titles.contains("Scream") && !titles.contains("The Shining") && !titles.contains("Star Wars"))
        #expect(outcome.excludedByStatement == 3)
        #expect(titles.count == MovieFixture.movies.count - 3)
    }

    @Test func aStatedFacetMovesMatchingItemsUp() throws {
        let plain = try #require(try ranker().rank(request(ConversationMemory())))
        let funny = try #require(try ranker().rank(request(memory("something funny"))))
        let comedies: Set<Int32> = [MovieFixture.id("Toy Story"), MovieFixture.id("Clueless"), MovieFixture.id("Babe")]
        func meanRank(_ outcome: BlendOutcome) -> Double {
            Double(outcome.items.enumerated().filter { comedies.contains($0.element.itemId) }.map(\.offset).reduce(0, +)) / 3
        }
        #expect(meanRank(funny) < meanRank(plain))
        // Every comedy gains one facet's weight (0.75) on its collaborative z-score (identity
        // scores: steps of 0.44), so each passes one item, and Babe the one above it.
        func rank(_ outcome: BlendOutcome, _ title: String) -> Int { outcome.items.firstIndex { $0.itemId == MovieFixture.id(title) }! }
        for title in ["Clueless", "Toy Story", "Babe"] { #expect(rank(funny, title) == rank(plain, title) - 1, "\(title)") }
        #expect(funny.items.first { $0.itemId == MovieFixture.id("Toy Story") }?.matchedFacets == ["Comedy"])
    }

    @Test func rejectedAndSeenItemsAreExcluded() throws {
        let outcome = try #require(try ranker().rank(request(memory("something funny"), history: [7], excluded: [7, 3])))
        #expect(!outcome.items.contains { $0.itemId == 7 || $0.itemId == 3 })
    }

    @Test func theTextPathFindsAnAddedItemByWhatItIs() throws {
        let directory = AssetCache.asset("minilm-l6-v2")
        try #require(FileManager.default.fileExists(atPath: directory + "/model.safetensors"), "run scripts/fetch-assets.sh minilm")
        let ranker = try self.ranker(encoder: try SentenceEncoder(directory: directory))
        let added = try ranker.catalog.add([
            NewItem(title: "Robo Pup", description: "An animated adventure about a small robot dog who saves his town.")
        ])
        ranker.models.prepare(added: added)
        let outcome = try #require(ranker.rank(request(memory("a cartoon about a robot dog"), k: 3)))
        let first = try #require(outcome.items.first)
        #expect(first.itemId == added[0].id)
        // Imputed from its ten nearest prepared items by text: here the whole eight-item catalog,
        // whose collaborative z-scores average zero.
        #expect(abs(try #require(first.collaborative)) < 1e-5)
        #expect(first.matchedFacets == ["Animation", "Sci-Fi"])
        #expect((first.text ?? 0) > 1.5)
        // Items the collaborative model knows keep both signals.
        #expect(outcome.items.dropFirst().allSatisfy { $0.collaborative != nil && $0.text != nil })
    }
}
