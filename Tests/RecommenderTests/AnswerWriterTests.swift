import Datasets
import Foundation
import JSON
import Models
import Numerics
import Recommender
import Support
import Testing

/// The answer writer on the real SmolLM2-135M-Instruct (Q4_1 GGUF): grounded sentences, the LM's
/// choice among them, the session's cache, and the grounding check over many answers.
@Suite struct AnswerWriterTests {
    /// With `exactActivations`, single-token steps keep Float32 activations, so that a position's keys
    /// and values are the same (to summation order) whether they came from the cache or a fresh run.
    static func writer(cacheSessions: Int = 8, exactActivations: Bool = false, catalog: Catalog = MovieFixture.catalog) throws -> AnswerWriter {
        let path = AssetCache.asset("smollm2-135m") + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        try #require(FileManager.default.fileExists(atPath: path), "run scripts/fetch-assets.sh smollm2")
        var languageModel = try LanguageModel.load(path)
        if exactActivations { languageModel.decoder.integerActivations = false }
        let models = try ConversationModels(
            engine: RecommendationEngine(recommender: IdentityScores(), catalog: catalog), source: .init(), allmrec: nil,
            languageModel: languageModel, itemTextEmbeddings: nil, chatCacheSessions: cacheSessions)
        return AnswerWriter(models: models, languageModel: languageModel, itemNoun: "movie")
    }

    private let toyStory = MovieFixture.catalog[MovieFixture.id("Toy Story")]!
    private let babe = MovieFixture.catalog[MovieFixture.id("Babe")]!

    @Test func theOpeningNamesTheTopPickAndEveryChoiceGivesTheStrongestReason() throws {
        let writer = try Self.writer()
        #expect(writer.opening(items: [toyStory, babe]) == "How about Toy Story?")
        #expect(writer.runnerUp(items: [toyStory, babe]) == "Or Babe, a children's, comedy and drama movie.")
        #expect(writer.runnerUp(items: [toyStory]) == nil)
        let asked = writer.choices(items: [toyStory], grounds: AnswerGrounds(resembles: babe, matchedFacets: ["Comedy", "Animation"]))
        #expect(asked.count == 4)
        #expect(asked.allSatisfy { $0.contains("comedy and animation") }, "\(asked)")
        #expect(asked.contains("It has the comedy and animation you asked for, and it is close to Babe."))
        let resembling = writer.choices(items: [toyStory], grounds: AnswerGrounds(resembles: babe))
        #expect(resembling.count == 3 && resembling.allSatisfy { $0.contains("Babe") }, "\(resembling)")
        #expect(writer.choices(items: [toyStory], grounds: AnswerGrounds()) == ["It's an animation, children's and comedy movie."])
        let sword = CatalogItem(
            id: 9, originalId: "m9", title: "Sword in the Stone, The", description: "Year: 1963. Genres: Animation, Children's.",
            metadata: ["release_year": "1963", "class": .array([.string("Animation"), .string("Children's")])])
        #expect(writer.opening(items: [sword]) == "How about The Sword in the Stone (1963)?")
        #expect(writer.choices(items: [sword], grounds: AnswerGrounds()) == ["It's an animation and children's movie.", "It came out in 1963."])
    }

    @Test func aSecondTurnReusesTheFirstAndChoosesAsIfFromScratch() throws {
        let writer = try Self.writer(exactActivations: true)
        var pieces: [String] = []
        let grounds = AnswerGrounds(resembles: babe, matchedFacets: ["Comedy"])
        let first = try writer.answer(session: "s", userText: "something funny", items: [toyStory, babe], grounds: grounds, maxTokens: 40) {
            pieces.append($0)
            return true
        }
        #expect(first.reusedTokens == 0 && first.finished)
        #expect(pieces.count == 3 && pieces[0] == writer.opening(items: [toyStory, babe]))
        #expect(pieces.joined() == first.text)
        let chosen = try #require(writer.choices(items: [toyStory, babe], grounds: grounds).first { first.text.contains($0) })
        #expect(first.text == "How about Toy Story? \(chosen) Or Babe, a children's, comedy and drama movie.")
        #expect(first.promptTokens == writer.systemTokens.count + writer.turnTokens(userText: "something funny", items: [toyStory, babe]).count)

        let earlier = [(userText: "something funny", answer: first.text)]
        let second = try writer.answer(session: "s", userText: "for a child, please", items: [babe], maxTokens: 40, earlierTurns: earlier) { _ in true }
        // The first turn's prompt is reused but for the tokens where the rebuilt turn reads differently (the opening's end).
        #expect(second.reusedTokens > first.promptTokens - 4 && second.reusedTokens <= first.promptTokens, "\(second.reusedTokens) \(first.promptTokens)")
        let fresh = try Self.writer(cacheSessions: 0, exactActivations: true)
        let reference = try fresh.answer(session: "s", userText: "for a child, please", items: [babe], maxTokens: 40, earlierTurns: earlier) { _ in true }
        #expect(reference.reusedTokens == 0)
        #expect(reference.text == second.text)
    }

