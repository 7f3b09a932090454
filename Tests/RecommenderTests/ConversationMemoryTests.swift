import Recommender
import Testing

@Suite struct ConversationMemoryTests {
    private let interpreter = MessageInterpreter(vocabulary: FacetVocabulary(catalog: MovieFixture.catalog))

    private func turn(_ text: String) -> ConversationMemory.Turn { .init(text: text, understood: interpreter.interpret(text)) }

    @Test func exclusionsOutliveTheKeptTurns() {
        var memory = ConversationMemory()
        memory.record(turn("no more horror"))
        for index in 0..<(ConversationMemory.keptTurns + 2) { memory.record(turn("something funny \(index)")) }
        #expect(memory.turns.count == ConversationMemory.keptTurns)
        #expect(memory.excludedFacets == ["horror"])
        #expect(memory.exclusions == ["horror"])
    }

    @Test func preferencesHalveWithEachOlderTurn() {
        var memory = ConversationMemory()
        memory.record(turn("something scary"))
        memory.record(turn("a space adventure"))
        memory.record(turn("something funny"))
        let weights = memory.weightedFacets
        #expect(weights["comedy"] == 1)
        #expect(weights["sci fi"] == 0.5)
        #expect(weights["horror"] == 0.25)
        #expect(memory.weightedPreferences.map(\.weight) == [1, 0.5, 0.25])
    }

    @Test func recentWordsAreTheLastTurnsEachCutToWhatAPromptReads() {
        var memory = ConversationMemory()
        #expect(memory.recentWords == nil)
        memory.record(turn("something scary"))
        memory.record(turn("  " + String(repeating: "very long ", count: 50_000)))
        memory.record(turn("a space adventure"))
        let words = memory.recentWords!
        #expect(words.hasPrefix("very long very long"))
        #expect(words.hasSuffix(". a space adventure"))
        #expect(words.count == ConversationMemory.readCharacters + ". a space adventure".count)
    }

    @Test func anExcludedFacetIsNeverWanted() {
        var memory = ConversationMemory()
        memory.record(turn("something scary"))
        memory.record(turn("actually no horror"))
        #expect(memory.weightedFacets["horror"] == nil)
    }

    @Test func answersGoToTheirOwnTurn() {
        var memory = ConversationMemory()
        let first = memory.record(turn("something funny"))
        let second = memory.record(turn("no horror"))
        #expect((first, second) == (0, 1))
        memory.recordAnswer("How about Babe?", turn: second)
        memory.recordAnswer("How about Clueless?", turn: first)
        #expect(memory.answeredTurns.map(\.answer) == ["How about Clueless?", "How about Babe?"])
        for index in 0..<ConversationMemory.keptTurns { memory.record(turn("more \(index)")) }
        memory.recordAnswer("too late", turn: first)
        #expect(memory.answeredTurns.isEmpty)
        #expect(memory.turnCount == 2 + ConversationMemory.keptTurns)
    }
}
