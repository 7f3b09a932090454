import Datasets
import Foundation
import Models
import Recommender
import Testing

/// The answer writer on the real SmolLM2-135M-Instruct (Q4_1 GGUF).
@Suite struct AnswerWriterTests {
    /// With `exactActivations`, single-token steps keep Float32 activations, so that a position's keys
    /// and values are the same (to summation order) whether it was decoded or prefilled; with 8-bit
    /// activations (the GGUF default) a decoded answer's cache differs from a prefilled one by the
    /// activations' rounding, enough to flip a near-tie between two tokens.
    static func writer(cacheSessions: Int = 8, exactActivations: Bool = false) throws -> AnswerWriter {
        let path = AssetCache.asset("smollm2-135m") + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        try #require(FileManager.default.fileExists(atPath: path), "run scripts/fetch-assets.sh smollm2")
        var languageModel = try LanguageModel.load(path)
        if exactActivations { languageModel.decoder.integerActivations = false }
        let models = try ConversationModels(
            engine: RecommendationEngine(recommender: IdentityScores(), catalog: MovieFixture.catalog), source: .init(), allmrec: nil,
            languageModel: languageModel, itemTextEmbeddings: nil, chatCacheSessions: cacheSessions)
        return AnswerWriter(models: models, languageModel: languageModel, itemNoun: "movie")
    }

    private let toyStory = MovieFixture.catalog[MovieFixture.id("Toy Story")]!
    private let babe = MovieFixture.catalog[MovieFixture.id("Babe")]!

    @Test func theOpeningNamesTheTopPickByItsFacets() throws {
        let writer = try Self.writer()
        #expect(writer.opening(items: [toyStory, babe]) == "How about Toy Story, an animation, children's and comedy movie? It's")
    }

    @Test func aSecondTurnRunsOnlyItsOwnTokensAndAnswersAsIfFromScratch() throws {
        let writer = try Self.writer(exactActivations: true)
        var pieces: [String] = []
        let first = try writer.answer(session: "s", userText: "something funny", items: [toyStory], maxTokens: 24) {
            pieces.append($0)
            return true
        }
        #expect(first.reusedTokens == 0)
        #expect(first.finished)
        #expect(pieces.joined().trimmingCharacters(in: .whitespacesAndNewlines) == first.text)
        #expect(first.text.hasPrefix(writer.opening(items: [toyStory])))

        let second = try writer.answer(session: "s", userText: "for a child, please", items: [babe], maxTokens: 24) { _ in true }
        let conversation = writer.systemTokens + writer.turnTokens(userText: "something funny", items: [toyStory]) + first.tokens
            + writer.closingTokens(after: first.tokens)
        // Cached: everything but the first answer's last token and the closing, which run with turn 2.
        #expect(second.reusedTokens == conversation.count - 1 - writer.closingTokens(after: first.tokens).count)
        #expect(second.promptTokens == writer.turnTokens(userText: "for a child, please", items: [babe]).count + 1 + writer.closingTokens(after: first.tokens).count)

        // The same conversation run in one go, without a cache, gives the same answer.
        var options = GenerationOptions()
        options.maxNewTokens = second.tokens.count
        options.repetitionPenalty = 1.2
        options.penalizePrompt = false
        options.minNewTokens = 3
        options.stopTokens = writer.languageModel.stopTokens
        let prompt = conversation + writer.turnTokens(userText: "for a child, please", items: [babe])
        let reference = try TextGenerator(decoder: writer.languageModel.decoder).generate(prompt: prompt, options: options)
        #expect(reference == second.tokens)
    }

    @Test func stoppingBetweenTokensEndsTheAnswerUnfinished() throws {
        let writer = try Self.writer()
        var calls = 0
        let answer = try writer.answer(session: "s", userText: "something funny", items: [toyStory], maxTokens: 40) { _ in
            calls += 1
            return calls < 3
        }
        #expect(!answer.finished)
        #expect(answer.generatedTokens == 2)
    }

    @Test func withoutACacheTheConversationIsRebuiltFromEarlierTurns() throws {
        let writer = try Self.writer(cacheSessions: 0)
        let first = try writer.answer(session: "s", userText: "something funny", items: [toyStory], maxTokens: 8) { _ in true }
        let second = try writer.answer(
            session: "s", userText: "for a child", items: [babe], maxTokens: 8, earlierTurns: [("something funny", first.text)]
        ) { _ in true }
        #expect(second.reusedTokens == 0)
        #expect(second.promptTokens == writer.systemTokens.count + writer.earlierTurnTokens(userText: "something funny", answer: first.text).count
            + writer.turnTokens(userText: "for a child", items: [babe]).count)
    }
}