    @Test func stoppingAtTheOpeningEndsTheAnswerUnfinished() throws {
        let writer = try Self.writer()
        let answer = try writer.answer(session: "s", userText: "something funny", items: [toyStory, babe], maxTokens: 40) { _ in false }
        #expect(!answer.finished)
        #expect(answer.text == "How about Toy Story?" && answer.generatedTokens == 0)
        // A limit shorter than every choice leaves the opening and the runner-up.
        let short = try writer.answer(session: "t", userText: "something funny", items: [toyStory, babe], maxTokens: 2) { _ in true }
        #expect(short.text == "How about Toy Story? Or Babe, a children's, comedy and drama movie." && short.finished)
    }

    @Test func withoutACacheTheConversationIsRebuiltFromEarlierTurns() throws {
        let writer = try Self.writer(cacheSessions: 0)
        let first = try writer.answer(session: "s", userText: "something funny", items: [toyStory], maxTokens: 20) { _ in true }
        let second = try writer.answer(
            session: "s", userText: "for a child", items: [babe], maxTokens: 20, earlierTurns: [("something funny", first.text)]
        ) { _ in true }
        #expect(second.reusedTokens == 0)
        #expect(second.promptTokens == writer.systemTokens.count + writer.earlierTurnTokens(userText: "something funny", answer: first.text).count
            + writer.turnTokens(userText: "for a child", items: [babe]).count)
    }

    @Test func theCheckFlagsWhatNoFactSays() {
        let facts = ["Toy Story", "Year: 1995. Genres: Animation, Children's, Comedy.", "something funny"]
        #expect(Grounding.unsupportedWords(in: "How about Toy Story (1995)? It's an animation movie.", facts: facts + ["movie"]).isEmpty)
        #expect(Grounding.unsupportedWords(in: "How about Toy Story? It's a favorite among my team.", facts: facts) == ["favorite", "among", "my", "team"])
        #expect(Grounding.unsupportedWords(in: "Directed by John Lasseter in 1995.", facts: facts) == ["directed", "by", "john", "lasseter"])
    }

    /// 200 turns on the real MovieLens-100K catalog with random histories, picks, words and
    /// reasons: not one word outside the catalog, the session and the connectives, and the LM's
    /// choice varies with the turn.
    @Test func twoHundredAnswersSayNothingBeyondTheirFacts() throws {
        let inter = AssetCache.movieLens100KInteractions
        try #require(FileManager.default.fileExists(atPath: inter), "run scripts/fetch-assets.sh ml100k")
        let directory = NSTemporaryDirectory() + "llmrec-grounding-\(UUID().uuidString)"
        _ = try DatasetPreparer.run(PrepareOptions(
            format: .recbole, reviewsPath: inter, metaPath: AssetCache.movieLens100KItems, outputDirectory: directory, showProgress: false))
        let catalog = try PreparedDataset(directory: directory).catalog
        let writer = try Self.writer(catalog: catalog)
        let messages = [
            "something that makes me laugh", "a film for my grandmother", "no more sci-fi please", "like the last one, only darker",
            "I want something like Star Wars but funnier", "a love story", "something scary", "surprise me", "an older film", "hello",
        ]
        var generator = SplitMix64(seed: 21)
        var chosenShapes = Set<String>()
        for turn in 0..<200 {
            func item() -> CatalogItem { catalog.items[Int(generator.next() % UInt64(catalog.items.count))] }
            let history = (0..<5).map { _ in item() }
            let picks = (0..<3).map { _ in item() }
            let message = messages[Int(generator.next() % UInt64(messages.count))]
            let facets = picks[0].metadata["class"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let matched = generator.next() % 2 == 0 ? Array(facets.prefix(1)) : []
            let resembles = generator.next() % 2 == 0 ? history[Int(generator.next() % 5)] : nil
            let answer = try writer.answer(
                session: "s\(turn % 8)", userText: message, items: picks, grounds: AnswerGrounds(resembles: resembles, matchedFacets: matched),
                maxTokens: 80
            ) { _ in true }
            let facts = (picks + history).flatMap { [$0.title, $0.description] } + [message, "movie"]
            #expect(Grounding.unsupportedWords(in: answer.text, facts: facts).isEmpty, "\(answer.text)")
            let choices = writer.choices(items: picks, grounds: AnswerGrounds(resembles: resembles, matchedFacets: matched))
            if let index = choices.firstIndex(where: { answer.text.contains($0) }) { chosenShapes.insert("\(choices.count):\(index)") }
        }
        #expect(chosenShapes.count >= 3, "the LM chooses among the sentences: \(chosenShapes)")
    }
}
